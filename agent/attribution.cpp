#include "agent/attribution.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include "common/sys.h"

namespace vigil::agent {
namespace {

constexpr std::int64_t kCacheNs = 1'000'000'000;  // exe/cmdline/uids reused for 1 s per process
constexpr std::size_t kMaxCached = 1024;          // processes (and pidfds held) in the cache

std::optional<std::string> read_small(int dirfd, const char* name, std::size_t max = 8192) {
    const int fd = retry_eintr([&] { return ::openat(dirfd, name, O_RDONLY | O_CLOEXEC); });
    if (fd < 0) return std::nullopt;
    const UniqueFd owner(fd);
    std::string out(max, '\0');
    std::size_t got = 0;
    while (got < max) {
        const ssize_t n = retry_eintr([&] { return ::read(fd, out.data() + got, max - got); });
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
}

// Field 22 of /proc/PID/stat (start time in clock ticks after boot), and field 4 (ppid).
// The comm field may contain spaces and ')' so parse from the last ')'.
bool parse_stat(const std::string& stat, std::uint64_t& start_ticks, std::int64_t& ppid) {
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return false;
    const char* p = stat.c_str() + close + 1;
    int field = 2;  // we are after field 2 (comm)
    char* end = nullptr;
    while (*p != '\0') {
        while (*p == ' ') ++p;
        ++field;
        if (field == 4) ppid = std::strtoll(p, &end, 10);
        if (field == 22) {
            start_ticks = std::strtoull(p, &end, 10);
            return true;
        }
        while (*p != '\0' && *p != ' ') ++p;
    }
    return false;
}

std::optional<std::int64_t> status_field(const std::string& status, const char* key, int index) {
    const auto pos = status.find(key);
    if (pos == std::string::npos) return std::nullopt;
    const char* p = status.c_str() + pos + std::char_traits<char>::length(key);
    char* end = nullptr;
    long long v = 0;
    for (int i = 0; i <= index; ++i) {
        v = std::strtoll(p, &end, 10);
        if (end == p) return std::nullopt;
        p = end;
    }
    return v;
}

}  // namespace

std::int64_t boottime_now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::optional<std::string> Attributor::cached_name(std::int64_t uid) {
    auto it = names_.find(uid);
    if (it != names_.end()) return it->second;
    auto name = user_name(uid);
    if (names_.size() > 4096) names_.clear();
    names_.emplace(uid, name);
    return name;
}

const Actor* Attributor::known_alive(pid_t pid, std::int64_t event_boot_ns) {
    const auto it = cache_.find(pid);
    if (it == cache_.end() || !it->second.pidfd) return nullptr;
    Cached& c = it->second;
    if (event_boot_ns - c.fetched_boot_ns >= kCacheNs) return nullptr;  // refetch: uids change
    if (c.alive_checked_ns < event_boot_ns) {
        // Read the clock first: the process is then known unreaped at a time >= the mark.
        const std::int64_t now = boottime_now_ns();
        if (::syscall(SYS_pidfd_send_signal, c.pidfd.get(), 0, nullptr, 0) < 0) {
            // Reaped: its pid may name another process already, which must not inherit
            // this entry (not even by an equal start time, a clock tick being coarse).
            cache_.erase(it);
            return nullptr;
        }
        c.alive_checked_ns = now;
    }
    return &c.actor;
}

Actor Attributor::resolve(pid_t pid, int pidfd, std::int64_t event_boot_ns) {
    Actor none;
    if (pid <= 0) {
        ++unresolved_;
        return none;
    }
    if (pidfd >= 0) {
        if (const Actor* known = known_alive(pid, event_boot_ns)) {
            ++resolved_;
            return *known;
        }
    }
    const std::string dir = "/proc/" + std::to_string(pid);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        ++unresolved_;
        return none;  // already gone (and reaped)
    }
    const UniqueFd proc_dir(dfd);
    auto stat = read_small(dfd, "stat");
    std::uint64_t start_ticks = 0;
    std::int64_t ppid = 0;
    if (!stat || !parse_stat(*stat, start_ticks, ppid)) {
        ++unresolved_;
        return none;
    }
    static const long ticks_per_sec = ::sysconf(_SC_CLK_TCK);
    const auto start_ns = static_cast<std::int64_t>(start_ticks) * (1'000'000'000 / ticks_per_sec);
    if (pidfd < 0 && start_ns > event_boot_ns) {
        ++unresolved_;
        return none;  // this pid now belongs to a process born after the event
    }

    Actor a;
    auto cached = cache_.find(pid);
    if (cached != cache_.end() && cached->second.start_ticks == start_ticks &&
        event_boot_ns - cached->second.fetched_boot_ns < kCacheNs) {
        a = cached->second.actor;
    } else {
        a.pid = pid;
        a.ppid = ppid;
        if (auto status = read_small(dfd, "status", 16384)) {
            a.uid = status_field(*status, "\nUid:", 0);
            a.euid = status_field(*status, "\nUid:", 1);
            a.gid = status_field(*status, "\nGid:", 0);
        }
        a.auid = read_login_uid(pid);
        std::string exe(4096, '\0');
        const ssize_t n = ::readlinkat(dfd, "exe", exe.data(), exe.size());
        if (n > 0) {
            exe.resize(static_cast<std::size_t>(n));
            a.exe = exe;
        }
        if (auto comm = read_small(dfd, "comm", 64)) {
            if (!comm->empty() && comm->back() == '\n') comm->pop_back();
            a.comm = *comm;
        }
        if (auto cmd = read_small(dfd, "cmdline", 4096)) {
            while (!cmd->empty() && cmd->back() == '\0') cmd->pop_back();
            for (char& c : *cmd)
                if (c == '\0') c = ' ';
            if (!cmd->empty()) a.cmdline = *cmd;
        }
        if (a.uid) a.user = cached_name(*a.uid);
        if (a.auid) a.login_user = cached_name(*a.auid);
        if (cache_.size() >= kMaxCached) cache_.clear();  // closes the pidfds held
        cache_[pid] = Cached{UniqueFd(), start_ticks, event_boot_ns, 0, a};
    }
    if (pidfd >= 0) {
        // If the process was reaped meanwhile, the pid may have been recycled between the
        // event and our reads, so nothing we read can be trusted.
        const std::int64_t checked_ns = boottime_now_ns();
        if (::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) < 0 && errno == ESRCH) {
            cache_.erase(pid);
            ++unresolved_;
            return none;
        }
        // What was read is now known to be this pidfd's process: from here on the cache
        // recognises it by this pidfd.
        Cached& c = cache_[pid];
        c.pidfd = UniqueFd(::fcntl(pidfd, F_DUPFD_CLOEXEC, 3));
        c.alive_checked_ns = checked_ns;
    }
    if (!a.uid) {
        ++unresolved_;
        return none;
    }
    ++resolved_;
    return a;
}

}  // namespace vigil::agent
