// vigil verify against real databases: a baseline made by `vigil init`, events sealed
// the way the agent seals them (common/event_chain.h, epoch by epoch, key file first),
// then each kind of tampering done with the sqlite3 command-line tool, as an intruder
// with root would: verify must fail and name the row.
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <chrono>

#include "common/baseline_store.h"
#include "common/db/sqlite.h"
#include "common/event_chain.h"
#include "common/seal.h"
#include "common/seal_state.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using vigil::test::run_program;
using vigil::test::run_vigil;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

struct SealedDb {
    vigil::test::TempDir dir;
    std::string tree = dir / "tree";
    std::string db = dir / "state/vigil.db";
    std::string policy = dir / "policy.json";
    std::string key_file = db + ".verification-key";
    std::int64_t first_checkpoint_ns = 0;
    std::string checkpoint_lines;  // what the agent sends to syslog, one line per checkpoint

    // `vigil init`, then `epochs` epochs of `per_epoch` events, sealed as the agent does.
    explicit SealedDb(int epochs = 3, int per_epoch = 10) {
        vigil::test::make_dirs(tree);
        for (const char* name : {"a.conf", "b.conf", "c.conf"})
            vigil::test::write_file(tree + "/" + name, std::string(name) + "\n");
        vigil::test::write_file(policy, R"({"audit":{"enabled":false},"rules":[{"path":")" + tree + R"("}]})");
        ::chmod(policy.c_str(), 0644);
        auto init = run_vigil({"init", "--policy", policy, "--db", db});
        INFO(init.err);
        REQUIRE(init.exit_code == 0);
        REQUIRE_THAT(init.out, Catch::Contains("Verification key (epoch 0): "));
        append(epochs, per_epoch);
    }

    void append(int epochs, int per_epoch) {
        auto d = vigil::db::Database::open(db, vigil::db::OpenMode::ReadWrite);
        REQUIRE(d);
        auto key = vigil::read_key_file(vigil::key_file_path(db));
        REQUIRE(key);
        auto chain = vigil::EventChain::open(d.value(), key.value());
        REQUIRE(chain);
        std::int64_t t = vigil::realtime_now_ns() - 3600 * kSecond;  // an hour of history, epochs of 100 s
        for (int e = 0; e < epochs; ++e) {
            auto txn = vigil::db::WriteTxn::begin(d.value());
            REQUIRE(txn);
            REQUIRE(chain->reload_tail());
            auto current = vigil::read_key_file(vigil::key_file_path(db)).value();
            auto next = vigil::evolve_key_file(db, current);
            REQUIRE(next);
            REQUIRE(chain->set_key(next.value()));
            REQUIRE(chain->open_epoch(R"({"reason":"test"})", t));
            if (first_checkpoint_ns == 0) first_checkpoint_ns = t;
            for (int i = 0; i < per_epoch; ++i) {
                vigil::Event ev;
                ev.time_ns = t + (i + 1) * (100 * kSecond / (per_epoch + 1));
                ev.action = i % 3 == 0 ? vigil::Action::Modify : vigil::Action::Open;
                ev.source = vigil::Source::Fanotify;
                ev.path = tree + "/f" + std::to_string(i);
                ev.actor.uid = 1000 + i;
                ev.actor.user = "user" + std::to_string(i);
                ev.sha256_after = std::string(32, static_cast<char>('a' + i % 26));
                REQUIRE(chain->append(ev, "{}"));
            }
            REQUIRE(txn->commit());
            checkpoint_lines += "Nov 24 vigild[1]: vigil checkpoint db=" + db +
                                " seq=" + std::to_string(chain->tail().seq) + " epoch=" + std::to_string(next->epoch) +
                                " mac=" + vigil::hex_of(*chain->tail().mac) + "\n";
            t += 100 * kSecond;
        }
    }

    void sql(const std::string& statement) const {
        auto r = run_program("/usr/bin/sqlite3", {db, statement});
        INFO(statement << "\n" << r.err);
        REQUIRE(r.exit_code == 0);
    }

    vigil::test::RunResult verify(bool with_key = true, const std::string& checkpoints = "") const {
        std::vector<std::string> args{"verify", "--db", db};
        if (with_key) args.insert(args.end(), {"--key-file", key_file});
        if (!checkpoints.empty()) args.insert(args.end(), {"--checkpoints", checkpoints});
        return run_vigil(args);
    }
};

}  // namespace

TEST_CASE("an untouched sealed database verifies, with and without the key", "[kernel]") {
    SealedDb s;
    auto ok = s.verify();
    INFO(ok.out << ok.err);
    CHECK(ok.exit_code == 0);
    CHECK_THAT(ok.out, Catch::Contains("OK: everything verifies"));
    CHECK_THAT(ok.out, Catch::Contains("33 sealed events checked"));  // 3 x (checkpoint + 10)
    auto unproven = s.verify(false);
    CHECK(unproven.exit_code == 1);
    CHECK_THAT(unproven.out, Catch::Contains("authenticity could not be proven"));
    // The outside checkpoints prove the tail too.
    vigil::test::write_file(s.dir / "syslog", s.checkpoint_lines);
    auto with_tail = s.verify(true, s.dir / "syslog");
    CHECK(with_tail.exit_code == 0);
    CHECK_THAT(with_tail.out, !Catch::Contains("no outside checkpoint"));
}

TEST_CASE("verify names each kind of tampering", "[kernel]") {
    SealedDb s;
    std::string expect;
    SECTION("a row's path") {
        s.sql("UPDATE events SET path = CAST('/tmp/elsewhere' AS BLOB) WHERE id = 7");
        expect = "FAIL event 7: altered";
    }
    SECTION("a row's user") {
        s.sql("UPDATE events SET user = 'root', uid = 0 WHERE id = 8");
        expect = "FAIL event 8: altered";
    }
    SECTION("a row's time") {
        s.sql("UPDATE events SET time_ns = time_ns + 1 WHERE id = 9");
        expect = "FAIL event 9: altered";
    }
    SECTION("a row's hash") {
        s.sql("UPDATE events SET sha256_after = zeroblob(32) WHERE id = 10");
        expect = "FAIL event 10: altered";
    }
    SECTION("a row deleted") {
        s.sql("DELETE FROM events WHERE id = 12");
        expect = "FAIL event 13: deleted — events 12 are missing";
    }
    SECTION("a row inserted at the end") {
        s.sql(
            "INSERT INTO events (time_ns, action, source, path, epoch, mac) SELECT max(time_ns), 'modify', "
            "'fanotify', CAST('/etc/shadow' AS BLOB), max(epoch), randomblob(32) FROM events");
        expect = "FAIL event 34: altered";
    }
    SECTION("an unsealed row inserted") {
        s.sql(
            "INSERT INTO events (time_ns, action, source, path) VALUES (1, 'read', 'fanotify', "
            "x'2f6574632f736861646f77')");
        expect = "FAIL event 34: inserted";
    }
    SECTION("two rows swapped") {
        const std::string cols = "time_ns, action, source, path, uid, user, sha256_after, epoch, mac";
        s.sql("CREATE TEMP TABLE a AS SELECT " + cols + " FROM events WHERE id = 15; CREATE TEMP TABLE b AS SELECT " +
              cols + " FROM events WHERE id = 16; UPDATE events SET (" + cols +
              ") = (SELECT * FROM b) WHERE id = 15; "
              "UPDATE events SET (" +
              cols + ") = (SELECT * FROM a) WHERE id = 16;");
        expect = "FAIL event 15: reordered — it holds the row sealed as event 16";
    }
    SECTION("an epoch's rows removed, checkpoint included") {
        s.sql("DELETE FROM events WHERE epoch = 3; UPDATE events SET id = id - 11 WHERE id > 22");
        expect = "epoch skipped";
    }
    SECTION("a baseline row") {
        s.sql("UPDATE files SET mode = 511 WHERE CAST(path AS TEXT) = '" + s.tree + "/b.conf'");
        expect = "FAIL baseline file '" + s.tree + "/b.conf': altered";
    }
    SECTION("a baseline row deleted") {
        s.sql("DELETE FROM files WHERE CAST(path AS TEXT) = '" + s.tree + "/c.conf'");
        expect = "deleted — sealed with 4 entries, 3 present";
    }
    SECTION("the baseline's record") {
        s.sql("UPDATE baselines SET user = 'someone-else'");
        expect = "FAIL baseline #1: altered";
    }
    SECTION("the seal record removed") {
        s.sql("DELETE FROM seal");
        expect = "FAIL seal record: unsealed";
    }
    SECTION("every seal removed") {
        s.sql(
            "DELETE FROM seal; UPDATE events SET mac = NULL, epoch = NULL; UPDATE files SET mac = NULL; "
            "UPDATE baselines SET seal_mac = NULL, seal_epoch = NULL");
        expect = "FAIL seal record: unsealed";
    }
    SECTION("a forged row made with the current key, dated in an earlier epoch") {
        auto d = vigil::db::Database::open(s.db, vigil::db::OpenMode::ReadWrite);
        REQUIRE(d);
        auto current = vigil::read_key_file(vigil::key_file_path(s.db));  // what root finds on the host
        REQUIRE(current);
        auto chain = vigil::EventChain::open(d.value(), current.value());
        REQUIRE(chain);
        vigil::Event forged;
        forged.time_ns = s.first_checkpoint_ns + kSecond;  // "it happened back then"
        forged.action = vigil::Action::Modify;
        forged.source = vigil::Source::Fanotify;
        forged.path = "/etc/shadow";
        forged.actor.uid = 1001;
        auto txn = vigil::db::WriteTxn::begin(d.value());
        REQUIRE(txn);
        REQUIRE(chain->append(forged, "{}"));
        REQUIRE(txn->commit());
        expect = "before its epoch";
    }
    auto r = s.verify();
    INFO(r.out << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains(expect));
}

TEST_CASE("verify proves a cut tail against an outside checkpoint", "[kernel]") {
    SealedDb s;
    vigil::test::write_file(s.dir / "syslog", s.checkpoint_lines);
    s.sql("DELETE FROM events WHERE id > 30");
    auto r = s.verify(true, s.dir / "syslog");
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("tail cut — the log ends at event 30"));
    CHECK_THAT(r.out, Catch::Contains("3 rows at the end were removed"));
    // Without the outside copy the cut cannot be seen, and verify says so.
    auto blind = s.verify();
    CHECK(blind.exit_code == 0);
    CHECK_THAT(blind.out, Catch::Contains("rows cut from the end cannot be detected"));
}

TEST_CASE("verify refuses a wrong verification key and a key file that is not one", "[kernel]") {
    SealedDb s(1, 2);
    SealedDb other(1, 2);
    auto wrong = run_vigil({"verify", "--db", s.db, "--key-file", other.key_file});
    CHECK(wrong.exit_code == 2);
    CHECK_THAT(wrong.out, Catch::Contains("does not belong to this database"));
    auto evolved = run_vigil({"verify", "--db", s.db, "--key-file", vigil::key_file_path(s.db)});
    CHECK(evolved.exit_code == 16);
    CHECK_THAT(evolved.err, Catch::Contains("needs the epoch-0 verification key"));
}

TEST_CASE("vigil update seals its baseline and its row into the chain", "[kernel]") {
    SealedDb s(1, 3);
    vigil::test::write_file(s.tree + "/a.conf", "changed\n");
    auto u = run_vigil({"update", "--policy", s.policy, "--db", s.db});
    INFO(u.err);
    REQUIRE(u.exit_code == 0);
    auto r = s.verify();
    INFO(r.out);
    CHECK(r.exit_code == 0);
    s.sql("UPDATE events SET detail = '{}' WHERE action = 'baseline_update'");
    auto broken = s.verify();
    CHECK(broken.exit_code == 2);
    CHECK_THAT(broken.out, Catch::Contains("altered"));
}

TEST_CASE("verify over 100,000 sealed events", "[kernel]") {
    SealedDb s(10, 10'000);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = s.verify();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO(r.out << "\n" << seconds << " s");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("100010 sealed events checked"));
}

TEST_CASE("check, report and query warn when the sealed baseline does not verify", "[kernel]") {
    SealedDb s(1, 2);
    auto clean = run_vigil({"check", "--policy", s.policy, "--db", s.db});
    CHECK(clean.exit_code == 0);
    CHECK(clean.err.empty());

    // The key still beside the database: the MACs are checked, an altered row is caught.
    s.sql("UPDATE files SET sha256 = zeroblob(32) WHERE CAST(path AS TEXT) = '" + s.tree + "/a.conf'");
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"check", "--policy", s.policy, "--db", s.db},
          std::vector<std::string>{"report", "--policy", s.policy, "--db", s.db},
          std::vector<std::string>{"query", "--db", s.db, "--format", "jsonl"}}) {
        auto r = run_vigil(args);
        INFO(args.front() << ": " << r.err);
        CHECK_THAT(r.err,
                   Catch::Contains("the sealed baseline does not verify: baseline file '" + s.tree + "/a.conf'"));
    }

    // The key moved offline, as it should be: a removed row is still seen by its count.
    SealedDb t(1, 2);
    REQUIRE(::rename(t.key_file.c_str(), (t.dir / "offline-key").c_str()) == 0);
    t.sql("DELETE FROM files WHERE CAST(path AS TEXT) = '" + t.tree + "/b.conf'");
    auto r = run_vigil({"check", "--policy", t.policy, "--db", t.db});
    CHECK_THAT(r.err, Catch::Contains("sealed with 4 entries, 3 present"));
}

TEST_CASE("a clock stepped back is accepted only where the agent recorded it", "[kernel]") {
    for (const std::string reason : {"clock_jump", "epoch"}) {
        SealedDb s(1, 3);
        auto d = vigil::db::Database::open(s.db, vigil::db::OpenMode::ReadWrite);
        REQUIRE(d);
        auto key = vigil::read_key_file(vigil::key_file_path(s.db));
        REQUIRE(key);
        auto chain = vigil::EventChain::open(d.value(), key.value());
        REQUIRE(chain);
        auto txn = vigil::db::WriteTxn::begin(d.value());
        REQUIRE(txn);
        auto next = vigil::evolve_key_file(s.db, key.value());
        REQUIRE(next);
        REQUIRE(chain->set_key(next.value()));
        // The new epoch opens 30 s before the previous epoch's last row: the clock went back.
        const std::int64_t back = s.first_checkpoint_ns + 70 * kSecond;
        REQUIRE(chain->open_epoch(R"({"reason":")" + reason + R"(","clock_jump_ns":-30000000000})", back));
        REQUIRE(txn->commit());
        auto r = s.verify();
        INFO(reason << "\n" << r.out);
        if (reason == "clock_jump") {
            CHECK(r.exit_code == 0);
        } else {
            CHECK(r.exit_code == 2);
            CHECK_THAT(r.out, Catch::Contains("after the epoch ended"));
        }
    }
}

TEST_CASE("vigil prune removes whole old epochs, records it, and the rest still verifies", "[kernel]") {
    // Epochs 2..6 (init sealed with epoch 0 and left the key at 1), each a checkpoint and
    // 10 rows, beginning 60, 58:20, 56:40, 55:00 and 53:20 minutes ago.
    SealedDb s(5, 10);
    auto count = [&](const std::string& where) {
        auto r = run_program("/usr/bin/sqlite3", {s.db, "SELECT count(*) FROM events WHERE " + where});
        REQUIRE(r.exit_code == 0);
        return std::stoll(r.out);
    };
    REQUIRE(count("1") == 55);
    // Epochs 2-4 ended when epoch 5 began, 55 minutes ago: 33 rows.
    auto dry = run_vigil({"prune", "--db", s.db, "--older-than", "54m", "--dry-run"});
    INFO(dry.out << dry.err);
    REQUIRE(dry.exit_code == 0);
    CHECK_THAT(dry.out, Catch::Contains("Would remove 33 events (ids up to 33, epochs 2..4"));
    CHECK(count("1") == 55);

    auto pruned = run_vigil({"prune", "--db", s.db, "--older-than", "54m"});
    INFO(pruned.out << pruned.err);
    REQUIRE(pruned.exit_code == 0);
    CHECK_THAT(pruned.out, Catch::Contains("Removed 33 events"));
    CHECK_THAT(pruned.out, Catch::Contains("recorded as event 56"));
    CHECK(count("id < 34") == 0);
    CHECK(count("action = 'prune'") == 1);
    CHECK(count("action = 'checkpoint' AND id = 34") == 1);  // the log still opens with a checkpoint

    auto again = run_vigil({"prune", "--db", s.db, "--older-than", "54m"});
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.out, Catch::Contains("Nothing to prune"));

    auto ok = s.verify();
    INFO(ok.out);
    CHECK(ok.exit_code == 0);
    CHECK_THAT(ok.out, Catch::Contains("events 1..33 were removed by retention"));
    // The older outside checkpoints name pruned rows; the newest still proves the tail.
    vigil::test::write_file(s.dir / "syslog", s.checkpoint_lines);
    CHECK(s.verify(true, s.dir / "syslog").exit_code == 0);
    CHECK(s.verify(false).exit_code == 1);

    SECTION("an unrecorded deletion at the start is still a deletion") {
        s.sql("DELETE FROM events WHERE id < 45");
        auto r = s.verify();
        INFO(r.out);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.out, Catch::Contains("no prune row records their removal"));
    }
    SECTION("the prune row cannot be rewritten to cover more") {
        s.sql("DELETE FROM events WHERE id < 45");
        s.sql(
            "UPDATE events SET detail = replace(detail, '\"first_kept_seq\":34', '\"first_kept_seq\":45') "
            "WHERE action = 'prune'");
        auto r = s.verify();
        INFO(r.out);
        CHECK(r.exit_code == 2);
    }
    SECTION("the newest epoch is never pruned") {
        auto all = run_vigil({"prune", "--db", s.db, "--older-than", "1s"});
        INFO(all.out << all.err);
        CHECK(all.exit_code == 0);
        CHECK(count("id < 45") == 0);
        CHECK(count("epoch = 6") == 12);  // its checkpoint, 10 rows and the first prune row
        CHECK(count("action = 'prune'") == 2);
        CHECK(s.verify().exit_code == 0);
    }
}

TEST_CASE("vigil prune refuses bad arguments without touching the database", "[kernel]") {
    SealedDb s(1, 2);
    CHECK(run_vigil({"prune", "--db", s.db}).exit_code == 16);
    auto future = run_vigil({"prune", "--db", s.db, "--older-than", "2200-01-01T00:00:00Z"});
    CHECK(future.exit_code == 16);
    CHECK_THAT(future.err, Catch::Contains("future"));
    CHECK(run_vigil({"prune", "--db", s.db, "--older-than", "2999-01-01T00:00:00Z"}).exit_code == 16);
    auto garbage = run_vigil({"prune", "--db", s.db, "--older-than", "soon"});
    CHECK(garbage.exit_code == 16);
    auto missing = run_vigil({"prune", "--db", s.dir / "nope.db", "--older-than", "1d"});
    CHECK(missing.exit_code == 18);
    CHECK(s.verify().exit_code == 0);
}
