// Event: who did what to which file, when. One row of the `events` table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/actor.h"

namespace vigil {

enum class Action : std::uint8_t {
    Open,
    Read,
    Modify,
    Create,
    Delete,
    Rename,
    Attrib,
    Denied,
    Alert,
    Overflow,
    Rescan,
    BaselineUpdate,
    AgentStart,
    AgentStop,
    Checkpoint,  // the first row of each sealing epoch (docs/tamper-evidence.md)
    Prune,       // old epochs removed by retention (`vigil prune`, the agent's daily prune)
};
enum class Source : std::uint8_t { Fanotify, Inotify, Audit, Scan, Cli };

std::string_view action_name(Action a);
std::optional<Action> action_from_name(std::string_view name);
std::string_view source_name(Source s);

struct Event {
    std::int64_t time_ns = 0;  // CLOCK_REALTIME
    Action action = Action::Modify;
    Source source = Source::Scan;
    std::optional<std::string> path;      // raw bytes
    std::optional<std::string> old_path;  // rename: the previous name
    Actor actor;
    std::optional<std::string> label;
    std::optional<std::string> severity;
    std::optional<std::string> sha256_before;  // 32 raw bytes
    std::optional<std::string> sha256_after;
    bool unexpected = false;
    std::optional<std::string> detail;  // JSON object text: counts, reasons
};

std::int64_t realtime_now_ns();

// About how much memory an event holds (the struct and its strings' heap buffers): what
// the agent's queue bound counts.
std::size_t approx_bytes(const Event& e);

}  // namespace vigil
