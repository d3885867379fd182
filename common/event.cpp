#include "common/event.h"

#include <array>
#include <ctime>

namespace vigil {
namespace {

constexpr std::array<std::string_view, 15> kActionNames = {
    "open",  "read",     "modify", "create",          "delete",      "rename",     "attrib",    "denied",
    "alert", "overflow", "rescan", "baseline_update", "agent_start", "agent_stop", "checkpoint"};

}  // namespace

std::string_view action_name(Action a) { return kActionNames.at(static_cast<std::size_t>(a)); }

std::optional<Action> action_from_name(std::string_view name) {
    for (std::size_t i = 0; i < kActionNames.size(); ++i)
        if (kActionNames[i] == name) return static_cast<Action>(i);
    return std::nullopt;
}

std::string_view source_name(Source s) {
    switch (s) {
        case Source::Fanotify: return "fanotify";
        case Source::Inotify: return "inotify";
        case Source::Audit: return "audit";
        case Source::Scan: return "scan";
        case Source::Cli: return "cli";
    }
    return "?";
}

std::int64_t realtime_now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace vigil
