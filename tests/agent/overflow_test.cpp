// Kernel queue overflow under fanotify: the agent is stopped (SIGSTOP) while more events
// than the queue holds (16384) happen; afterwards there must be an overflow row, a rescan
// row, and every file must be known — through its own event or through the rescan.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <set>
#include <sqlite3.h>
#include <thread>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace {

struct Counts {
    int overflow = 0;
    int rescan = 0;
    std::set<std::string> created;  // paths with a create row, from any source
    std::set<std::string> scanned;  // paths with a create row from the rescan
};

Counts count_rows(const std::string& db) {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "SELECT action, source, path FROM events", -1, &st, nullptr) == SQLITE_OK);
    Counts c;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const std::string action = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        const std::string source = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
        const void* p = sqlite3_column_blob(st, 2);
        const std::string path = p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(st, 2)) : "";
        c.overflow += action == "overflow";
        c.rescan += action == "rescan";
        if (action == "create") {
            c.created.insert(path);
            if (source == "scan") c.scanned.insert(path);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(raw);
    return c;
}

}  // namespace

TEST_CASE("fanotify queue overflow is recorded and repaired by a rescan", "[kernel][agent][overflow]") {
    vigil::test::TempDir dir;
    const std::string root = dir / "tree";
    vigil::test::make_dirs(root);
    const std::string db = dir / "db/vigil.db";
    // The kernel's default queue depth, not the agent's deeper default.
    const std::string policy = dir / "policy.json";
    vigil::test::write_file(
        policy,
        R"({"audit":{"enabled":false},"limits":{"kernel_queue_events":16384},"rules":[{"path":")" + root + R"("}]})");
    ::chmod(policy.c_str(), 0644);
    vigil::test::BackgroundProcess agent(VIGILD_BIN, {"--policy", policy, "--db", db});
    REQUIRE(agent.wait_for_output("ready"));

    agent.signal(SIGSTOP);
    // More distinct files than the queue holds (16384): events of one file merge in the queue.
    constexpr int kFiles = 20000;
    for (int i = 0; i < kFiles; ++i) vigil::test::write_file(root + "/f" + std::to_string(i), "x");
    agent.signal(SIGCONT);

    // The rescan runs in the background; wait for its row, then stop cleanly.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (count_rows(db).rescan == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    agent.signal(SIGTERM);
    REQUIRE(agent.wait() == 0);

    const Counts c = count_rows(db);
    CHECK(c.overflow >= 1);
    CHECK(c.rescan >= 1);
    CHECK_FALSE(c.scanned.empty());  // the rescan found what the kernel dropped
    int missing = 0;
    for (int i = 0; i < kFiles; ++i) missing += c.created.count(root + "/f" + std::to_string(i)) == 0;
    CHECK(missing == 0);
    CHECK_THAT(agent.output(), Catch::Contains("rescanning"));
}

TEST_CASE("a burst deeper than the kernel's default queue is not lost", "[kernel][agent][overflow]") {
    const std::string sysctl = "/proc/sys/fs/fanotify/max_queued_events";
    const std::string before = vigil::test::read_file(sysctl);
    vigil::test::TempDir dir;
    const std::string root = dir / "tree";
    vigil::test::make_dirs(root);
    const std::string db = dir / "db/vigil.db";
    const std::string policy = vigil::test::write_policy(dir, root);
    vigil::test::BackgroundProcess agent(VIGILD_BIN, {"--policy", policy, "--db", db});
    REQUIRE(agent.wait_for_output("ready"));
    CHECK(vigil::test::read_file(sysctl) == before);  // raised only while the group was made

    agent.signal(SIGSTOP);  // the agent reads nothing while 20,000 files appear
    constexpr int kFiles = 20000;
    for (int i = 0; i < kFiles; ++i) vigil::test::write_file(root + "/f" + std::to_string(i), "x");
    agent.signal(SIGCONT);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (count_rows(db).created.size() < kFiles && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    agent.signal(SIGTERM);
    REQUIRE(agent.wait() == 0);

    const Counts c = count_rows(db);
    CHECK(c.overflow == 0);
    CHECK(c.rescan == 0);
    CHECK(c.created.size() == kFiles);
    CHECK(c.scanned.empty());  // every create is the kernel's own event
}
