#include "common/event.h"

#include <array>
#include <ctime>

namespace vigil {
namespace {

constexpr std::array<std::string_view, 16> kActionNames = {
    "open",  "read",     "modify", "create",          "delete",      "rename",     "attrib",     "denied",
    "alert", "overflow", "rescan", "baseline_update", "agent_start", "agent_stop", "checkpoint", "prune"};

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

std::size_t approx_bytes(const Event& e) {
    auto heap = [](const std::optional<std::string>& s) -> std::size_t {
        return s && s->capacity() > 15 ? s->capacity() + 1 : 0;  // beyond the small-string buffer
    };
    return sizeof(Event) + heap(e.path) + heap(e.old_path) + heap(e.label) + heap(e.severity) + heap(e.sha256_before) +
           heap(e.sha256_after) + heap(e.detail) + heap(e.actor.user) + heap(e.actor.login_user) + heap(e.actor.exe) +
           heap(e.actor.comm) + heap(e.actor.cmdline);
}

std::int64_t realtime_now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace vigil
