// Reading events back for auditors: filters combine with AND; every value is bound,
// never spliced into SQL. Paths are compared as bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/db/sqlite.h"
#include "common/event.h"

namespace vigil {

struct EventFilter {
    std::optional<std::string> path;   // exactly this path (or old_path of a rename)
    std::optional<std::string> under;  // this directory and below, on whole components
    std::optional<std::int64_t> uid;   // matches uid, euid or auid
    std::optional<std::string> user;   // matches user or login_user names
    std::vector<std::string> actions;  // any of these
    std::optional<std::string> label;
    bool unexpected_only = false;
    std::optional<std::int64_t> since_ns;  // inclusive
    std::optional<std::int64_t> until_ns;  // inclusive
    std::optional<std::int64_t> limit;
    bool oldest_first = false;
};

struct StoredEvent {
    std::int64_t id = 0;
    Event event;
    std::string action;  // as stored (a newer agent may write actions this build lacks)
    std::string source;
    std::optional<std::int64_t> gid;
};

Result<std::vector<StoredEvent>> query_events(db::Database& db, const EventFilter& filter);

// The timeline of one file, oldest first: its baseline entry (action "baseline", source
// "baseline"), then every event under its current name and, following renames backwards,
// under each earlier name up to the rename that left it.
Result<std::vector<StoredEvent>> history_events(db::Database& db, const std::string& path);

// SQLite's plan for the filter's query (the `detail` column of EXPLAIN QUERY PLAN).
Result<std::vector<std::string>> explain_event_query(db::Database& db, const EventFilter& filter);

}  // namespace vigil
