// Events as read back from the store: StoredEvent owns its bytes (report findings keep
// them); EventView only points at them (into SQLite's row buffer while a query streams,
// or into a StoredEvent), so writing a million rows out copies none of them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/event.h"

namespace vigil {

struct StoredEvent {
    std::int64_t id = 0;
    Event event;
    std::string action;  // as stored (a newer agent may write actions this build lacks)
    std::string source;
    std::optional<std::int64_t> gid;
};

// One row of `events`, column for column; NULL is nullopt.
struct EventView {
    std::int64_t id = 0;
    std::int64_t time_ns = 0;
    std::string_view action;
    std::string_view source;
    std::optional<std::string_view> path;
    std::optional<std::string_view> old_path;
    std::optional<std::int64_t> uid;
    std::optional<std::int64_t> euid;
    std::optional<std::int64_t> gid;
    std::optional<std::int64_t> auid;
    std::optional<std::string_view> user;
    std::optional<std::string_view> login_user;
    std::optional<std::int64_t> pid;
    std::optional<std::int64_t> ppid;
    std::optional<std::string_view> exe;
    std::optional<std::string_view> comm;
    std::optional<std::string_view> cmdline;
    std::optional<std::string_view> label;
    std::optional<std::string_view> severity;
    std::optional<std::string_view> sha256_before;
    std::optional<std::string_view> sha256_after;
    bool unexpected = false;
    std::optional<std::string_view> detail;
};

EventView view_of(const StoredEvent& s);  // valid as long as `s` is
StoredEvent stored_from(const EventView& v);

}  // namespace vigil
