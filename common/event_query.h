// Reading events back for auditors: filters combine with AND; every value is bound,
// never spliced into SQL. Paths are compared as bytes.
//
// Rows stream from the statement to a sink in the filter's order, so the first rows are
// out before the last are read and `--limit` stops the search itself. Each OR of the
// filter (path or old_path; uid, euid, auid or names; several actions) becomes one branch
// per index, made disjoint, merged by time (UNION ALL): no branch needs a sort, except a
// subtree (--under), whose row ids are sorted before its rows are read.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/db/sqlite.h"
#include "common/event.h"
#include "common/event_view.h"

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

// Receives each row; the view is valid only during the call. Returning false stops the
// query (the reader went away).
using EventSink = std::function<bool(const EventView&)>;

Result<void> for_each_event(db::Database& db, const EventFilter& filter, const EventSink& sink);
Result<std::vector<StoredEvent>> query_events(db::Database& db, const EventFilter& filter);

// The columns every event reader selects, in the order event_row() reads them.
extern const char* const kEventColumns;
EventView event_row(const db::Stmt& st);

// SQLite's plan for the filter's query (the `detail` column of EXPLAIN QUERY PLAN).
Result<std::vector<std::string>> explain_event_query(db::Database& db, const EventFilter& filter);

}  // namespace vigil
