// vigil report end to end, with events recorded by the real agent: a change the agent saw
// is attributed, a change made while it was stopped is flagged unexplained, and the
// downtime shows in the agent's health.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;

TEST_CASE("report joins findings with their actors and flags the unexplained", "[e2e][report][kernel]") {
    vigil::test::TempDir dir;
    const std::string root = dir / "tree";
    vigil::test::make_dirs(root);
    vigil::test::write_file(root + "/seen", "v1\n");
    vigil::test::write_file(root + "/unseen", "v1\n");
    vigil::test::write_file(root + "/read-me", "secret\n");
    const std::string db = dir / "db/vigil.db";
    const std::string policy =
        vigil::test::write_policy(dir, root, R"("watch":"access","label":"customers","severity":"critical")");
    {
        vigil::test::BackgroundProcess agent(VIGILD_BIN, {"--policy", policy, "--db", db});
        REQUIRE(agent.wait_for_output("ready"));
        vigil::test::write_file(root + "/seen", "v2\n");
        (void)vigil::test::read_file(root + "/read-me");
        agent.signal(SIGTERM);
        REQUIRE(agent.wait() == 0);
    }
    vigil::test::write_file(root + "/unseen", "changed while nobody watched\n");

    auto r = vigil::test::run_vigil({"report", "--policy", policy, "--db", db, "--format", "json"});
    INFO(r.err);
    CHECK(r.exit_code == 4);
    const json j = json::parse(r.out);
    const json* seen = nullptr;
    const json* unseen = nullptr;
    for (const auto& f : j.at("findings")) {
        if (f.at("path") == root + "/seen") seen = &f;
        if (f.at("path") == root + "/unseen") unseen = &f;
    }
    REQUIRE(seen);
    REQUIRE(unseen);
    CHECK(seen->at("explained") == true);
    REQUIRE_FALSE(seen->at("events").empty());
    CHECK(seen->at("events").back().at("action") == "modify");
    CHECK(seen->at("events").back().at("uid") == 0);
    CHECK(unseen->at("explained") == false);
    CHECK(j.at("unexplained") == 1);
    bool read_grouped = false;
    for (const auto& a : j.at("accesses"))
        read_grouped = read_grouped || (a.at("label") == "customers" && a.at("events") >= 1);
    CHECK(read_grouped);
    CHECK(j.at("agent_health").at("ever_ran") == true);
    REQUIRE(j.at("agent_health").at("downtime").size() == 1);
    CHECK(j.at("agent_health").at("downtime")[0].at("to").is_null());  // still down

    auto text = vigil::test::run_vigil({"report", "--policy", policy, "--db", db});
    CHECK_THAT(text.out, Catch::Contains("UNEXPLAINED") && Catch::Contains("modify by root"));

    // --output replaces a planted symlink instead of writing through it, and is 0600.
    const std::string target = dir / "victim";
    vigil::test::write_file(target, "do not touch");
    const std::string out = dir / "report.html";
    REQUIRE(::symlink(target.c_str(), out.c_str()) == 0);
    auto html = vigil::test::run_vigil({"report", "--policy", policy, "--db", db, "--format", "html", "--output", out});
    CHECK(html.exit_code == 4);
    CHECK(vigil::test::read_file(target) == "do not touch");
    struct stat st {};
    REQUIRE(::lstat(out.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
    const std::string page = vigil::test::read_file(out);
    CHECK_THAT(page,
               Catch::StartsWith("<!DOCTYPE html>") && Catch::Contains("unexplained") && Catch::Contains("</html>"));
    CHECK(page.find("http") == std::string::npos);  // self-contained: no external assets

    CHECK(vigil::test::run_vigil({"report", "--db", db, "--policy", policy, "--format", "pdf"}).exit_code == 16);
    CHECK(vigil::test::run_vigil({"report", "--db", db, "--policy", policy, "--since", "soon"}).exit_code == 16);
}

TEST_CASE("report shows an agent killed without agent_stop as unclean downtime", "[e2e][report][kernel]") {
    vigil::test::TempDir dir;
    vigil::test::make_dirs(dir / "tree");
    const std::string db = dir / "db/vigil.db";
    const std::string policy = vigil::test::write_policy(dir, dir / "tree");
    {
        vigil::test::BackgroundProcess first(VIGILD_BIN, {"--policy", policy, "--db", db});
        REQUIRE(first.wait_for_output("ready"));
        vigil::test::write_file(dir / "tree/before-kill", "x");
        // Let the agent_start row and the write land before the kill (readers never block).
        for (int i = 0; i < 100; ++i) {
            auto q = vigil::test::run_vigil({"query", "--db", db, "--action", "modify", "--format", "jsonl"});
            if (!q.out.empty()) break;
            ::usleep(50 * 1000);
        }
        first.signal(SIGKILL);
        first.wait();
    }
    {
        vigil::test::BackgroundProcess second(VIGILD_BIN, {"--policy", policy, "--db", db});
        REQUIRE(second.wait_for_output("ready"));
        second.signal(SIGTERM);
        REQUIRE(second.wait() == 0);
    }
    auto r = vigil::test::run_vigil({"report", "--policy", policy, "--db", db, "--format", "json"});
    INFO(r.err);
    const json j = json::parse(r.out);
    const auto& downtime = j.at("agent_health").at("downtime");
    REQUIRE(downtime.size() == 2);
    CHECK(downtime[0].at("unclean") == true);  // the SIGKILL: no agent_stop
    CHECK_FALSE(downtime[0].at("to").is_null());
    CHECK(downtime[1].at("unclean") == false);  // the clean stop: still down now
    CHECK(downtime[1].at("to").is_null());
}
