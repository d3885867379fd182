// vigil status against a real running vigild.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

TEST_CASE("vigil status tells a running agent from a stopped one", "[kernel][agent][status]") {
    vigil::test::TempDir dir;
    vigil::test::make_dirs(dir / "tree/sub");
    const std::string db = dir / "db/vigil.db";
    const std::string policy = vigil::test::write_policy(dir, dir / "tree");

    vigil::test::BackgroundProcess agent(VIGILD_BIN, {"--policy", policy, "--db", db});
    REQUIRE(agent.wait_for_output("ready"));
    // The status file is published within a second of starting.
    nlohmann::json j;
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto r = vigil::test::run_vigil({"status", "--db", db, "--format", "json"});
        REQUIRE(r.exit_code == 0);
        j = nlohmann::json::parse(r.out);
        if (!j["agent"].is_null()) break;
        ::usleep(100 * 1000);
    }
    CHECK(j["running"] == true);
    REQUIRE(j["agent"].is_object());
    CHECK(j["agent"]["watcher"] == "fanotify");
    CHECK(j["agent"]["marks"] == 2);
    CHECK(j["agent"]["pid"] == agent.pid());
    CHECK(j["database"]["overflows"] == 0);
    CHECK(j["database"]["last_overflow"].is_null());
    auto text = vigil::test::run_vigil({"status", "--db", db});
    CHECK_THAT(text.out, Catch::Contains("Agent: running") && Catch::Contains("watcher fanotify"));

    agent.signal(SIGTERM);
    REQUIRE(agent.wait() == 0);
    auto stopped = vigil::test::run_vigil({"status", "--db", db});
    CHECK(stopped.exit_code == 3);
    CHECK_THAT(stopped.out, Catch::Contains("not running") && Catch::Contains("Agent last started"));
    auto missing = vigil::test::run_vigil({"status", "--db", dir / "none.db"});
    CHECK(missing.exit_code == 18);
}
