// Attribution: who is behind a kernel event's pid. Reads /proc/PID (status, stat,
// loginuid, exe, comm, cmdline) and guards against pid reuse: with a pidfd from the
// event, the data counts only if the pidfd still names a process that was not reaped
// (so the pid cannot have been recycled); without one, only if the process started
// before the event. What cannot be resolved stays null and is counted, never guessed.
//
// A process seen again is not read again (for a second): the cache keeps a pidfd of each
// process it holds. An event that came with a pidfd names a process not yet reaped when
// the event was read; a cached process with the same pid still not reaped after that
// read is then the same process, since two live processes never share a pid. One check
// (pidfd_send_signal, signal 0) per cached process per read of the kernel's queue, not
// one per event: the events of a busy process cost a lookup.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/actor.h"
#include "common/unique_fd.h"

namespace vigil::agent {

class Attributor {
public:
    // `pidfd` < 0 when the kernel gave none. `event_boot_ns` is CLOCK_BOOTTIME at receipt.
    Actor resolve(pid_t pid, int pidfd, std::int64_t event_boot_ns);

    std::uint64_t resolved() const { return resolved_.load(); }
    std::uint64_t unresolved() const { return unresolved_.load(); }

private:
    struct Cached {
        UniqueFd pidfd;  // of the cached process, when an event gave one
        std::uint64_t start_ticks = 0;
        std::int64_t fetched_boot_ns = 0;
        std::int64_t alive_checked_ns = 0;  // CLOCK_BOOTTIME before the last check that it was not reaped
        Actor actor;
    };
    std::optional<std::string> cached_name(std::int64_t uid);
    // The cached actor of `pid` if the cache holds a pidfd of it, the entry is fresh, and
    // the process was not reaped at some time >= event_boot_ns (checked now if need be).
    const Actor* known_alive(pid_t pid, std::int64_t event_boot_ns);

    std::unordered_map<pid_t, Cached> cache_;
    std::unordered_map<std::int64_t, std::optional<std::string>> names_;
    std::atomic<std::uint64_t> resolved_{0};
    std::atomic<std::uint64_t> unresolved_{0};
};

std::int64_t boottime_now_ns();

}  // namespace vigil::agent
