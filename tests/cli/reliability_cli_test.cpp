// RELIABILITY.md's adversarial cases for the command-line tool (tests/README.md maps each
// case to its test): a directory swapped for a symlink during the walk (B3 #22), a planted
// symlink at the report's output (B3 #29), a pseudo filesystem inside a tree (B2 #15), an
// mmap write with its times put back (B2 #18), a database the user cannot read, a reader
// that closes the pipe (F7), and a walk with 64 file descriptors (F6).
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <sqlite3.h>
#include <string>
#include <vector>

#include "common/baseline_store.h"
#include "common/db/sqlite.h"
#include "common/event.h"
#include "common/sha256.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using vigil::test::run_program;
using vigil::test::run_vigil;
using vigil::test::TempDir;

namespace {

struct FileRow {
    std::string path;
    std::string sha256;  // raw bytes, empty when NULL
};

std::vector<FileRow> file_rows(const std::string& db) {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "SELECT path, sha256 FROM files", -1, &st, nullptr) == SQLITE_OK);
    std::vector<FileRow> rows;
    auto text = [&](int col) {
        const void* p = sqlite3_column_blob(st, col);
        return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(st, col)))
                 : std::string();
    };
    while (sqlite3_step(st) == SQLITE_ROW) rows.push_back({text(0), text(1)});
    sqlite3_finalize(st);
    sqlite3_close(raw);
    return rows;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string digest_of_file(const std::string& path) {
    auto d = vigil::sha256_bytes(vigil::test::read_file(path));
    REQUIRE(d);
    return std::string(vigil::digest_bytes(d.value()));
}

// A child that keeps swapping `dir` for a symlink to `target` and back until killed.
class Swapper {
public:
    Swapper(const std::string& dir, const std::string& target) {
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            const std::string away = dir + ".away";
            for (;;) {
                if (::rename(dir.c_str(), away.c_str()) == 0) {
                    const bool linked = ::symlink(target.c_str(), dir.c_str()) == 0;
                    ::usleep(200);
                    if (linked && ::unlink(dir.c_str()) < 0) ::_exit(1);
                    if (::rename(away.c_str(), dir.c_str()) < 0) ::_exit(1);
                }
                ::usleep(200);
            }
        }
    }
    ~Swapper() {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    Swapper(const Swapper&) = delete;
    Swapper& operator=(const Swapper&) = delete;

private:
    pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("a directory swapped for a symlink to /etc during the walk never leads it out of the tree",
          "[e2e][kernel][reliability]") {
    TempDir dir;
    const std::string root = dir / "tree";
    const std::string d = root + "/d";
    vigil::test::make_dirs(d + "/sub");
    for (int i = 0; i < 300; ++i) vigil::test::write_file(d + "/f" + std::to_string(i), "inside\n");
    for (int i = 0; i < 100; ++i) vigil::test::write_file(d + "/sub/g" + std::to_string(i), "inside\n");
    const std::string policy = vigil::test::write_policy(dir, root);
    const std::set<std::string> outside = {digest_of_file("/etc/passwd"), digest_of_file("/etc/shadow"),
                                           digest_of_file("/etc/group")};
    {
        const Swapper swapper(d, "/etc");
        for (int round = 0; round < 6; ++round) {
            const std::string db = dir / ("state" + std::to_string(round) + "/vigil.db");
            auto r = run_vigil({"init", "--policy", policy, "--db", db});
            INFO("round " << round << ": " << r.err);
            REQUIRE(r.exit_code == 0);
            for (const auto& row : file_rows(db)) {
                INFO(row.path);
                CHECK((row.path == root || starts_with(row.path, root + "/")));
                for (const char* name : {"/passwd", "/shadow", "/group", "/hostname", "/fstab"})
                    CHECK(row.path != d + name);
                CHECK(outside.count(row.sha256) == 0);
            }
        }
    }
}

TEST_CASE("report --output replaces a planted symlink and never writes through it", "[e2e][reliability]") {
    TempDir dir;
    const std::string root = dir / "tree";
    vigil::test::make_dirs(root);
    vigil::test::write_file(root + "/f", "x");
    const std::string policy = vigil::test::write_policy(dir, root);
    const std::string db = dir / "state/vigil.db";
    REQUIRE(run_vigil({"init", "--policy", policy, "--db", db}).exit_code == 0);

    const std::string victim = dir / "victim";
    vigil::test::write_file(victim, "precious\n");
    const std::string out = dir / "r.html";
    REQUIRE(::symlink(victim.c_str(), out.c_str()) == 0);
    auto r = run_vigil({"report", "--policy", policy, "--db", db, "--format", "html", "--output", out});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(vigil::test::read_file(victim) == "precious\n");
    struct stat st {};
    REQUIRE(::lstat(out.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
    CHECK_THAT(vigil::test::read_file(out), Catch::Contains("<html"));
}

TEST_CASE("a pseudo filesystem mounted inside a tree is not entered, and the walk says so",
          "[e2e][root][reliability]") {
    REQUIRE(vigil::test::running_as_root());
    TempDir dir;
    const std::string root = dir / "tree";
    const std::string proc = root + "/proc";
    vigil::test::make_dirs(proc);
    vigil::test::write_file(root + "/f", "x");
    REQUIRE(::mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0);
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{proc};
    // one_filesystem: false, so only the pseudo-filesystem check keeps the walk out.
    const std::string policy = vigil::test::write_policy(dir, root, "\"one_filesystem\": false");
    const std::string db = dir / "state/vigil.db";
    vigil::test::RunOptions bounded;
    bounded.timeout_seconds = 60;
    auto r = run_vigil({"init", "--policy", policy, "--db", db}, bounded);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains(proc) && Catch::Contains("pseudo filesystem"));
    for (const auto& row : file_rows(db)) CHECK_FALSE(starts_with(row.path, proc + "/"));
}

TEST_CASE("an mmap write with its times put back is still caught by vigil check", "[e2e][reliability]") {
    TempDir dir;
    const std::string root = dir / "tree";
    vigil::test::make_dirs(root);
    const std::string f = root + "/mapped.bin";
    vigil::test::write_file(f, std::string(8192, 'a'));
    const std::string policy = vigil::test::write_policy(dir, root);
    const std::string db = dir / "state/vigil.db";
    REQUIRE(run_vigil({"init", "--policy", policy, "--db", db}).exit_code == 0);

    struct stat before {};
    REQUIRE(::stat(f.c_str(), &before) == 0);
    const int fd = ::open(f.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    void* p = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    static_cast<char*>(p)[4000] = 'b';  // same size, one byte
    REQUIRE(::msync(p, 8192, MS_SYNC) == 0);
    REQUIRE(::munmap(p, 8192) == 0);
    const timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(::futimens(fd, times) == 0);  // mtime as it was: only the content tells
    ::close(fd);

    auto r = run_vigil({"check", "--policy", policy, "--db", db, "--format", "json"});
    INFO(r.out << r.err);
    CHECK((r.exit_code & 4) != 0);
    CHECK_THAT(r.out, Catch::Contains("mapped.bin") && Catch::Contains("sha256"));
}

TEST_CASE("vigil query on a database the user cannot read names it and says why", "[e2e][root][reliability]") {
    REQUIRE(vigil::test::running_as_root());
    const auto user = vigil::test::ensure_user("vigilreader");
    TempDir dir;
    const std::string root = dir / "tree";
    vigil::test::make_dirs(root);
    const std::string policy = vigil::test::write_policy(dir, root);
    const std::string db = dir / "state/vigil.db";
    REQUIRE(run_vigil({"init", "--policy", policy, "--db", db}).exit_code == 0);
    vigil::test::RunOptions as_user;
    as_user.uid = user.uid;
    as_user.gid = user.gid;
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"query", "--db", db}, std::vector<std::string>{"history", root + "/f", "--db", db},
          std::vector<std::string>{"status", "--db", db}}) {
        auto r = run_vigil(args, as_user);
        INFO(args.front() << ": " << r.err);
        CHECK(r.exit_code == 18);
        CHECK_THAT(r.err, Catch::StartsWith("vigil: error: ") && Catch::Contains(db));
        CHECK(r.out.empty());
    }
}

TEST_CASE("vigil query into a pipe its reader closed early exits 0 without error spam", "[e2e][reliability]") {
    TempDir dir;
    const std::string db = dir / "vigil.db";
    {
        auto d = vigil::db::Database::open(db, vigil::db::OpenMode::Create);
        REQUIRE(d);
        auto txn = vigil::db::WriteTxn::begin(d.value());
        REQUIRE(txn);
        const std::int64_t now = vigil::realtime_now_ns();
        for (int i = 0; i < 20000; ++i) {  // far more than a pipe holds
            vigil::Event e;
            e.time_ns = now - i;
            e.action = vigil::Action::Modify;
            e.source = vigil::Source::Fanotify;
            e.path = "/srv/data/file-" + std::to_string(i);
            REQUIRE(vigil::append_event(d.value(), e));
        }
        REQUIRE(txn->commit());
    }
    int out[2];
    int err[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // `vigil query | head -c 100`, without a shell
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        const std::string bin = VIGIL_BIN;
        const char* argv[] = {bin.c_str(), "query", "--db", db.c_str(), "--format", "jsonl", nullptr};
        ::execv(bin.c_str(), const_cast<char* const*>(argv));
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    char head[100];
    CHECK(::read(out[0], head, sizeof head) > 0);
    ::close(out[0]);  // the reader had enough
    std::string errors;
    char buf[4096];
    for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) errors.append(buf, static_cast<std::size_t>(n));
    ::close(err[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    INFO(errors);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(errors.empty());
}

TEST_CASE("vigil init with 64 file descriptors records every entry", "[e2e][reliability]") {
    TempDir dir;
    const std::string root = dir / "tree";
    std::size_t entries = 1;
    std::string deep = root;
    for (int depth = 0; depth < 40; ++depth) {  // deeper than 64 fds could hold open at once
        deep += "/level" + std::to_string(depth);
        ++entries;
        for (int i = 0; i < 5; ++i) {
            vigil::test::make_dirs(deep);
            vigil::test::write_file(deep + "/f" + std::to_string(i), std::to_string(depth * i));
            ++entries;
        }
    }
    const std::string policy = vigil::test::write_policy(dir, root);
    const std::string db = dir / "state/vigil.db";
    auto r = run_program("/usr/bin/prlimit",
                         {"--nofile=64", "--", VIGIL_BIN, "init", "--policy", policy, "--db", db, "--threads", "8"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    const auto rows = file_rows(db);
    CHECK(rows.size() == entries);
    std::size_t hashed = 0;
    for (const auto& row : rows) hashed += !row.sha256.empty();
    CHECK(hashed == entries - 41);  // every regular file; the root and 40 directories have none
}
