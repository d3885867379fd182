// End-to-end: the built `vigil` binary on temporary trees, asserting on the JSON contract
// of DESIGN.md and on exit codes. One scenario per kind of change.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sqlite3.h>

#include "common/sha256.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;
using vigil::test::run_vigil;
using vigil::test::TempDir;

namespace {

struct Fixture {
    TempDir dir;
    std::string root = dir / "tree";
    std::string db = dir / "state/vigil.db";
    std::string policy;

    explicit Fixture(const std::string& extra = "") {
        vigil::test::make_dirs(root + "/sub");
        vigil::test::write_file(root + "/a.conf", "alpha\n");
        vigil::test::write_file(root + "/sub/b.bin", "beta\n");
        REQUIRE(::symlink("a.conf", (root + "/link").c_str()) == 0);
        policy = vigil::test::write_policy(dir, root, extra);
        auto r = run_vigil({"init", "--policy", policy, "--db", db});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        REQUIRE(r.err.empty());  // no progress line when stderr is not a terminal
    }

    json check(int expected_exit) {
        auto r = run_vigil({"check", "--policy", policy, "--db", db, "--format", "json"});
        INFO(r.err);
        CHECK(r.exit_code == expected_exit);
        return json::parse(r.out);
    }
};

const json* entry(const json& list, const std::string& path) {
    for (const auto& e : list)
        if (e.at("path") == path) return &e;
    return nullptr;
}

std::set<std::string> changed_attrs(const json& report, const std::string& path) {
    const json* e = entry(report.at("changed"), path);
    REQUIRE(e != nullptr);
    std::set<std::string> out;
    for (const auto& [k, v] : e->at("changes").items()) out.insert(k);
    return out;
}

}  // namespace

TEST_CASE("an unchanged tree checks clean", "[e2e][check]") {
    Fixture f;
    json j = f.check(0);
    CHECK(j.at("added").empty());
    CHECK(j.at("removed").empty());
    CHECK(j.at("changed").empty());
    CHECK(j.at("summary").at("entries_checked") == 5);
    CHECK(j.at("summary").at("exit_code") == 0);
}

TEST_CASE("added and removed files", "[e2e][check]") {
    Fixture f;
    vigil::test::write_file(f.root + "/sub/new", "n");
    REQUIRE(::unlink((f.root + "/a.conf").c_str()) == 0);
    json j = f.check(1 | 2 | 4);  // the parent directories' mtimes changed too
    REQUIRE(entry(j.at("added"), f.root + "/sub/new"));
    CHECK(entry(j.at("added"), f.root + "/sub/new")->at("type") == "file");
    REQUIRE(entry(j.at("removed"), f.root + "/a.conf"));
    CHECK(entry(j.at("removed"), f.root + "/a.conf")->at("sha256") ==
          vigil::digest_hex(vigil::sha256_bytes("alpha\n").value()));
    CHECK(changed_attrs(j, f.root).count("mtime") == 1);
}

TEST_CASE("a content change shows old and new sha256", "[e2e][check]") {
    Fixture f;
    vigil::test::write_file(f.root + "/a.conf", "alpha\nbeta\n");
    json j = f.check(4);
    const json* e = entry(j.at("changed"), f.root + "/a.conf");
    REQUIRE(e);
    auto sha = [](const std::string& s) { return vigil::digest_hex(vigil::sha256_bytes(s).value()); };
    CHECK(e->at("changes").at("sha256").at("old") == sha("alpha\n"));
    CHECK(e->at("changes").at("sha256").at("new") == sha("alpha\nbeta\n"));
    CHECK(e->at("changes").at("size").at("old") == 6);
    CHECK(e->at("changes").at("size").at("new") == 11);
}

TEST_CASE("chmod and chown", "[e2e][check][root]") {
    REQUIRE(vigil::test::running_as_root());
    Fixture f;
    REQUIRE(::chmod((f.root + "/a.conf").c_str(), 04711) == 0);
    REQUIRE(::lchown((f.root + "/sub/b.bin").c_str(), 1234, 4321) == 0);
    json j = f.check(4);
    CHECK(changed_attrs(j, f.root + "/a.conf") == std::set<std::string>{"mode", "ctime"});
    const json* a = entry(j.at("changed"), f.root + "/a.conf");
    CHECK(a->at("changes").at("mode").at("old") == "0644");
    CHECK(a->at("changes").at("mode").at("new") == "4711");
    CHECK(changed_attrs(j, f.root + "/sub/b.bin") == std::set<std::string>{"uid", "gid", "ctime"});
    CHECK(entry(j.at("changed"), f.root + "/sub/b.bin")->at("changes").at("uid").at("new") == 1234);
}

TEST_CASE("touch -d changes only the times", "[e2e][check]") {
    Fixture f;
    const timespec times[2] = {{0, UTIME_OMIT}, {946684800, 0}};  // 2000-01-01
    REQUIRE(::utimensat(AT_FDCWD, (f.root + "/a.conf").c_str(), times, 0) == 0);
    json j = f.check(4);
    CHECK(changed_attrs(j, f.root + "/a.conf") == std::set<std::string>{"mtime", "ctime"});
    CHECK(entry(j.at("changed"), f.root + "/a.conf")->at("changes").at("mtime").at("new") ==
          "2000-01-01T00:00:00.000000000Z");
}

TEST_CASE("a hard link changes nlink", "[e2e][check]") {
    Fixture f;
    REQUIRE(::link((f.root + "/sub/b.bin").c_str(), (f.dir / "outside-link").c_str()) == 0);
    json j = f.check(4);
    const json* e = entry(j.at("changed"), f.root + "/sub/b.bin");
    REQUIRE(e);
    CHECK(e->at("changes").at("nlink").at("old") == 1);
    CHECK(e->at("changes").at("nlink").at("new") == 2);
}

TEST_CASE("setting an xattr is a change", "[e2e][check]") {
    Fixture f;
    REQUIRE(::setxattr((f.root + "/a.conf").c_str(), "user.vigil", "x\ny", 3, 0) == 0);
    json j = f.check(4);
    const json* e = entry(j.at("changed"), f.root + "/a.conf");
    REQUIRE(e);
    CHECK(e->at("changes").at("xattrs").at("old").is_null());
    CHECK(e->at("changes").at("xattrs").at("new") == "user.vigil=\"x\\x0ay\"");
}

TEST_CASE("a retargeted symlink", "[e2e][check]") {
    Fixture f;
    REQUIRE(::unlink((f.root + "/link").c_str()) == 0);
    REQUIRE(::symlink("/etc/shadow", (f.root + "/link").c_str()) == 0);
    json j = f.check(4);
    const json* e = entry(j.at("changed"), f.root + "/link");
    REQUIRE(e);
    CHECK(e->at("changes").at("target").at("old") == "a.conf");
    CHECK(e->at("changes").at("target").at("new") == "/etc/shadow");
}

TEST_CASE("a file replaced by a directory", "[e2e][check]") {
    Fixture f;
    REQUIRE(::unlink((f.root + "/a.conf").c_str()) == 0);
    REQUIRE(::mkdir((f.root + "/a.conf").c_str(), 0755) == 0);
    vigil::test::write_file(f.root + "/a.conf/inside", "i");
    json j = f.check(1 | 4);
    const json* e = entry(j.at("changed"), f.root + "/a.conf");
    REQUIRE(e);
    CHECK(e->at("type") == "directory");
    CHECK(e->at("changes").at("type").at("old") == "file");
    CHECK(e->at("changes").at("type").at("new") == "directory");
    CHECK(e->at("changes").at("sha256").at("new").is_null());
    CHECK(entry(j.at("added"), f.root + "/a.conf/inside"));
}

TEST_CASE("the text report groups findings and shows old -> new", "[e2e][check]") {
    Fixture f;
    vigil::test::write_file(f.root + "/a.conf", "changed\n");
    vigil::test::write_file(f.root + "/added", "x");
    auto r = run_vigil({"check", "--policy", f.policy, "--db", f.db});
    CHECK(r.exit_code == 5);
    CHECK_THAT(r.out, Catch::Contains("Added (1)") && Catch::Contains("Changed (") &&
                          Catch::Contains("+ " + f.root + "/added") && Catch::Contains("~ " + f.root + "/a.conf") &&
                          Catch::Contains(" → "));
    CHECK(r.out.find('\x1b') == std::string::npos);  // no colour when stdout is not a terminal
}

TEST_CASE("update accepts the current state and records who accepted it", "[e2e][update]") {
    Fixture f;
    vigil::test::write_file(f.root + "/a.conf", "accepted\n");
    auto u = run_vigil({"update", "--policy", f.policy, "--db", f.db, "--format", "json"});
    INFO(u.err);
    REQUIRE(u.exit_code == 0);
    CHECK(entry(json::parse(u.out).at("changed"), f.root + "/a.conf"));
    f.check(0);

    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(f.db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    // The sealed chain opens the update's epoch with a checkpoint, then the update's row.
    REQUIRE(sqlite3_prepare_v2(raw, "SELECT action, source, uid, pid, exe, detail FROM events WHERE id > 1", -1, &st,
                               nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "baseline_update");
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 1))) == "cli");
    CHECK(sqlite3_column_int64(st, 2) == static_cast<sqlite3_int64>(::getuid()));
    CHECK(sqlite3_column_type(st, 3) == SQLITE_INTEGER);
    CHECK(std::string(static_cast<const char*>(sqlite3_column_blob(st, 4)), sqlite3_column_bytes(st, 4)) == VIGIL_BIN);
    const auto detail = json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 5)));
    CHECK(detail.at("changed") == 1);  // rewritten in place: its directory did not change
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(raw);
}

TEST_CASE("usage errors and --help, --version", "[e2e][cli]") {
    CHECK(run_vigil({"--version"}).exit_code == 0);
    CHECK_THAT(run_vigil({"--version"}).out, Catch::StartsWith("vigil "));
    for (const char* cmd : {"init", "check", "update"}) {
        auto h = run_vigil({cmd, "--help"});
        CHECK(h.exit_code == 0);
        CHECK_THAT(h.out, Catch::Contains(std::string("usage: vigil ") + cmd));
    }
    auto bad = run_vigil({"check", "--frobnicate"});
    CHECK(bad.exit_code == 16);
    CHECK_THAT(bad.err, Catch::Contains("unknown option --frobnicate"));
    CHECK(run_vigil({"check", "--format", "xml", "--db", "/nonexistent"}).exit_code == 16);
    CHECK(run_vigil({"explode"}).exit_code == 16);
    CHECK(run_vigil({"check", "--db"}).exit_code == 16);
    TempDir d;
    auto missing = run_vigil({"check", "--db", d / "none.db", "--policy", vigil::test::write_policy(d, d.path())});
    CHECK(missing.exit_code == 18);
    CHECK_THAT(missing.err, Catch::Contains("none.db") && Catch::Contains("vigil init"));
}
