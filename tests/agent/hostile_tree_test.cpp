// Hostile trees under the agent: a written file swapped for a symlink to /etc/shadow
// between its event and its hash must never be hashed through the link. The agent is
// stopped (SIGSTOP) while the swap happens, so the event is read only after it. A bind
// mount inside a watched tree is recorded as a mount point and never entered.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <sqlite3.h>

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

namespace {

// A bind mount made by the test, undone (lazily) when it goes out of scope.
class BindMount {
public:
    BindMount(const std::string& from, const std::string& onto) : onto_(onto) {
        REQUIRE(::mount(from.c_str(), onto.c_str(), nullptr, MS_BIND, nullptr) == 0);
    }
    ~BindMount() { ::umount2(onto_.c_str(), MNT_DETACH); }
    BindMount(const BindMount&) = delete;
    BindMount& operator=(const BindMount&) = delete;

private:
    std::string onto_;
};

std::vector<std::string> baseline_paths(const std::string& db) {
    std::vector<std::string> paths;
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "SELECT path FROM files", -1, &st, nullptr) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        paths.emplace_back(static_cast<const char*>(sqlite3_column_blob(st, 0)),
                           static_cast<std::size_t>(sqlite3_column_bytes(st, 0)));
    sqlite3_finalize(st);
    sqlite3_close(raw);
    return paths;
}

}  // namespace

TEST_CASE("a bind mount inside a watched tree is recorded, not entered: nothing from outside, no loop",
          "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    for (const char* watcher : {"fanotify", "inotify"}) {
        INFO(watcher);
        vigil::test::TempDir outer;
        const std::string outside = outer / "outside";
        vigil::test::make_dirs(outside);
        vigil::test::write_file(outside + "/secret.txt", "not in the tree\n");
        Agent agent(watcher, "", false);
        const std::string mnt = agent.root + "/mnt";
        const std::string loop = agent.root + "/loop";
        vigil::test::make_dirs(mnt);
        vigil::test::make_dirs(loop);
        const BindMount foreign(outside, mnt);         // a directory from outside the tree
        const BindMount parent(agent.dir / "", loop);  // the tree's own parent: a loop
        agent.start();                                 // the baseline is walked here
        CHECK_THAT(agent.proc->output(), Catch::Contains("a bind mount; recorded, not entered"));

        const auto paths = baseline_paths(agent.db);
        CHECK(std::count(paths.begin(), paths.end(), mnt) == 1);  // the mount points themselves
        CHECK(std::count(paths.begin(), paths.end(), loop) == 1);
        for (const auto& p : paths) {
            INFO(p);
            CHECK(p.rfind(mnt + "/", 0) != 0);
            CHECK(p.rfind(loop + "/", 0) != 0);
        }

        // Changes through the mounts are not the tree's; one in the tree keeps its own name.
        vigil::test::write_file(mnt + "/secret.txt", "changed through the mount\n");
        vigil::test::write_file(outside + "/other.txt", "x\n");
        vigil::test::write_file(loop + "/watched/through-the-loop.txt", "y\n");
        vigil::test::write_file(agent.root + "/existing", "v2\n");
        REQUIRE(agent.wait_for("modify", agent.root + "/existing"));
        const auto rows = agent.stop();
        for (const auto& r : rows) {
            if (!r.at("path")) continue;
            INFO(*r.at("path"));
            CHECK(r.at("path")->rfind(mnt + "/", 0) != 0);
            CHECK(r.at("path")->rfind(loop + "/", 0) != 0);
            CHECK(r.at("path")->rfind(outside, 0) != 0);
        }
        // The file written through the loop is the tree's own file: recorded under its name.
        CHECK_FALSE(vigil::test::find(rows, "create", agent.root + "/through-the-loop.txt").empty());
    }
}
