// SIGKILL at many points of `vigil init` and `vigil update`: the database must open, pass
// PRAGMA integrity_check, and hold the old baseline or the new one, whole and sealed —
// never a mix — and a killed init must not keep the next one from running. The database
// is opened read-only here, as `vigil query` would: a killed creator must not leave a hot
// rollback journal that only a writer could roll back.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <sqlite3.h>
#include <thread>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using vigil::test::BackgroundProcess;
using vigil::test::run_vigil;

namespace {

struct DbState {
    std::string integrity;
    std::int64_t baselines = 0;
    std::int64_t entries = -1;  // of the newest baseline
    std::int64_t files = 0;
};

DbState inspect(const std::string& db) {
    DbState s;
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    auto one = [&](const char* sql) -> std::string {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(raw, sql, -1, &st, nullptr) != SQLITE_OK) return "";
        std::string v = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
                            ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0))
                            : "";
        sqlite3_finalize(st);
        return v;
    };
    s.integrity = one("PRAGMA integrity_check");
    const std::string n = one("SELECT count(*) FROM baselines");
    s.baselines = n.empty() ? 0 : std::stoll(n);
    const std::string e = one("SELECT entries FROM baselines ORDER BY id DESC LIMIT 1");
    s.entries = e.empty() ? -1 : std::stoll(e);
    const std::string f = one("SELECT count(*) FROM files");
    s.files = f.empty() ? 0 : std::stoll(f);
    sqlite3_close(raw);
    return s;
}

void make_tree(const std::string& root, int files, const std::string& content) {
    for (int d = 0; d < 20; ++d) {
        vigil::test::make_dirs(root + "/d" + std::to_string(d));
        for (int i = 0; i < files / 20; ++i)
            vigil::test::write_file(root + "/d" + std::to_string(d) + "/f" + std::to_string(i), content);
    }
}

// Runs `args` and SIGKILLs it after `delay`; returns its exit code (128+9 when killed).
int run_and_kill(const std::vector<std::string>& args, std::chrono::milliseconds delay) {
    BackgroundProcess p(VIGIL_BIN, args);
    std::this_thread::sleep_for(delay);
    p.signal(SIGKILL);
    return p.wait();
}

}  // namespace

TEST_CASE("SIGKILL anywhere in vigil update leaves the old or the new baseline, sealed", "[kernel]") {
    vigil::test::TempDir dir;
    const std::string root = dir / "tree";
    const std::string db = dir / "state/vigil.db";
    make_tree(root, 4000, "v1\n");
    const std::string policy = vigil::test::write_policy(dir, root);
    REQUIRE(run_vigil({"init", "--policy", policy, "--db", db}).exit_code == 0);
    const std::int64_t entries = inspect(db).entries;
    int killed = 0;
    for (int delay_ms : {0, 5, 10, 20, 30, 45, 60, 80, 110, 150, 200, 300}) {
        // Each round changes every file, so each update has a whole new baseline to write.
        make_tree(root, 4000, "round " + std::to_string(delay_ms) + "\n");
        const int code = run_and_kill({"update", "--policy", policy, "--db", db}, std::chrono::milliseconds(delay_ms));
        killed += code == 128 + SIGKILL ? 1 : 0;
        const DbState s = inspect(db);
        INFO("killed after " << delay_ms << " ms, exit " << code);
        CHECK(s.integrity == "ok");
        CHECK(s.entries == entries);  // the newest baseline is whole...
        CHECK(s.files == entries);    // ...and its files are all there, no mix
        auto verify = run_vigil({"verify", "--db", db, "--key-file", db + ".verification-key"});
        INFO(verify.out);
        CHECK(verify.exit_code == 0);
    }
    CHECK(killed > 0);  // some kill points were inside the run
    // And the database goes on: a last update runs to its end.
    auto last = run_vigil({"update", "--policy", policy, "--db", db});
    INFO(last.err);
    CHECK(last.exit_code == 0);
}

TEST_CASE("SIGKILL anywhere in vigil init leaves no baseline or a whole one, and init can run again", "[kernel]") {
    vigil::test::TempDir dir;
    const std::string root = dir / "tree";
    make_tree(root, 4000, "x\n");
    const std::string policy = vigil::test::write_policy(dir, root);
    for (int delay_ms : {0, 5, 10, 20, 40, 70, 100, 150, 250}) {
        const std::string db = dir / ("state" + std::to_string(delay_ms) + "/vigil.db");
        const int code = run_and_kill({"init", "--policy", policy, "--db", db}, std::chrono::milliseconds(delay_ms));
        INFO("killed after " << delay_ms << " ms, exit " << code);
        struct stat st {};
        if (::stat(db.c_str(), &st) == 0) {
            const DbState s = inspect(db);
            CHECK(s.integrity == "ok");
            CHECK(s.baselines <= 1);
            if (s.baselines == 1) CHECK(s.files == s.entries);
        }
        if (code == 0) continue;  // it finished before the kill
        // Whatever it left (a database without a baseline, key files without a seal), a
        // second init completes.
        auto again = run_vigil({"init", "--policy", policy, "--db", db});
        INFO(again.err);
        const bool had_baseline = ::stat(db.c_str(), &st) == 0 && inspect(db).baselines == 1;
        if (!had_baseline) CHECK(again.exit_code == 0);
        // A killed creator's half-built file is cleared away by the next one.
        for (const auto& e : std::filesystem::directory_iterator(dir / ("state" + std::to_string(delay_ms))))
            CHECK(e.path().filename().string().find(".creating.") == std::string::npos);
        auto verify = run_vigil({"verify", "--db", db, "--key-file", db + ".verification-key"});
        INFO(verify.out);
        CHECK(verify.exit_code == 0);
    }
}
