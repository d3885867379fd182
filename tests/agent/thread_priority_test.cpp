// The writer's and the hasher's priority follows their backlog (agent/thread_priority.h):
// nice 19 while it is small, back to the background level once it passes half the bound.
#include "agent/thread_priority.h"

#include <catch2/catch.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "tests/support/process.h"

namespace {

int my_nice() {
    errno = 0;
    return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
}

}  // namespace

TEST_CASE("a background thread yields while its backlog is small and competes once it is large", "[unit][root]") {
    REQUIRE(vigil::test::running_as_root());
    using vigil::agent::kBackgroundNice;
    std::thread t([] {
        const int base = my_nice();
        vigil::agent::BacklogPriority priority("test");
        CHECK(my_nice() == base + kBackgroundNice);
        priority.follow(0.1);
        CHECK(my_nice() == 19);
        CHECK(priority.yielding());
        priority.follow(0.4);  // between the two marks: no change either way
        CHECK(my_nice() == 19);
        priority.follow(0.6);
        CHECK(my_nice() == base + kBackgroundNice);
        CHECK_FALSE(priority.yielding());
        priority.follow(0.3);
        CHECK(my_nice() == base + kBackgroundNice);
        priority.follow(0.2);
        CHECK(my_nice() == 19);
    });
    t.join();
}

TEST_CASE("without the right to raise a priority again, a background thread never yields", "[unit][root]") {
    REQUIRE(vigil::test::running_as_root());
    using vigil::agent::kBackgroundNice;
    const auto user = vigil::test::ensure_user("vigilnice");
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // An ordinary user with RLIMIT_NICE 0 can lower a priority but not raise it.
        const rlimit none{0, 0};
        if (::setrlimit(RLIMIT_NICE, &none) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0) ::_exit(10);
        const int base = my_nice();
        vigil::agent::BacklogPriority priority("test");
        const int after_start = my_nice();
        priority.follow(0.0);
        const int after_follow = my_nice();
        // One step below the background level (the probe's step down could not be undone),
        // and never at 19: stuck there, a full queue could not make it compete again.
        if (after_start != base + kBackgroundNice + 1) ::_exit(11);
        if (after_follow != after_start || priority.yielding()) ::_exit(12);
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
