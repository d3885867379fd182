// Attribution: who is behind a kernel event's pid. Reads /proc/PID (status, stat,
// loginuid, exe, comm, cmdline) and guards against pid reuse: with a pidfd from the
// event, the data counts only if the pidfd still names a process that was not reaped
// (so the pid cannot have been recycled); without one, only if the process started
// before the event. What cannot be resolved stays null and is counted, never guessed.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/actor.h"

namespace vigil::agent {

class Attributor {
public:
    Attributor();

    // `pidfd` < 0 when the kernel gave none. `event_boot_ns` is CLOCK_BOOTTIME at receipt.
    Actor resolve(pid_t pid, int pidfd, std::int64_t event_boot_ns);

    std::uint64_t resolved() const { return resolved_.load(); }
    std::uint64_t unresolved() const { return unresolved_.load(); }

private:
    struct Cached {
        std::uint64_t pidfd_ino = 0;  // pidfs identity of the process (0: not known)
        std::uint64_t start_ticks = 0;
        std::int64_t fetched_boot_ns = 0;
        Actor actor;
    };
    std::optional<std::string> cached_name(std::int64_t uid);

    std::unordered_map<pid_t, Cached> cache_;
    // On pidfs (Linux >= 6.9) every process's pidfd has its own inode number, unique for
    // the boot: a cache entry whose inode matches the event's pidfd is the same process,
    // so /proc need not be read again. False on older kernels (one shared anon inode).
    bool pidfd_identity_ = false;
    std::unordered_map<std::int64_t, std::optional<std::string>> names_;
    std::atomic<std::uint64_t> resolved_{0};
    std::atomic<std::uint64_t> unresolved_{0};
};

std::int64_t boottime_now_ns();

}  // namespace vigil::agent
