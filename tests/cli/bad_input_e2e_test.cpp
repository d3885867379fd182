// End-to-end: the built `vigil` binary against hostile and broken input — file names no
// terminal should see raw, paths longer than PATH_MAX, FIFOs, device nodes, symlink loops,
// unreadable entries, files that grow or vanish during the walk, hostile policies and
// databases that are garbage, read-only or locked. Asserts exit codes (DESIGN.md), the
// messages on stderr and the JSON of `vigil check`.
#include <catch2/catch.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sqlite3.h>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;
using vigil::test::run_vigil;
using vigil::test::RunOptions;
using vigil::test::RunResult;
using vigil::test::TempDir;

namespace {

// The contract's numbers, pinned here rather than taken from cli/exit_codes.h: a change of
// the header must break this test.
constexpr int kExitAdded = 1;
constexpr int kExitChanged = 4;
constexpr int kExitUsage = 16;
constexpr int kExitPolicy = 17;
constexpr int kExitDatabase = 18;

// Makes bytes safe for Catch's failure messages (the raw names would garble the terminal).
std::string printable(std::string_view s, std::size_t limit = 1500) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char c : s.substr(0, limit)) {
        const auto b = static_cast<unsigned char>(c);
        if (b == '\n' || (b >= 0x20 && b < 0x7f)) {
            out += c;
        } else {
            out += "<";
            out += kHex[b >> 4U];
            out += kHex[b & 0xfU];
            out += ">";
        }
    }
    if (s.size() > limit) out += "... (" + std::to_string(s.size()) + " bytes in all)";
    return out;
}

std::string describe(const RunResult& r) {
    return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + printable(r.out) + "\n--- stderr:\n" +
           printable(r.err);
}

// Offset of the first control byte other than '\n' (or DEL), if any.
std::optional<std::size_t> first_raw_control(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto b = static_cast<unsigned char>(s[i]);
        if ((b < 0x20 && b != '\n') || b == 0x7f) return i;
    }
    return std::nullopt;
}

bool valid_utf8(const std::string& s) {
    try {
        (void)json(s).dump();  // nlohmann refuses to serialise invalid UTF-8
        return true;
    } catch (const json::type_error&) {
        return false;
    }
}

// Everything vigil wrote is fit for a terminal: no control byte but '\n', no invalid UTF-8.
void check_output_hygiene(const RunResult& r) {
    INFO(describe(r));
    CHECK_FALSE(first_raw_control(r.out).has_value());
    CHECK_FALSE(first_raw_control(r.err).has_value());
    CHECK(valid_utf8(r.out));
    CHECK(valid_utf8(r.err));
}

json parse_report(const RunResult& r) {
    INFO(describe(r));
    json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    REQUIRE_FALSE(j.is_discarded());
    REQUIRE(j.is_object());
    for (const char* key : {"added", "removed", "changed", "unreadable", "warnings"}) {
        INFO(key);
        REQUIRE(j.contains(key));
        REQUIRE(j.at(key).is_array());
    }
    REQUIRE(j.contains("summary"));
    return j;
}

std::size_t count_path(const json& list, const std::string& path) {
    std::size_t n = 0;
    for (const auto& e : list)
        if (e.at("path") == path) ++n;
    return n;
}

const json* find_path(const json& list, const std::string& path) {
    for (const auto& e : list)
        if (e.at("path") == path) return &e;
    return nullptr;
}

std::vector<std::string> all_report_paths(const json& j) {
    std::vector<std::string> out;
    for (const char* key : {"added", "removed", "changed", "unreadable"})
        for (const auto& e : j.at(key)) out.push_back(e.at("path").get<std::string>());
    return out;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

void write_policy_text(const std::string& path, const std::string& text, mode_t mode = 0644) {
    vigil::test::write_file(path, text);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

// A temporary tree with a one-rule policy on it and a database beside it.
struct Tree {
    TempDir dir;
    std::string root = dir / "tree";
    std::string db = dir / "state/vigil.db";
    std::string policy;

    Tree() {
        REQUIRE(::mkdir(root.c_str(), 0755) == 0);
        policy = vigil::test::write_policy(dir, root);
    }

    RunResult init(const RunOptions& opts = {}) const {
        return run_vigil({"init", "--policy", policy, "--db", db}, opts);
    }
    RunResult check_json(const RunOptions& opts = {}) const {
        return run_vigil({"check", "--policy", policy, "--db", db, "--format", "json"}, opts);
    }
    RunResult check_text(const RunOptions& opts = {}) const {
        return run_vigil({"check", "--policy", policy, "--db", db}, opts);
    }
    RunResult update(const RunOptions& opts = {}) const {
        return run_vigil({"update", "--policy", policy, "--db", db}, opts);
    }
};

RunOptions with_timeout(int seconds) {
    RunOptions o;
    o.timeout_seconds = seconds;
    return o;
}

// ---- reading the database directly, to see exactly what was recorded ----------------------

struct DbRow {
    std::string path;  // raw bytes
    int type = -1;     // vigil::FileType: 0 file, 1 directory, 2 symlink, 3 fifo, 4 socket, 5 char, 6 block
    bool has_sha256 = false;
    std::optional<std::string> error;
    std::optional<std::string> target;
    std::int64_t rdev = 0;
};

std::string column_bytes(sqlite3_stmt* st, int col) {
    const void* p = sqlite3_column_blob(st, col);
    const int n = sqlite3_column_bytes(st, col);
    if (p == nullptr || n <= 0) return {};
    return {static_cast<const char*>(p), static_cast<std::size_t>(n)};
}

using SqliteConn = std::unique_ptr<sqlite3, int (*)(sqlite3*)>;
using SqliteStmt = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;

SqliteConn open_readonly(const std::string& db) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    SqliteConn conn(raw, &sqlite3_close);
    REQUIRE(rc == SQLITE_OK);
    return conn;
}

std::vector<DbRow> db_rows(const std::string& db) {
    auto conn = open_readonly(db);
    sqlite3_stmt* raw = nullptr;
    REQUIRE(sqlite3_prepare_v2(conn.get(), "SELECT path, type, sha256 IS NOT NULL, error, target, rdev FROM files", -1,
                               &raw, nullptr) == SQLITE_OK);
    SqliteStmt st(raw, &sqlite3_finalize);
    std::vector<DbRow> rows;
    int rc = 0;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        DbRow r;
        r.path = column_bytes(st.get(), 0);
        r.type = sqlite3_column_int(st.get(), 1);
        r.has_sha256 = sqlite3_column_int(st.get(), 2) != 0;
        if (sqlite3_column_type(st.get(), 3) != SQLITE_NULL) r.error = column_bytes(st.get(), 3);
        if (sqlite3_column_type(st.get(), 4) != SQLITE_NULL) r.target = column_bytes(st.get(), 4);
        r.rdev = sqlite3_column_int64(st.get(), 5);
        rows.push_back(std::move(r));
    }
    REQUIRE(rc == SQLITE_DONE);
    return rows;
}

std::int64_t db_count(const std::string& db, const char* sql) {
    auto conn = open_readonly(db);
    sqlite3_stmt* raw = nullptr;
    REQUIRE(sqlite3_prepare_v2(conn.get(), sql, -1, &raw, nullptr) == SQLITE_OK);
    SqliteStmt st(raw, &sqlite3_finalize);
    REQUIRE(sqlite3_step(st.get()) == SQLITE_ROW);
    return sqlite3_column_int64(st.get(), 0);
}

std::size_t rows_with_path(const std::vector<DbRow>& rows, const std::string& path) {
    std::size_t n = 0;
    for (const auto& r : rows)
        if (r.path == path) ++n;
    return n;
}

const DbRow* row_for(const std::vector<DbRow>& rows, const std::string& path) {
    for (const auto& r : rows)
        if (r.path == path) return &r;
    return nullptr;
}

// ---- paths longer than PATH_MAX: built, written and removed relative to directory fds ------

// Components (directories, then the file name last) that make root/... exactly `total` bytes.
std::vector<std::string> long_path_components(const std::string& root, std::size_t total, char letter) {
    std::vector<std::string> parts;
    std::size_t len = root.size();
    while (total - len > 1 + 255) {
        parts.emplace_back(200, letter);
        len += 201;
    }
    parts.emplace_back(total - len - 1, 'f');
    return parts;
}

std::string join_all(const std::string& root, const std::vector<std::string>& parts) {
    std::string p = root;
    for (const auto& c : parts) p += "/" + c;
    return p;
}

// Opens the directory holding the last component (creating the directories when asked).
int open_parent_chain(const std::string& root, const std::vector<std::string>& parts, bool create) {
    int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        if (create && ::mkdirat(fd, parts[i].c_str(), 0755) < 0 && errno != EEXIST) {
            ::close(fd);
            FAIL("mkdirat failed at depth " << i << ": " << std::strerror(errno));
        }
        const int next = ::openat(fd, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        const int err = errno;
        ::close(fd);
        if (next < 0) FAIL("openat failed at depth " << i << ": " << std::strerror(err));
        fd = next;
    }
    return fd;
}

void write_at(int dirfd_, const std::string& name, std::string_view content, int flags) {
    const int fd = ::openat(dirfd_, name.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | flags, 0644);
    REQUIRE(fd >= 0);
    const ssize_t n = ::write(fd, content.data(), content.size());
    ::close(fd);
    REQUIRE(n == static_cast<ssize_t>(content.size()));
}

void write_long_path_file(const std::string& root, const std::vector<std::string>& parts, std::string_view content,
                          int flags) {
    const int fd = open_parent_chain(root, parts, true);
    write_at(fd, parts.back(), content, flags);
    ::close(fd);
}

// rm -rf below a directory fd, never following links and never building a full path.
void remove_at(int parent, const char* name) {
    const int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        ::unlinkat(parent, name, 0);
        return;
    }
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
        ::close(fd);
        return;
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
        const std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    for (const auto& n : names) remove_at(::dirfd(d), n.c_str());
    ::closedir(d);
    ::unlinkat(parent, name, AT_REMOVEDIR);
}

// TempDir's cleanup works with full paths (nftw): a tree deeper than PATH_MAX needs this first.
struct DeepCleanup {
    std::string dir;
    std::string name;
    ~DeepCleanup() {
        const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return;
        remove_at(fd, name.c_str());
        ::close(fd);
    }
};

// ---- seeing whether anything opened an entry ----------------------------------------------

// Names of the entries of `dir` that were opened (IN_OPEN) since construction.
class OpenWatch {
public:
    explicit OpenWatch(const std::string& dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
        REQUIRE(fd_ >= 0);
        REQUIRE(::inotify_add_watch(fd_, dir.c_str(), IN_OPEN) >= 0);
    }
    ~OpenWatch() { ::close(fd_); }
    OpenWatch(const OpenWatch&) = delete;
    OpenWatch& operator=(const OpenWatch&) = delete;

    std::set<std::string> opened() {
        alignas(inotify_event) char buf[65536];
        for (;;) {
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) break;
            for (std::size_t off = 0; off < static_cast<std::size_t>(n);) {
                inotify_event ev{};
                std::memcpy(&ev, buf + off, sizeof ev);
                if (ev.len > 0) names_.insert(std::string(buf + off + sizeof ev));
                off += sizeof ev + ev.len;
            }
        }
        return names_;
    }

private:
    int fd_;
    std::set<std::string> names_;
};

// ---- child processes -----------------------------------------------------------------------

struct Pipe {
    int fds[2] = {-1, -1};
    Pipe() { REQUIRE(::pipe2(fds, O_CLOEXEC) == 0); }
    ~Pipe() {
        for (const int fd : fds)
            if (fd >= 0) ::close(fd);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    int read_end() const { return fds[0]; }
    int write_end() const { return fds[1]; }
    void close_read() {
        ::close(fds[0]);
        fds[0] = -1;
    }
    void close_write() {
        ::close(fds[1]);
        fds[1] = -1;
    }
};

// A forked helper, SIGKILLed and reaped when the test leaves its scope.
class Child {
public:
    explicit Child(pid_t pid) : pid_(pid) { REQUIRE(pid_ > 0); }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            (void)wait();
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    int wait() {
        int st = 0;
        while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    void kill_and_wait() {
        ::kill(pid_, SIGKILL);
        (void)wait();
    }

private:
    pid_t pid_;
};

vigil::test::TestUser test_user() {
    REQUIRE(vigil::test::running_as_root());
    return vigil::test::ensure_user("vigiltest");
}

RunOptions as_user(const vigil::test::TestUser& u) {
    RunOptions o;
    o.uid = u.uid;
    o.gid = u.gid;
    return o;
}

void chown_tree(const std::string& path, uid_t uid, gid_t gid) {
    REQUIRE(::lchown(path.c_str(), uid, gid) == 0);
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;  // not a directory
    DIR* d = ::fdopendir(fd);
    REQUIRE(d != nullptr);
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
        const std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    for (const auto& n : names) chown_tree(path + "/" + n, uid, gid);
}

}  // namespace

// 1 -------------------------------------------------------------------------------------------
TEST_CASE("hostile file names and paths longer than PATH_MAX are recorded once and printed escaped",
          "[e2e][bad-input]") {
    Tree t;
    struct Name {
        std::string raw;
        std::string escaped;  // as DESIGN.md says it must print
    };
    std::string utf8_255;
    for (int i = 0; i < 127; ++i) utf8_255 += "\xc3\xa9";  // é
    utf8_255 += "x";
    const std::vector<Name> names = {
        {"new\nline", R"(new\x0aline)"},
        {"tab\tname", R"(tab\x09name)"},
        {"cr\rname", R"(cr\x0dname)"},
        {"esc\x1b[2Jclear", R"(esc\x1b[2Jclear)"},
        {"title\x1b]0;pwned\x07", R"(title\x1b]0;pwned\x07)"},
        {"del\x7fname", R"(del\x7fname)"},
        {"bad\xff", R"(bad\xff)"},
        {"overlong\xc0\xaf", R"(overlong\xc0\xaf)"},
        {"back\\slash", R"(back\\slash)"},
        {std::string(255, 'n'), std::string(255, 'n')},
        {utf8_255, utf8_255},
    };
    REQUIRE(names[9].raw.size() == 255);
    REQUIRE(utf8_255.size() == 255);
    for (const auto& n : names) vigil::test::write_file(t.root + "/" + n.raw, "original\n");

    // 4000 bytes: below PATH_MAX, plain mkdir works.
    const auto mid_parts = long_path_components(t.root, 4000, 'm');
    const std::string mid_path = join_all(t.root, mid_parts);
    REQUIRE(mid_path.size() == 4000);
    vigil::test::make_dirs(mid_path.substr(0, mid_path.rfind('/')));
    vigil::test::write_file(mid_path, "original\n");

    // 6000 bytes: beyond PATH_MAX, only reachable through directory fds.
    const auto deep_parts = long_path_components(t.root, 6000, 'd');
    const std::string deep_path = join_all(t.root, deep_parts);
    REQUIRE(deep_path.size() == 6000);
    const DeepCleanup cleanup{t.root, deep_parts.front()};
    write_long_path_file(t.root, deep_parts, "original\n", O_TRUNC);

    const std::size_t expected_entries = 1 + names.size() + mid_parts.size() + deep_parts.size();

    auto init = t.init();
    INFO(describe(init));
    REQUIRE(init.exit_code == 0);
    check_output_hygiene(init);

    // Exactly once each, under its raw bytes.
    const auto rows = db_rows(t.db);
    CHECK(rows.size() == expected_entries);
    for (const auto& n : names) {
        INFO("name " << printable(n.raw));
        CHECK(rows_with_path(rows, t.root + "/" + n.raw) == 1);
        const DbRow* r = row_for(rows, t.root + "/" + n.raw);
        REQUIRE(r != nullptr);
        CHECK(r->has_sha256);
        CHECK_FALSE(r->error.has_value());
    }
    CHECK(rows_with_path(rows, mid_path) == 1);
    CHECK(rows_with_path(rows, deep_path) == 1);
    if (const DbRow* r = row_for(rows, deep_path)) {
        CHECK(r->has_sha256);
        CHECK_FALSE(r->error.has_value());
    }

    // Change every file in place: each shows up once in "changed", escaped.
    for (const auto& n : names) vigil::test::append_file(t.root + "/" + n.raw, "more\n");
    vigil::test::append_file(mid_path, "more\n");
    write_long_path_file(t.root, deep_parts, "more\n", O_APPEND);

    auto check = t.check_json();
    check_output_hygiene(check);
    CHECK(check.exit_code == kExitChanged);
    const json j = parse_report(check);
    INFO(printable(check.out));
    CHECK(j.at("added").empty());
    CHECK(j.at("removed").empty());
    CHECK(j.at("unreadable").empty());
    CHECK(j.at("changed").size() == names.size() + 2);
    for (const auto& n : names) {
        const std::string want = t.root + "/" + n.escaped;
        INFO("escaped path " << printable(want));
        CHECK(count_path(j.at("changed"), want) == 1);
        if (const json* e = find_path(j.at("changed"), want)) CHECK(e->at("changes").contains("sha256"));
    }
    CHECK(count_path(j.at("changed"), mid_path) == 1);
    CHECK(count_path(j.at("changed"), deep_path) == 1);
    // The raw names never reach the output, in JSON or in text.
    CHECK(check.out.find("new\nline") == std::string::npos);
    CHECK(check.out.find('\x1b') == std::string::npos);

    auto text = t.check_text();
    check_output_hygiene(text);
    CHECK(text.exit_code == kExitChanged);
    for (const auto& n : names) {
        INFO("escaped path " << printable(n.escaped));
        CHECK(text.out.find("~ " + t.root + "/" + n.escaped + "\n") != std::string::npos);
    }
    CHECK(text.out.find("~ " + deep_path + "\n") != std::string::npos);
    CHECK(text.out.find("new\nline") == std::string::npos);
}

// 2 -------------------------------------------------------------------------------------------
TEST_CASE("a FIFO without a writer (and a socket) is recorded and never opened", "[e2e][bad-input]") {
    SECTION("present at init") {
        Tree t;
        REQUIRE(::mkfifo((t.root + "/fifo").c_str(), 0644) == 0);
        vigil::test::write_file(t.root + "/plain", "x");
        OpenWatch watch(t.root);

        auto init = t.init(with_timeout(30));
        INFO(describe(init));
        REQUIRE(init.exit_code == 0);
        CHECK(watch.opened().count("fifo") == 0);
        CHECK(watch.opened().count("plain") == 1);  // the watch works: hashed files are seen opened

        const auto rows = db_rows(t.db);
        const DbRow* r = row_for(rows, t.root + "/fifo");
        REQUIRE(r != nullptr);
        CHECK(r->type == 3);
        CHECK_FALSE(r->has_sha256);
        CHECK_FALSE(r->error.has_value());

        auto check = t.check_json(with_timeout(30));
        INFO(describe(check));
        CHECK(check.exit_code == 0);
        CHECK(watch.opened().count("fifo") == 0);
    }
    SECTION("created after init: an added entry of type fifo") {
        Tree t;
        auto init = t.init(with_timeout(30));
        INFO(describe(init));
        REQUIRE(init.exit_code == 0);
        REQUIRE(::mkfifo((t.root + "/fifo").c_str(), 0600) == 0);
        // A listening-less unix socket too: another thing that must never be opened.
        const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(s >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const std::string sock = t.root + "/sock";
        REQUIRE(sock.size() < sizeof addr.sun_path);
        std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
        const int bound = ::bind(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        ::close(s);
        REQUIRE(bound == 0);
        OpenWatch watch(t.root);

        auto check = t.check_json(with_timeout(30));
        const json j = parse_report(check);
        INFO(describe(check));
        CHECK(check.exit_code == (kExitAdded | kExitChanged));  // the directory's mtime moved too
        const json* fifo = find_path(j.at("added"), t.root + "/fifo");
        REQUIRE(fifo != nullptr);
        CHECK(fifo->at("type") == "fifo");
        CHECK((!fifo->contains("sha256") || fifo->at("sha256").is_null()));
        CHECK_FALSE(fifo->contains("error"));
        const json* so = find_path(j.at("added"), sock);
        REQUIRE(so != nullptr);
        CHECK(so->at("type") == "socket");
        CHECK(watch.opened().count("fifo") == 0);
        CHECK(watch.opened().count("sock") == 0);
    }
}

// 3 -------------------------------------------------------------------------------------------
TEST_CASE("device nodes are recorded as devices and never opened", "[e2e][bad-input][root]") {
    REQUIRE(vigil::test::running_as_root());
    Tree t;
    REQUIRE(::mknod((t.root + "/null").c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0);
    REQUIRE(::mknod((t.root + "/loop").c_str(), S_IFBLK | 0600, ::makedev(7, 0)) == 0);
    REQUIRE(::mknod((t.root + "/nodev").c_str(), S_IFCHR | 0600, ::makedev(250, 250)) == 0);  // no driver
    OpenWatch watch(t.root);

    auto init = t.init(with_timeout(30));
    INFO(describe(init));
    REQUIRE(init.exit_code == 0);
    const auto opened = watch.opened();
    CHECK(opened.count("null") == 0);
    CHECK(opened.count("loop") == 0);
    CHECK(opened.count("nodev") == 0);

    const auto rows = db_rows(t.db);
    CHECK(rows.size() == 4);
    for (const auto& [name, type] : {std::pair<std::string, int>{"null", 5}, {"loop", 6}, {"nodev", 5}}) {
        INFO(name);
        const DbRow* r = row_for(rows, t.root + "/" + name);
        REQUIRE(r != nullptr);
        CHECK(r->type == type);
        CHECK_FALSE(r->has_sha256);
        CHECK_FALSE(r->error.has_value());
    }

    // Replace /null by a node with other numbers: a change of the device, still not opened.
    REQUIRE(::unlink((t.root + "/null").c_str()) == 0);
    REQUIRE(::mknod((t.root + "/null").c_str(), S_IFCHR | 0666, ::makedev(1, 5)) == 0);
    auto check = t.check_json(with_timeout(30));
    const json j = parse_report(check);
    INFO(describe(check));
    CHECK((check.exit_code & kExitChanged) != 0);
    const json* e = find_path(j.at("changed"), t.root + "/null");
    REQUIRE(e != nullptr);
    CHECK(e->at("type") == "char-device");
    CHECK_FALSE(e->at("changes").contains("sha256"));
    CHECK(watch.opened().count("null") == 0);

    // The watch does see an open of a device node (the assertions above are not vacuous).
    const int fd = ::open((t.root + "/null").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    ::close(fd);
    CHECK(watch.opened().count("null") == 1);
}

// 4 -------------------------------------------------------------------------------------------
TEST_CASE("symlink loops and links out of the tree are recorded as links and never followed", "[e2e][bad-input]") {
    auto make_links = [](const std::string& root) {
        REQUIRE(::symlink("b", (root + "/a").c_str()) == 0);
        REQUIRE(::symlink("a", (root + "/b").c_str()) == 0);
        REQUIRE(::symlink("self", (root + "/self").c_str()) == 0);
        REQUIRE(::symlink("/etc/shadow", (root + "/shadow").c_str()) == 0);
        REQUIRE(::symlink("/", (root + "/rootlink").c_str()) == 0);
        REQUIRE(::symlink("/etc", (root + "/etclink").c_str()) == 0);
    };
    const std::vector<std::pair<std::string, std::string>> links = {
        {"a", "b"}, {"b", "a"}, {"self", "self"}, {"shadow", "/etc/shadow"}, {"rootlink", "/"}, {"etclink", "/etc"}};

    SECTION("present at init") {
        Tree t;
        make_links(t.root);
        auto init = t.init(with_timeout(30));
        INFO(describe(init));
        REQUIRE(init.exit_code == 0);
        const auto rows = db_rows(t.db);
        CHECK(rows.size() == 1 + links.size());
        for (const auto& r : rows) {
            INFO(printable(r.path));
            CHECK((r.path == t.root || starts_with(r.path, t.root + "/")));
        }
        for (const auto& [name, target] : links) {
            INFO(name);
            const DbRow* r = row_for(rows, t.root + "/" + name);
            REQUIRE(r != nullptr);
            CHECK(r->type == 2);
            CHECK(r->target == target);
            CHECK_FALSE(r->has_sha256);
        }
        auto check = t.check_json(with_timeout(30));
        const json j = parse_report(check);
        INFO(describe(check));
        CHECK(check.exit_code == 0);
        CHECK(j.at("summary").at("entries_checked") == 1 + links.size());
    }
    SECTION("created after init: added symlinks with their targets, nothing under /etc") {
        Tree t;
        auto init = t.init(with_timeout(30));
        INFO(describe(init));
        REQUIRE(init.exit_code == 0);
        make_links(t.root);
        auto check = t.check_json(with_timeout(30));
        const json j = parse_report(check);
        INFO(describe(check));
        CHECK(check.exit_code == (kExitAdded | kExitChanged));
        CHECK(j.at("added").size() == links.size());
        for (const auto& [name, target] : links) {
            INFO(name);
            const json* e = find_path(j.at("added"), t.root + "/" + name);
            REQUIRE(e != nullptr);
            CHECK(e->at("type") == "symlink");
            CHECK(e->at("target") == target);
        }
        for (const auto& p : all_report_paths(j)) {
            INFO(p);
            CHECK_FALSE(starts_with(p, "/etc"));
            CHECK((p == t.root || starts_with(p, t.root + "/")));
        }
    }
    SECTION("a rule whose path is a symlink to / records the link only") {
        TempDir d;
        REQUIRE(::symlink("/", (d / "rootlink").c_str()) == 0);
        const std::string policy = vigil::test::write_policy(d, d / "rootlink", "\"recursive\": true");
        const std::string db = d / "state/vigil.db";
        auto init = run_vigil({"init", "--policy", policy, "--db", db}, with_timeout(30));
        INFO(describe(init));
        REQUIRE(init.exit_code == 0);
        CHECK_THAT(init.err, Catch::Contains("symlink"));
        const auto rows = db_rows(db);
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].path == d / "rootlink");
        CHECK(rows[0].type == 2);
        CHECK(rows[0].target == std::string("/"));
    }
}

// 5 -------------------------------------------------------------------------------------------
TEST_CASE("entries unreadable for the user running vigil are listed with the reason", "[e2e][bad-input][root]") {
    const auto user = test_user();
    Tree t;
    vigil::test::write_file(t.root + "/readable", "open to all\n");
    vigil::test::write_file(t.root + "/secret", "nobody may read this\n");
    vigil::test::make_dirs(t.root + "/locked/inner");
    vigil::test::write_file(t.root + "/locked/hidden", "h\n");
    REQUIRE(::mkdir((t.dir / "state").c_str(), 0700) == 0);
    chown_tree(t.root, user.uid, user.gid);
    chown_tree(t.dir / "state", user.uid, user.gid);
    REQUIRE(::chmod((t.root + "/secret").c_str(), 0) == 0);
    REQUIRE(::chmod((t.root + "/locked").c_str(), 0) == 0);

    auto init = t.init(as_user(user));
    INFO(describe(init));
    REQUIRE(init.exit_code == 0);
    CHECK_THAT(init.out, Catch::Contains("Permission denied"));

    vigil::test::write_file(t.root + "/readable", "changed\n");  // in place: same inode and owner
    auto check = t.check_json(as_user(user));
    const json j = parse_report(check);
    INFO(describe(check));
    CHECK(check.exit_code == kExitChanged);
    const json& bad = j.at("unreadable");
    CHECK(bad.size() == 2);
    for (const char* name : {"/secret", "/locked"}) {
        INFO(name);
        const json* e = find_path(bad, t.root + name);
        REQUIRE(e != nullptr);
        CHECK_THAT(e->at("error").get<std::string>(), Catch::Contains("Permission denied"));
    }
    CHECK(j.at("summary").at("unreadable") == 2);
    // The rest was hashed: the readable file's content change is seen, old hash and new.
    const json* r = find_path(j.at("changed"), t.root + "/readable");
    REQUIRE(r != nullptr);
    CHECK(r->at("changes").at("sha256").at("old").is_string());
    CHECK(r->at("changes").at("sha256").at("new").is_string());
    // Nothing below the locked directory could be seen, so nothing is invented about it.
    for (const auto& p : all_report_paths(j)) CHECK_FALSE(starts_with(p, t.root + "/locked/"));
}

// 6 -------------------------------------------------------------------------------------------
TEST_CASE("a file that grows while it is hashed is hashed or recorded as changed without a crash", "[e2e][bad-input]") {
    Tree t;
    const std::string big = t.root + "/growing.log";
    {
        std::string chunk(std::size_t{1} << 20, 'a');
        const int fd = ::open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        for (int i = 0; i < 50; ++i)
            REQUIRE(::write(fd, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()));
        ::close(fd);
    }
    vigil::test::write_file(t.root + "/steady", "steady\n");

    Pipe ready;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ready.close_read();
        const int fd = ::open(big.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0) ::_exit(1);
        static char chunk[1 << 20];
        std::memset(chunk, 'g', sizeof chunk);
        std::uint64_t total = 0;
        bool told = false;
        while (total < (std::uint64_t{256} << 20)) {  // ~200 MB/s, at most 256 MiB
            if (::write(fd, chunk, sizeof chunk) > 0) total += sizeof chunk;
            if (!told) {
                const char one = 1;
                told = ::write(ready.write_end(), &one, 1) == 1;
            }
            ::usleep(5000);
        }
        for (;;) ::pause();
    }
    Child writer(pid);
    ready.close_write();
    char one = 0;
    REQUIRE(::read(ready.read_end(), &one, 1) == 1);

    auto init = t.init();
    writer.kill_and_wait();
    INFO(describe(init));
    REQUIRE(init.exit_code == 0);
    check_output_hygiene(init);

    const auto rows = db_rows(t.db);
    CHECK(rows.size() == 3);
    REQUIRE(rows_with_path(rows, big) == 1);
    const DbRow* r = row_for(rows, big);
    INFO("sha256 recorded: " << r->has_sha256 << ", error: " << r->error.value_or("(none)"));
    const bool hashed = r->has_sha256 && !r->error.has_value();
    const bool refused = !r->has_sha256 && r->error == std::string("file changed while it was hashed");
    CHECK((hashed || refused));
    if (refused) CHECK_THAT(init.out, Catch::Contains(big + ": file changed while it was hashed"));
    const DbRow* steady = row_for(rows, t.root + "/steady");
    REQUIRE(steady != nullptr);
    CHECK(steady->has_sha256);

    auto check = t.check_json();
    (void)parse_report(check);
    INFO(describe(check));
    CHECK(check.exit_code >= 0);
    CHECK(check.exit_code <= 7);
}

// 7 -------------------------------------------------------------------------------------------
TEST_CASE("files and directories deleted during the walk: no crash and no error for what vanished",
          "[e2e][bad-input]") {
    Tree t;
    constexpr int kDirs = 100;
    constexpr int kFiles = 100;
    constexpr int kSubFiles = 30;
    auto dir_name = [](int i) { return "d" + std::to_string(1000 + i); };
    for (int d = 0; d < kDirs; ++d) {
        const std::string dir = t.root + "/" + dir_name(d);
        vigil::test::make_dirs(dir + "/sub");
        for (int f = 0; f < kFiles; ++f) vigil::test::write_file(dir + "/f" + std::to_string(f), "content");
        for (int f = 0; f < kSubFiles; ++f) vigil::test::write_file(dir + "/sub/g" + std::to_string(f), "content");
    }

    // The deleter starts when vigil has created its database, i.e. just before the walk.
    const std::string db = t.db;
    const std::string root = t.root;
    const pid_t pid = ::fork();
    if (pid == 0) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        struct stat st {};
        while (::stat(db.c_str(), &st) < 0) {
            if (std::chrono::steady_clock::now() > deadline) ::_exit(2);
            ::usleep(200);
        }
        const int rootfd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) ::_exit(1);
        for (int d = kDirs - 1; d >= 0; --d) remove_at(rootfd, dir_name(d).c_str());  // whole directories vanish
        ::_exit(0);
    }
    Child deleter(pid);

    auto init = t.init();
    const int deleted = deleter.wait();
    INFO(describe(init));
    CHECK(deleted == 0);
    REQUIRE(init.exit_code == 0);
    check_output_hygiene(init);
    CHECK(init.out.find("could not be read") == std::string::npos);

    const auto rows = db_rows(t.db);
    INFO("entries recorded while the tree was being deleted: " << rows.size() << " of "
                                                               << 1 + kDirs * (2 + kFiles + kSubFiles));
    std::size_t errors = 0;
    std::string first_errors;
    for (const auto& r : rows) {
        if (!r.error) continue;
        if (++errors <= 10) first_errors += printable(r.path) + ": " + *r.error + "\n";
    }
    INFO("entries recorded with an error:\n" << first_errors);
    CHECK(errors == 0);

    auto check = t.check_json();
    const json j = parse_report(check);
    INFO(describe(check));
    CHECK(check.exit_code >= 0);
    CHECK(check.exit_code <= 7);
    CHECK(j.at("added").empty());
    CHECK(j.at("unreadable").empty());
}

// 8 -------------------------------------------------------------------------------------------
TEST_CASE("an empty watched tree", "[e2e][bad-input]") {
    Tree t;
    auto init = t.init();
    INFO(describe(init));
    REQUIRE(init.exit_code == 0);
    auto check = t.check_json();
    const json j = parse_report(check);
    INFO(describe(check));
    CHECK(check.exit_code == 0);
    CHECK(j.at("summary").at("entries_checked") == 1);
    CHECK(j.at("warnings").empty());
}

// 9 -------------------------------------------------------------------------------------------
TEST_CASE("a missing rule path is a warning but a missing policy file is an error", "[e2e][bad-input]") {
    SECTION("rule path does not exist") {
        Tree t;
        vigil::test::write_file(t.root + "/file", "x");
        // A hostile name, too: the warning must print it escaped.
        const std::string missing = t.dir / "no-such\x1b\x07\ndir";  // no '[': a glob
        const std::string missing_escaped = t.dir / R"(no-such\x1b\x07\x0adir)";
        const json policy = {{"rules", json::array({{{"path", t.root}}, {{"path", missing}}})}};
        write_policy_text(t.policy, policy.dump() + "\n");
        auto init = t.init();
        INFO(describe(init));
        REQUIRE(init.exit_code == 0);
        CHECK_THAT(init.err, Catch::StartsWith("vigil: warning: ") && Catch::Contains(missing_escaped));
        check_output_hygiene(init);
        const auto rows = db_rows(t.db);
        CHECK(rows.size() == 2);  // the other rule's baseline was built
        auto check = t.check_json();
        const json j = parse_report(check);
        INFO(describe(check));
        CHECK(check.exit_code == 0);
        bool warned = false;
        for (const auto& w : j.at("warnings"))
            warned = warned || w.get<std::string>().find(missing_escaped) != std::string::npos;
        CHECK(warned);
        check_output_hygiene(check);
    }
    SECTION("--policy names a file that does not exist") {
        Tree t;
        const std::string missing = t.dir / "absent-policy.json";
        for (const char* cmd : {"init", "check"}) {
            auto r = run_vigil({cmd, "--policy", missing, "--db", t.db});
            INFO(cmd << "\n" << describe(r));
            CHECK(r.exit_code == kExitPolicy);
            CHECK_THAT(r.err, Catch::StartsWith("vigil: error: ") && Catch::Contains(missing) &&
                                  Catch::Contains("No such file"));
        }
        CHECK_FALSE(exists(t.db));
    }
}

// 10 ------------------------------------------------------------------------------------------
TEST_CASE("malformed and hostile policies are refused with the file and the problem", "[e2e][bad-input]") {
    TempDir d;
    const std::string root = d / "tree";
    REQUIRE(::mkdir(root.c_str(), 0755) == 0);
    const std::string db = d / "state/vigil.db";
    const std::string rule = "{ \"path\": \"" + root + "\" }";
    const std::string huge(3'000'000, 'a');

    struct Case {
        const char* what;
        std::string text;
        std::vector<std::string> expect;  // substrings of stderr besides the file name
        mode_t mode = 0644;
    };
    const std::vector<Case> cases = {
        {"invalid JSON", "// comment\n{ \"rules\": [\n  { \"path\": \"" + root + "\" },, \n] }\n", {"line 3"}},
        {"empty file", "", {"line"}},
        {"unknown key",
         "{ \"rules\": [ { \"path\": \"" + root + "\", \"recursiv\": true } ] }",
         {"rule 1", "\"recursiv\""}},
        {"unclosed glob",
         "{ \"rules\": [ { \"path\": \"" + root + "\", \"exclude\": [\"[abc\"] } ] }",
         {"rule 1", "[abc", "unclosed"}},
        {"relative path", "{ \"rules\": [ { \"path\": \"etc/passwd\" } ] }", {"rule 1", "relative"}},
        {"duplicate rule", "{ \"rules\": [ " + rule + ", " + rule + " ] }", {"rule 2", "duplicate"}},
        {"unknown attribute",
         "{ \"rules\": [ { \"path\": \"" + root + "\", \"check\": [\"sha256\", \"md5\"] } ] }",
         {"rule 1", "\"md5\"", "check"}},
        {"10000-deep nesting in rules",
         "{ \"rules\": " + std::string(10000, '[') + std::string(10000, ']') + " }",
         {"deep"}},
        {"10000-deep nesting at the top", std::string(10000, '[') + std::string(10000, ']'), {"deep"}},
        {"10000-deep objects",
         [] {
             std::string s;
             for (int i = 0; i < 10000; ++i) s += "{\"a\":";
             s += "1";
             s += std::string(10000, '}');
             return s;
         }(),
         {"deep"}},
        {"3 MB path", "{ \"rules\": [ { \"path\": \"/" + huge + "\" } ] }", {"rule 1", "longer"}},
        {"3 MB label",
         "{ \"rules\": [ { \"path\": \"" + root + "\", \"label\": \"" + huge + "\" } ] }",
         {"rule 1", "label"}},
        {"3 MB unknown key",
         "{ \"rules\": [ { \"path\": \"" + root + "\", \"" + huge + "\": 1 } ] }",
         {"rule 1", "unknown key"}},
        {"world-writable", "{ \"rules\": [ " + rule + " ] }", {"writable"}, 0666},
        {"group-writable", "{ \"rules\": [ " + rule + " ] }", {"writable"}, 0664},
        {"control characters in a key",
         "{ \"rules\": [ { \"path\": \"" + root + "\", \"\\u001b[2Jx\\n\": 1 } ] }",
         {"rule 1", "unknown key", R"(\x1b[2Jx\x0a)"}},
        {"invalid UTF-8", "{ \"rules\": [ { \"path\": \"" + root + "\xff\x1b[2J\" } ] }", {"UTF-8", R"(\xff)"}},
    };
    SECTION("malformed policies") {
        int n = 0;
        for (const auto& c : cases) {
            const std::string path = d / ("policy-" + std::to_string(++n) + ".json");
            write_policy_text(path, c.text, c.mode);
            auto r = run_vigil({"init", "--policy", path, "--db", db}, with_timeout(60));
            INFO(c.what << "\n" << describe(r));
            CHECK(r.exit_code == kExitPolicy);
            CHECK_THAT(r.err, Catch::StartsWith("vigil: error: policy " + path));
            for (const auto& e : c.expect) CHECK_THAT(r.err, Catch::Contains(e));
            // A hostile value is not echoed back whole: one line a human can read.
            CHECK(r.err.size() < 4096);
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
            check_output_hygiene(r);
            CHECK_FALSE(exists(db));
        }
    }
    SECTION("a policy that is a symlink") {
        const std::string real = d / "real-policy.json";
        write_policy_text(real, "{ \"rules\": [ " + rule + " ] }");
        const std::string link = d / "link-policy.json";
        REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
        auto r = run_vigil({"init", "--policy", link, "--db", db});
        INFO(describe(r));
        CHECK(r.exit_code == kExitPolicy);
        CHECK_THAT(r.err, Catch::Contains(link) && Catch::Contains("symlink"));
        CHECK_FALSE(exists(db));
        // The same policy through its real name is fine.
        auto ok = run_vigil({"init", "--policy", real, "--db", db});
        INFO(describe(ok));
        CHECK(ok.exit_code == 0);
    }
    SECTION("a policy that is a FIFO is refused without waiting for a writer") {
        const std::string fifo = d / "fifo-policy.json";
        REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
        auto r = run_vigil({"init", "--policy", fifo, "--db", db}, with_timeout(30));
        INFO(describe(r));
        CHECK(r.exit_code == kExitPolicy);
        CHECK_THAT(r.err, Catch::Contains(fifo) && Catch::Contains("not a regular file"));
    }
}

// 11 ------------------------------------------------------------------------------------------
TEST_CASE("a database that is garbage or empty is refused and left untouched", "[e2e][bad-input]") {
    Tree t;
    vigil::test::write_file(t.root + "/file", "x");
    REQUIRE(::mkdir((t.dir / "state").c_str(), 0700) == 0);

    SECTION("random bytes") {
        std::mt19937 gen(12345);
        std::string garbage(64 * 1024, '\0');
        for (auto& c : garbage) c = static_cast<char>(gen() & 0xffU);
        vigil::test::write_file(t.db, garbage);
        for (const char* cmd : {"init", "check", "update"}) {
            auto r = run_vigil({cmd, "--policy", t.policy, "--db", t.db});
            INFO(cmd << "\n" << describe(r));
            CHECK(r.exit_code == kExitDatabase);
            CHECK_THAT(r.err, Catch::StartsWith("vigil: error: ") && Catch::Contains(t.db) &&
                                  Catch::Contains("not an SQLite database"));
            CHECK(vigil::test::read_file(t.db) == garbage);
        }
        for (const char* suffix : {"-wal", "-shm", "-journal"}) {
            INFO(suffix);
            CHECK_FALSE(exists(t.db + suffix));
        }
    }
    SECTION("an empty file") {
        vigil::test::write_file(t.db, "");
        for (const char* cmd : {"check", "update"}) {
            auto r = run_vigil({cmd, "--policy", t.policy, "--db", t.db});
            INFO(cmd << "\n" << describe(r));
            CHECK(r.exit_code == kExitDatabase);
            CHECK_THAT(r.err, Catch::StartsWith("vigil: error: ") && Catch::Contains(t.db) && Catch::Contains("empty"));
            struct stat st {};
            REQUIRE(::stat(t.db.c_str(), &st) == 0);
            CHECK(st.st_size == 0);
        }
        // What `vigil init` killed before its first write leaves: init takes it over
        // (nothing is in it to lose), so a crash never blocks the next init.
        auto r = run_vigil({"init", "--policy", t.policy, "--db", t.db});
        INFO(describe(r));
        CHECK(r.exit_code == 0);
    }
    SECTION("a directory") {
        REQUIRE(::mkdir(t.db.c_str(), 0700) == 0);
        auto r = run_vigil({"init", "--policy", t.policy, "--db", t.db});
        INFO(describe(r));
        CHECK(r.exit_code == kExitDatabase);
        CHECK_THAT(r.err, Catch::Contains(t.db));
    }
}

TEST_CASE("a database the user cannot write", "[e2e][bad-input][root]") {
    const auto user = test_user();
    Tree t;
    vigil::test::write_file(t.root + "/file", "x");

    SECTION("init into a root-owned directory") {
        const std::string rodir = t.dir / "rodir";
        REQUIRE(::mkdir(rodir.c_str(), 0755) == 0);
        const std::string db = rodir + "/vigil.db";
        auto r = run_vigil({"init", "--policy", t.policy, "--db", db}, as_user(user));
        INFO(describe(r));
        CHECK(r.exit_code == kExitDatabase);
        CHECK_THAT(r.err, Catch::StartsWith("vigil: error: ") && Catch::Contains(db));
        CHECK_FALSE(exists(db));
    }
    SECTION("update of a root-owned 0644 database") {
        auto init = t.init();
        INFO(describe(init));
        REQUIRE(init.exit_code == 0);
        REQUIRE(::chmod((t.dir / "state").c_str(), 0755) == 0);
        REQUIRE(::chmod(t.db.c_str(), 0644) == 0);
        vigil::test::write_file(t.root + "/file", "changed");
        const std::string before = vigil::test::read_file(t.db);

        auto r = t.update(as_user(user));
        INFO(describe(r));
        CHECK(r.exit_code == kExitDatabase);
        CHECK_THAT(r.err, Catch::StartsWith("vigil: error: ") && Catch::Contains(t.db) && Catch::Contains("read-only"));
        CHECK(vigil::test::read_file(t.db) == before);
        auto check = t.check_json();
        const json j = parse_report(check);
        INFO(describe(check));
        CHECK(check.exit_code == kExitChanged);  // the change was not accepted
        CHECK(j.at("summary").at("baseline").at("id") == 1);
    }
}

TEST_CASE("a database locked by another writer", "[e2e][bad-input]") {
    Tree t;
    vigil::test::write_file(t.root + "/file", "x");
    auto init = t.init();
    INFO(describe(init));
    REQUIRE(init.exit_code == 0);

    Pipe ready;
    Pipe release;
    const std::string db = t.db;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ready.close_read();
        release.close_write();
        sqlite3* c = nullptr;
        char ok = 0;
        if (sqlite3_open_v2(db.c_str(), &c, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
            sqlite3_exec(c, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK)
            ok = 1;
        if (::write(ready.write_end(), &ok, 1) != 1) ::_exit(3);
        char go = 0;
        if (::read(release.read_end(), &go, 1) < 0) go = 0;  // until told, or until the test is gone
        if (ok) sqlite3_exec(c, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_close(c);
        ::_exit(ok ? 0 : 1);
    }
    Child holder(pid);
    ready.close_write();
    release.close_read();
    char ok = 0;
    REQUIRE(::read(ready.read_end(), &ok, 1) == 1);
    REQUIRE(ok == 1);

    RunOptions busy;
    busy.env = {"VIGIL_BUSY_TIMEOUT_MS=500"};
    busy.timeout_seconds = 60;

    vigil::test::write_file(t.root + "/file", "to be accepted");
    const auto start = std::chrono::steady_clock::now();
    auto upd = t.update(busy);
    const auto took = std::chrono::steady_clock::now() - start;
    {
        INFO(describe(upd));
        CHECK(upd.exit_code == kExitDatabase);
        CHECK_THAT(upd.err, Catch::StartsWith("vigil: error: ") && Catch::Contains(t.db) && Catch::Contains("locked"));
        CHECK(took < std::chrono::seconds(30));
    }
    // WAL: a reader is not blocked by the writer's lock (DESIGN.md: readers never block).
    auto during = t.check_json(busy);
    {
        INFO(describe(during));
        CHECK(during.exit_code == kExitChanged);
        const json j = parse_report(during);
        CHECK(j.at("summary").at("baseline").at("id") == 1);
    }

    const char go = 1;
    REQUIRE(::write(release.write_end(), &go, 1) == 1);
    CHECK(holder.wait() == 0);

    // The previous baseline is intact: restore the content and the tree checks clean.
    vigil::test::write_file(t.root + "/file", "x");
    auto after = t.check_json();
    const json j = parse_report(after);
    INFO(describe(after));
    CHECK(j.at("summary").at("baseline").at("id") == 1);
    CHECK(after.exit_code == (j.at("changed").empty() ? 0 : kExitChanged));
    CHECK(j.at("changed").size() <= 1);
    for (const auto& c : j.at("changed")) {  // rewriting "x" moved only the file's times
        CHECK(c.at("path") == t.root + "/file");
        CHECK_FALSE(c.at("changes").contains("sha256"));
    }
    CHECK(db_count(t.db, "SELECT count(*) FROM baselines") == 1);
    CHECK(db_count(t.db, "SELECT count(*) FROM events") == 0);
    auto upd2 = t.update(busy);
    INFO(describe(upd2));
    CHECK(upd2.exit_code == 0);
    CHECK(db_count(t.db, "SELECT count(*) FROM baselines") == 2);
}

// 12 ------------------------------------------------------------------------------------------
TEST_CASE("init twice on the same database is refused and keeps the first baseline", "[e2e][bad-input]") {
    Tree t;
    vigil::test::write_file(t.root + "/file", "first\n");
    auto first = t.init();
    INFO(describe(first));
    REQUIRE(first.exit_code == 0);

    vigil::test::write_file(t.root + "/file", "second\n");
    vigil::test::write_file(t.root + "/new", "n");
    auto again = t.init();
    INFO(describe(again));
    CHECK(again.exit_code == kExitUsage);
    CHECK_THAT(again.err,
               Catch::StartsWith("vigil: error: ") && Catch::Contains(t.db) && Catch::Contains("vigil update"));
    CHECK(again.out.empty());
    CHECK(db_count(t.db, "SELECT count(*) FROM baselines") == 1);

    auto check = t.check_json();
    const json j = parse_report(check);
    INFO(describe(check));
    CHECK(check.exit_code == (kExitAdded | kExitChanged));  // measured against the first baseline
    CHECK(j.at("summary").at("baseline").at("id") == 1);
    CHECK(find_path(j.at("added"), t.root + "/new") != nullptr);
    const json* f = find_path(j.at("changed"), t.root + "/file");
    REQUIRE(f != nullptr);
    CHECK(f->at("changes").contains("sha256"));
}
