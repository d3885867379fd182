// The agent's sealing against the real kernel and real crashes: every row sealed, an
// epoch every second (policy "sealing": {"epoch_seconds": 1}) and at every start, the
// checkpoints in its log usable as the outside copy, SIGKILL in the middle of a burst,
// and a key file restored from an older copy.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <set>
#include <thread>

#include "common/db/sqlite.h"
#include "common/event_chain.h"
#include "common/seal_state.h"
#include "tests/agent/agent_fixture.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using vigil::test::Agent;
using vigil::test::run_vigil;

namespace {

// One-second epochs: a test sees several in a few seconds.
void use_short_epochs(const Agent& agent) { agent.add_policy_setting(R"("sealing":{"epoch_seconds":1})"); }

vigil::test::RunResult verify(const Agent& agent, const std::string& checkpoints = "") {
    std::vector<std::string> args{"verify", "--db", agent.db, "--key-file", agent.db + ".verification-key"};
    if (!checkpoints.empty()) args.insert(args.end(), {"--checkpoints", checkpoints});
    return run_vigil(args);
}

std::size_t count(const std::vector<vigil::test::Row>& rows, const std::string& action) {
    std::size_t n = 0;
    for (const auto& r : rows) n += r.at("action") == action ? 1 : 0;
    return n;
}

}  // namespace

TEST_CASE("the agent seals every row, opens an epoch every period and at every start", "[kernel][agent]") {
    Agent agent("fanotify", "", false);
    use_short_epochs(agent);
    agent.start();
    for (int i = 0; i < 20; ++i) vigil::test::write_file(agent.root + "/f" + std::to_string(i), "x\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // empty epochs are sealed too
    auto rows = agent.stop();
    const std::string first_log = agent.proc->output();
    CHECK(count(rows, "checkpoint") >= 3);
    for (const auto& r : rows) {
        CHECK(r.at("mac").has_value());
        CHECK(r.at("epoch").has_value());
    }
    auto ok = verify(agent);
    INFO(ok.out << ok.err);
    CHECK(ok.exit_code == 0);

    // The checkpoint lines the agent logged are the outside copy that proves the tail.
    CHECK_THAT(first_log, Catch::Contains("vigil checkpoint db="));
    vigil::test::write_file(agent.dir / "journal", first_log);
    auto proven = verify(agent, agent.dir / "journal");
    INFO(proven.out);
    CHECK(proven.exit_code == 0);

    // A second run opens a new epoch at start; cutting its rows off is seen against the log.
    agent.start();
    vigil::test::write_file(agent.root + "/second", "y\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/second"));
    rows = agent.stop();
    vigil::test::write_file(agent.dir / "journal", agent.proc->output());
    CHECK(verify(agent, agent.dir / "journal").exit_code == 0);
    auto cut = vigil::test::run_program("/usr/bin/sqlite3",
                                        {agent.db, "DELETE FROM events WHERE id > (SELECT max(id) - 3 FROM events)"});
    REQUIRE(cut.exit_code == 0);
    auto r = verify(agent, agent.dir / "journal");
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("tail cut"));
}

TEST_CASE("SIGKILL in the middle of a burst leaves a chain that verifies, and the next run goes on",
          "[kernel][agent]") {
    Agent agent("fanotify", "", false);
    use_short_epochs(agent);
    agent.start();
    std::thread burst([&] {
        for (int i = 0; i < 3000; ++i) vigil::test::write_file(agent.root + "/b" + std::to_string(i), "burst\n");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    agent.proc->signal(SIGKILL);
    CHECK(agent.proc->wait() == 128 + SIGKILL);
    burst.join();
    auto after_kill = verify(agent);
    INFO(after_kill.out << after_kill.err);
    CHECK(after_kill.exit_code == 0);

    agent.start();  // the key file may be one epoch ahead of the database: accepted, no alarm
    vigil::test::write_file(agent.root + "/after", "z\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/after"));
    agent.stop();
    CHECK_THAT(agent.proc->output(), !Catch::Contains("sealing alarm"));
    auto r = verify(agent);
    INFO(r.out);
    CHECK(r.exit_code == 0);
}

TEST_CASE("vigild SIGKILLed at many points of a burst: the database opens, checks, verifies, and each restart goes on",
          "[kernel][agent]") {
    Agent agent("fanotify", "", false);
    use_short_epochs(agent);
    int round = 0;
    for (const int delay_ms : {0, 20, 60, 150, 300, 600, 1000}) {
        INFO("killed " << delay_ms << " ms into a burst (round " << round << ")");
        agent.start();
        std::thread burst([&] {
            for (int i = 0; i < 1500; ++i)
                vigil::test::write_file(agent.root + "/r" + std::to_string(round) + "-" + std::to_string(i), "k\n");
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        agent.proc->signal(SIGKILL);
        CHECK(agent.proc->wait() == 128 + SIGKILL);
        burst.join();
        {
            auto db = vigil::db::Database::open(agent.db, vigil::db::OpenMode::ReadOnly);
            REQUIRE(db);
            auto check = db->prepare("PRAGMA integrity_check");
            REQUIRE(check);
            REQUIRE(check->step().value());
            CHECK(check->col_blob(0) == "ok");
        }
        auto r = verify(agent);
        INFO(r.out << r.err);
        CHECK(r.exit_code == 0);
        ++round;
    }
    // The last restart records its start and, by its rescan, every file the kills cut off.
    agent.start();
    REQUIRE(agent.wait_until(
        [](const vigil::test::Row& r) {
            return r.at("action") == "rescan" && r.at("detail").value_or("").find("agent start") != std::string::npos;
        },
        60));
    const auto rows = agent.stop();
    std::set<std::string> seen;
    for (const auto& r : rows)
        if (r.at("path") && (r.at("action") == "create" || r.at("action") == "modify")) seen.insert(*r.at("path"));
    int missing = 0;
    for (int k = 0; k < round; ++k)
        for (int i = 0; i < 1500; ++i)
            missing += seen.count(agent.root + "/r" + std::to_string(k) + "-" + std::to_string(i)) ? 0 : 1;
    CHECK(missing == 0);
    auto last = verify(agent);
    INFO(last.out);
    CHECK(last.exit_code == 0);
}

TEST_CASE("a key file restored from an older copy is an alarm that verify reports", "[kernel][agent]") {
    Agent agent("fanotify", "", false);
    use_short_epochs(agent);
    agent.start();
    const std::string key = agent.db + ".key";
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    const std::string old_key = vigil::test::read_file(key);
    std::this_thread::sleep_for(std::chrono::milliseconds(2200));  // two more epochs
    agent.stop();
    REQUIRE(vigil::test::read_file(key) != old_key);

    vigil::test::write_file(key, old_key);
    REQUIRE(::chmod(key.c_str(), 0600) == 0);
    agent.start();
    const auto rows = agent.stop();
    CHECK_THAT(agent.proc->output(), Catch::Contains("sealing alarm"));
    CHECK(count(rows, "alert") == 1);
    auto r = verify(agent);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains(": alarm — the agent found its sealing key out of step"));
}

TEST_CASE("the agent applies the policy's retention: old whole epochs go, the prune is sealed", "[kernel][agent]") {
    constexpr std::int64_t kDay = 86400LL * 1'000'000'000;
    Agent agent("fanotify", "", false);
    agent.add_policy_setting(R"("retention":{"days":30})");
    auto init = run_vigil({"init", "--policy", agent.policy, "--db", agent.db});
    INFO(init.err);
    REQUIRE(init.exit_code == 0);
    // History as an earlier agent left it: epochs that began 40, 39, 38 and 1 days ago,
    // each a checkpoint and 5 rows, the key file left at the newest epoch.
    {
        auto db = vigil::db::Database::open(agent.db, vigil::db::OpenMode::ReadWrite);
        REQUIRE(db);
        auto chain = vigil::EventChain::open(db.value(), vigil::read_key_file(vigil::key_file_path(agent.db)).value());
        REQUIRE(chain);
        const std::int64_t now = vigil::realtime_now_ns();
        for (const std::int64_t days_ago : {40, 39, 38, 1}) {
            auto txn = vigil::db::WriteTxn::begin(db.value());
            REQUIRE(txn);
            auto next = vigil::evolve_key_file(agent.db, vigil::read_key_file(vigil::key_file_path(agent.db)).value());
            REQUIRE(next);
            REQUIRE(chain->set_key(next.value()));
            const std::int64_t t = now - days_ago * kDay;
            REQUIRE(chain->open_epoch(R"({"reason":"test"})", t));
            for (int i = 0; i < 5; ++i) {
                vigil::Event ev;
                ev.time_ns = t + (i + 1) * 1'000'000'000LL;
                ev.action = vigil::Action::Modify;
                ev.source = vigil::Source::Fanotify;
                ev.path = agent.root + "/old" + std::to_string(i);
                REQUIRE(chain->append(ev, "{}"));
            }
            REQUIRE(txn->commit());
        }
    }
    agent.start();
    // Epochs of 40 and 39 days ago ended before the cutoff (the next began 39 and 38 days
    // ago); the one of 38 days ago ended a day ago, so it stays whole.
    REQUIRE(agent.wait_until([](const vigil::test::Row& r) { return r.at("action") == "prune"; }));
    auto rows = agent.stop();
    std::int64_t min_id = INT64_MAX;
    for (const auto& r : rows) min_id = std::min<std::int64_t>(min_id, std::stoll(*r.at("id")));
    CHECK(min_id == 13);
    CHECK(count(rows, "prune") == 1);
    for (const auto& r : rows)
        if (r.at("action") == "prune") {
            CHECK(r.at("source") == "scan");
            CHECK_THAT(*r.at("detail"), Catch::Contains("\"removed_rows\":12"));
            CHECK_THAT(*r.at("detail"), Catch::Contains("\"first_kept_seq\":13"));
        }
    auto ok = verify(agent);
    INFO(ok.out << ok.err);
    CHECK(ok.exit_code == 0);
    CHECK_THAT(ok.out, Catch::Contains("events 1..12 were removed by retention"));
}
