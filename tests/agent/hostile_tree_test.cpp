// Hostile trees under the agent: a written file swapped for a symlink to /etc/shadow
// between its event and its hash must never be hashed through the link. The agent is
// stopped (SIGSTOP) while the swap happens, so the event is read only after it.
#include <catch2/catch.hpp>
#include <signal.h>
#include <unistd.h>

#include "common/sha256.h"
#include "tests/agent/agent_fixture.h"
#include "tests/support/temp_dir.h"

using vigil::test::Agent;

TEST_CASE("a file swapped for a symlink to /etc/shadow before its hash is never hashed through it",
          "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    const auto shadow = vigil::sha256_bytes(vigil::test::read_file("/etc/shadow"));
    REQUIRE(shadow);
    const std::string shadow_digest(vigil::digest_bytes(shadow.value()));
    for (const char* watcher : {"fanotify", "inotify"}) {
        INFO(watcher);
        Agent agent(watcher);
        const std::string f = agent.root + "/report.txt";
        const std::string link = agent.root + "/.swap";
        agent.proc->signal(SIGSTOP);
        vigil::test::write_file(f, "innocent\n");
        REQUIRE(::symlink("/etc/shadow", link.c_str()) == 0);
        REQUIRE(::rename(link.c_str(), f.c_str()) == 0);  // f is now a link to /etc/shadow
        agent.proc->signal(SIGCONT);
        REQUIRE(agent.wait_for("modify", f));
        const auto rows = agent.stop();
        const auto modified = vigil::test::find(rows, "modify", f);
        REQUIRE_FALSE(modified.empty());
        for (const auto& r : modified) {
            CHECK(r.at("sha256_after") != shadow_digest);
            if (!r.at("sha256_after")) CHECK_THAT(r.at("detail").value_or(""), Catch::Contains("hash_error"));
        }
        for (const auto& r : rows) {  // nothing anywhere carries the shadow file's content hash
            CHECK(r.at("sha256_after") != shadow_digest);
            CHECK(r.at("sha256_before") != shadow_digest);
        }
    }
}
