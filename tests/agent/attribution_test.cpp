// Attribution as a unit, against real processes: who is behind a pid, the cache that
// spares /proc for a busy process, and the pid-reuse guard that cache must not weaken —
// a recycled pid is made on purpose by writing /proc/sys/kernel/ns_last_pid (root).
#include "agent/attribution.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "common/unique_fd.h"
#include "tests/support/process.h"

namespace {

using vigil::UniqueFd;
using vigil::agent::Attributor;
using vigil::agent::boottime_now_ns;

// A child that names itself `comm`, says so on a pipe, and waits until killed; told to
// (rename()), it names itself "renamed".
struct NamedChild {
    pid_t pid = -1;
    UniqueFd pidfd;
    UniqueFd to_child;
    UniqueFd from_child;

    NamedChild(const char* comm, std::optional<pid_t> want_pid = std::nullopt) {
        int ready[2];
        int orders[2];
        REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(orders, O_CLOEXEC) == 0);
        if (want_pid) {
            // The next pid handed out is ns_last_pid + 1 (if free): the recycled pid.
            const UniqueFd last(::open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC));
            REQUIRE(last);
            const std::string v = std::to_string(*want_pid - 1);
            REQUIRE(::write(last.get(), v.data(), v.size()) == static_cast<ssize_t>(v.size()));
        }
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::prctl(PR_SET_NAME, comm);
            char c = 'r';
            if (::write(ready[1], &c, 1) != 1) ::_exit(1);
            while (::read(orders[0], &c, 1) == 1) {
                ::prctl(PR_SET_NAME, "renamed");
                if (::write(ready[1], &c, 1) != 1) ::_exit(1);
            }
            for (;;) ::pause();
        }
        ::close(ready[1]);
        ::close(orders[0]);
        from_child = UniqueFd(ready[0]);
        to_child = UniqueFd(orders[1]);
        char c = 0;
        REQUIRE(::read(from_child.get(), &c, 1) == 1);
        pidfd = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        REQUIRE(pidfd);
    }
    void rename() {
        char c = 'n';
        REQUIRE(::write(to_child.get(), &c, 1) == 1);
        REQUIRE(::read(from_child.get(), &c, 1) == 1);
    }
    void reap() {
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        pid = -1;
    }
    ~NamedChild() { reap(); }
    NamedChild(const NamedChild&) = delete;
    NamedChild& operator=(const NamedChild&) = delete;
};

}  // namespace

TEST_CASE("attribution names a live process from /proc, and a busy one from its cache", "[unit][root]") {
    REQUIRE(vigil::test::running_as_root());
    Attributor attributor;
    NamedChild child("vigil-named");
    const auto first = attributor.resolve(child.pid, child.pidfd.get(), boottime_now_ns());
    REQUIRE(first.comm);
    CHECK(*first.comm == "vigil-named");
    CHECK(first.pid == child.pid);
    CHECK(first.uid == 0);
    CHECK(first.user == "root");
    // Its next events: the same actor, without reading /proc again (the child renames
    // itself; the cache, fresh for a second, does not see it).
    child.rename();
    const auto again = attributor.resolve(child.pid, child.pidfd.get(), boottime_now_ns());
    REQUIRE(again.comm);
    CHECK(*again.comm == "vigil-named");
    CHECK(attributor.resolved() == 2);
}

TEST_CASE("attribution never hands a recycled pid the actor cached for its previous owner", "[unit][root]") {
    REQUIRE(vigil::test::running_as_root());
    Attributor attributor;
    std::optional<pid_t> recycled;
    for (int attempt = 0; attempt < 20 && !recycled; ++attempt) {
        NamedChild first("vigil-first");
        const pid_t pid = first.pid;
        const auto a = attributor.resolve(pid, first.pidfd.get(), boottime_now_ns());
        REQUIRE(a.comm);
        REQUIRE(*a.comm == "vigil-first");
        first.reap();  // gone: its pid is free for the next process
        NamedChild second("vigil-second", pid);
        if (second.pid != pid) continue;  // another process took it first: try again
        recycled = pid;
        // An event of the new owner, read with its pidfd, within the cache's second.
        const auto b = attributor.resolve(pid, second.pidfd.get(), boottime_now_ns());
        REQUIRE(b.comm);
        CHECK(*b.comm == "vigil-second");
    }
    REQUIRE(recycled);  // the machine let us recycle a pid at least once
}

TEST_CASE("attribution stores nothing for an event whose process is already gone", "[unit][root]") {
    REQUIRE(vigil::test::running_as_root());
    Attributor attributor;
    NamedChild child("vigil-gone");
    UniqueFd pidfd(::fcntl(child.pidfd.get(), F_DUPFD_CLOEXEC, 3));
    const pid_t pid = child.pid;
    const auto before = boottime_now_ns();
    child.reap();
    const auto actor = attributor.resolve(pid, pidfd.get(), before);
    CHECK_FALSE(actor.uid);
    CHECK_FALSE(actor.comm);
    CHECK(attributor.unresolved() == 1);
}
