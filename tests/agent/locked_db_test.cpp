// Another process holds the database's write lock while the agent records: the writer
// waits its busy timeout, says so, keeps every accepted event and retries; once the lock
// is released everything is written, nothing is dropped, and the chain still verifies.
#include <catch2/catch.hpp>
#include <stdlib.h>

#include <sqlite3.h>

#include "tests/agent/agent_fixture.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

TEST_CASE("a write lock held by another process delays the agent's writes but loses none", "[kernel][agent]") {
    // A short busy timeout so the test sees the retry quickly (the default is 5 s).
    REQUIRE(::setenv("VIGIL_BUSY_TIMEOUT_MS", "200", 1) == 0);
    vigil::test::Agent agent("fanotify");
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(agent.db.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_exec(raw, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    constexpr int kFiles = 50;
    for (int i = 0; i < kFiles; ++i) vigil::test::write_file(agent.root + "/f" + std::to_string(i), "data\n");
    REQUIRE(agent.proc->wait_for_output("retrying", 30));
    CHECK_THAT(agent.proc->output(), Catch::Contains("locked"));
    REQUIRE(sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_close(raw) == SQLITE_OK);

    REQUIRE(agent.wait_for("modify", agent.root + "/f" + std::to_string(kFiles - 1), 60));
    const auto rows = agent.stop();
    for (int i = 0; i < kFiles; ++i) {
        const std::string p = agent.root + "/f" + std::to_string(i);
        CHECK_FALSE(vigil::test::find(rows, "create", p).empty());
        CHECK_FALSE(vigil::test::find(rows, "modify", p).empty());
    }
    for (const auto& r : rows) CHECK(r.at("action") != "overflow");
    auto verify = vigil::test::run_vigil({"verify", "--db", agent.db, "--key-file", agent.db + ".verification-key"});
    INFO(verify.out << verify.err);
    CHECK(verify.exit_code == 0);
}
