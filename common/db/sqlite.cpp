#include "common/db/sqlite.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <vector>

#include "common/embedded_text.h"
#include "common/escape.h"
#include "common/sys.h"
#include "common/walker.h"

namespace vigil::db {
namespace {

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr const char* kCreatingInfix = ".creating.";

void remove_with_sidecars(const std::string& path) {
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
}

// `<db>.creating.<pid>` files of creators that were killed: nothing else ever opens them.
void remove_dead_creations(const std::string& path) {
    const std::string dir = dir_of(path);
    const std::string prefix = path.substr(path.rfind('/') + 1) + kCreatingInfix;
    DIR* raw = ::opendir(dir.c_str());
    if (raw == nullptr) return;
    const std::unique_ptr<DIR, int (*)(DIR*)> d(raw, ::closedir);
    std::vector<std::string> dead;
    while (const dirent* e = ::readdir(d.get())) {
        const std::string_view name(e->d_name);
        if (!name.starts_with(prefix)) continue;
        const std::string_view rest = name.substr(prefix.size());
        pid_t pid = 0;
        const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
        if (ec != std::errc{} || pid <= 0 || pid == ::getpid()) continue;
        if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
        dead.emplace_back(name.substr(0, static_cast<std::size_t>(end - name.data())));
    }
    for (const auto& base : dead) remove_with_sidecars(join_path(dir, base));
}

}  // namespace

int busy_timeout_ms() {
    if (const char* env = std::getenv("VIGIL_BUSY_TIMEOUT_MS")) {
        char* end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && v >= 0 && v <= 3'600'000) return static_cast<int>(v);
    }
    return 5000;
}

Result<Stmt> Stmt::prepare(sqlite3* db, std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    const int rc =
        sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
        return Error::msg("SQLite prepare failed (" + std::string(sqlite3_errmsg(db)) + ") for: " + std::string(sql));
    }
    Stmt s;
    s.stmt_.reset(raw);
    s.sql_ = std::string(sql);
    return s;
}

Result<int> Stmt::index_of(const char* name) const {
    const int idx = sqlite3_bind_parameter_index(stmt_.get(), name);
    if (idx == 0) return Error::msg(std::string("SQL has no parameter ") + name + ": " + sql_);
    return idx;
}

#define VIGIL_BIND(call)                                                                                    \
    auto idx = index_of(name);                                                                              \
    if (!idx) return idx.error();                                                                           \
    const int rc = (call);                                                                                  \
    if (rc != SQLITE_OK) return Error::msg(std::string("SQLite bind ") + name + ": " + sqlite3_errstr(rc)); \
    return {};

Result<void> Stmt::bind_int(const char* name, std::int64_t v){
    VIGIL_BIND(sqlite3_bind_int64(stmt_.get(), idx.value(), v))} Result<void> Stmt::bind_text(const char* name,
                                                                                              std::string_view v){
    VIGIL_BIND(sqlite3_bind_text64(stmt_.get(), idx.value(), v.data(), v.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8))} Result<void> Stmt::bind_blob(const char* name, std::string_view v) {
    // An empty blob must stay an empty blob, not NULL: SQLite treats a null pointer as NULL.
    static constexpr char kEmpty = 0;
    VIGIL_BIND(
        sqlite3_bind_blob64(stmt_.get(), idx.value(), v.empty() ? &kEmpty : v.data(), v.size(), SQLITE_TRANSIENT))
}
Result<void> Stmt::bind_null(const char* name) { VIGIL_BIND(sqlite3_bind_null(stmt_.get(), idx.value())) }
#undef VIGIL_BIND

namespace {
Result<void> bind_result(int rc, int idx) {
    if (rc == SQLITE_OK) return {};
    return Error::msg("SQLite bind of parameter " + std::to_string(idx) + ": " + sqlite3_errstr(rc));
}
}  // namespace

Result<void> Stmt::bind_int_at(int idx, std::int64_t v) {
    return bind_result(sqlite3_bind_int64(stmt_.get(), idx, v), idx);
}
Result<void> Stmt::bind_null_at(int idx) { return bind_result(sqlite3_bind_null(stmt_.get(), idx), idx); }
Result<void> Stmt::bind_text_at_nocopy(int idx, std::string_view v) {
    return bind_result(sqlite3_bind_text64(stmt_.get(), idx, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8), idx);
}
Result<void> Stmt::bind_blob_at_nocopy(int idx, std::string_view v) {
    static constexpr char kEmpty = 0;  // an empty blob stays a blob: a null pointer would bind NULL
    return bind_result(sqlite3_bind_blob64(stmt_.get(), idx, v.empty() ? &kEmpty : v.data(), v.size(), SQLITE_STATIC),
                       idx);
}

Result<void> Stmt::bind_opt_int(const char* name, const std::optional<std::int64_t>& v) {
    return v ? bind_int(name, *v) : bind_null(name);
}
Result<void> Stmt::bind_opt_text(const char* name, const std::optional<std::string>& v) {
    return v ? bind_text(name, *v) : bind_null(name);
}
Result<void> Stmt::bind_opt_blob(const char* name, const std::optional<std::string>& v) {
    return v ? bind_blob(name, *v) : bind_null(name);
}

Result<bool> Stmt::step() {
    const int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3* db = sqlite3_db_handle(stmt_.get());
    Error e =
        Error::msg("database " + escape_bytes(sqlite3_db_filename(db, "main") ? sqlite3_db_filename(db, "main") : "") +
                   ": " + sqlite3_errstr(rc) + " (" + sqlite3_errmsg(db) + ")");
    sqlite3_reset(stmt_.get());
    return e;
}

Result<void> Stmt::run() {
    for (;;) {
        auto r = step();
        if (!r) return r.error();
        if (!r.value()) break;
    }
    reset();
    return {};
}

void Stmt::reset() noexcept {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
}

void Stmt::rewind() noexcept { sqlite3_reset(stmt_.get()); }

bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
std::int64_t Stmt::col_int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
std::string Stmt::col_blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_.get(), col);
    const int n = sqlite3_column_bytes(stmt_.get(), col);
    if (p == nullptr || n <= 0) return {};
    return {static_cast<const char*>(p), static_cast<std::size_t>(n)};
}
std::optional<std::int64_t> Stmt::col_opt_int(int col) const {
    sqlite3_value* v = sqlite3_column_value(stmt_.get(), col);
    if (sqlite3_value_type(v) == SQLITE_NULL) return std::nullopt;
    return sqlite3_value_int64(v);
}
std::optional<std::string> Stmt::col_opt_blob(int col) const {
    if (is_null(col)) return std::nullopt;
    return col_blob(col);
}

// Readers of many rows (vigil query) call these 23 times a row: one sqlite3_column_value()
// and plain reads of the value instead of two or three sqlite3_column_*() calls, each of
// which checks the statement and the connection's error state again. (The value is only
// read here, on the connection's own thread, before the next step.)
namespace {
std::string_view value_view(sqlite3_value* v) {
    const void* p = sqlite3_value_blob(v);
    const int n = sqlite3_value_bytes(v);
    if (p == nullptr || n <= 0) return {};
    return {static_cast<const char*>(p), static_cast<std::size_t>(n)};
}
}  // namespace

std::string_view Stmt::col_view(int col) const { return value_view(sqlite3_column_value(stmt_.get(), col)); }
std::optional<std::string_view> Stmt::col_opt_view(int col) const {
    sqlite3_value* v = sqlite3_column_value(stmt_.get(), col);
    if (sqlite3_value_type(v) == SQLITE_NULL) return std::nullopt;
    return value_view(v);
}

Error Database::error(int rc, std::string_view what) const {
    const std::string file = "database " + escape_bytes(path_);
    const int primary = rc & 0xff;
    std::string detail = conn_ ? sqlite3_errmsg(conn_.get()) : sqlite3_errstr(rc);
    switch (primary) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return Error::msg(file + ": locked by another process (waited " + std::to_string(busy_timeout_ms()) +
                              " ms) while trying to " + std::string(what));
        case SQLITE_READONLY:
            return Error::msg(file + ": is read-only for this user (" + detail + ") while trying to " +
                              std::string(what));
        case SQLITE_NOTADB:
            return Error::msg(file + ": is not an SQLite database (garbage or a different file); nothing was changed");
        case SQLITE_CORRUPT: return Error::msg(file + ": is corrupt (" + detail + "); nothing was changed");
        case SQLITE_CANTOPEN: return Error::msg(file + ": cannot be opened (" + detail + ")");
        case SQLITE_FULL: return Error::msg(file + ": the disk is full while trying to " + std::string(what));
        default: return Error::msg(file + ": " + std::string(what) + " failed: " + detail);
    }
}

Result<Database> Database::open(const std::string& path, OpenMode mode) {
    Database db;
    db.path_ = path;
    const std::string file = "database " + escape_bytes(path);
    struct stat st {};
    const bool exists = ::lstat(path.c_str(), &st) == 0;
    if (!exists && errno != ENOENT) return Error::from_errno(errno, file);
    // A planted link would make us create or write the audit trail somewhere else.
    if (exists && S_ISLNK(st.st_mode)) return Error::msg(file + ": is a symlink; give the real path");
    if (exists && !S_ISREG(st.st_mode)) return Error::msg(file + ": is not a regular file");
    if (!exists && mode != OpenMode::Create)
        return Error::msg(file + ": does not exist (run `vigil init` to create a baseline)");
    if (exists && st.st_size == 0) {
        // `vigil init` killed between creating the file and its first write leaves exactly
        // this; init may take it over (nothing is in it). Anything else refuses it untouched.
        struct stat wal {};
        const bool wal_has_data = ::lstat((path + "-wal").c_str(), &wal) == 0 && wal.st_size > 0;
        if (mode != OpenMode::Create || wal_has_data)
            return Error::msg(file + ": is an empty file, not a Vigil database; nothing was changed");
    }
    if (!exists) {
        if (auto r = make_private_dirs(dir_of(path)); !r) return r.error();
        if (auto r = create_whole(path); !r) return r.error();
    }

    int flags = SQLITE_OPEN_NOMUTEX;
    flags |= mode == OpenMode::ReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (mode == OpenMode::Create) flags |= SQLITE_OPEN_CREATE;
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    db.conn_.reset(raw);
    if (rc != SQLITE_OK) return db.error(rc, "open");
    sqlite3_extended_result_codes(raw, 1);
    if (auto r = db.configure(mode); !r) return r.error();
    return db;
}

// A new database is built under a temporary name and renamed into place whole. Built in
// place, a `vigil init` killed while SQLite turns the fresh file into a WAL database leaves
// a hot rollback journal that read-only openers (query, status, verify) cannot roll back.
// Under its final name a database is therefore always a whole, migrated, WAL-mode one.
Result<void> Database::create_whole(const std::string& path) {
    const std::string file = "database " + escape_bytes(path);
    remove_dead_creations(path);
    const std::string tmp = path + kCreatingInfix + std::to_string(::getpid());
    remove_with_sidecars(tmp);
    {
        Database db;
        db.path_ = path;  // errors name the file the user asked for
        sqlite3* raw = nullptr;
        const int rc = sqlite3_open_v2(tmp.c_str(), &raw,
                                       SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
        db.conn_.reset(raw);
        if (rc != SQLITE_OK) return db.error(rc, "create");
        sqlite3_extended_result_codes(raw, 1);
        if (::chmod(tmp.c_str(), 0600) < 0) return Error::from_errno(errno, "chmod " + file);
        if (auto r = db.configure(OpenMode::Create); !r) {
            db.conn_.reset();
            remove_with_sidecars(tmp);
            return r;
        }
    }  // closing the only connection checkpoints the WAL into the file and removes it
    struct stat wal {};
    if (::lstat((tmp + "-wal").c_str(), &wal) == 0 && wal.st_size > 0)
        return Error::msg(file + ": SQLite left a write-ahead log behind while creating it; nothing was renamed");
    {
        const int raw = retry_eintr([&] { return ::open(tmp.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW); });
        if (raw < 0) return Error::from_errno(errno, "open '" + escape_bytes(tmp) + "'");
        const UniqueFd fd(raw);
        if (::fsync(fd.get()) < 0) return Error::from_errno(errno, "fsync '" + escape_bytes(tmp) + "'");
    }
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) < 0) {
        const int err = errno;
        remove_with_sidecars(tmp);
        // Another init created it first: theirs is as whole as ours, open that one.
        if (err != EEXIST) return Error::from_errno(err, "rename '" + escape_bytes(tmp) + "' into place");
    }
    return fsync_dir(dir_of(path));
}

Result<void> Database::exec(std::string_view sql, std::string_view what) {
    const std::string text(sql);
    const int rc = sqlite3_exec(conn_.get(), text.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return error(rc, what);
    return {};
}

Result<void> Database::configure(OpenMode mode) {
    sqlite3_busy_timeout(conn_.get(), busy_timeout_ms());
    auto app = prepare("PRAGMA application_id");
    if (!app) return app.error();
    auto row = app->step();
    if (!row) {
        // The first read of the file is where SQLite finds out it is not a database.
        return error(sqlite3_errcode(conn_.get()), "read the header");
    }
    const auto app_id = app->col_int(0);
    app->reset();
    auto tables = prepare("SELECT count(*) FROM sqlite_master");
    if (!tables) return tables.error();
    auto trow = tables->step();
    if (!trow) return error(sqlite3_errcode(conn_.get()), "read the schema");
    const bool empty = tables->col_int(0) == 0;
    tables->reset();
    if (app_id != kApplicationId && !(app_id == 0 && empty))
        return Error::msg("database " + escape_bytes(path_) +
                          ": is an SQLite database, but not Vigil's; nothing was changed");
    if (empty && mode != OpenMode::Create)
        return Error::msg("database " + escape_bytes(path_) + ": holds no Vigil schema (run `vigil init`)");

    if (mode != OpenMode::ReadOnly) {
        // Integrity before anything is written: never build on (or "repair") a damaged store.
        if (!empty) {
            auto qc = prepare("PRAGMA quick_check");
            if (!qc) return qc.error();
            auto r = qc->step();
            if (!r) return error(sqlite3_errcode(conn_.get()), "check integrity");
            const std::string verdict = qc->col_blob(0);
            if (verdict != "ok")
                return Error::msg("database " + escape_bytes(path_) + ": is corrupt (" + escape_bytes(verdict) +
                                  "); nothing was changed");
        }
        // WAL: readers (query, report) never block the writer. FULL: a committed event or
        // baseline survives power loss; the audit trail is worth the extra fsync.
        if (auto r = exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"); !r)
            return r;
        if (empty) {
            if (auto r = exec("PRAGMA application_id = " + std::to_string(kApplicationId)); !r) return r;
        }
        return migrate();
    }
    auto ver = prepare("PRAGMA user_version");
    if (!ver) return ver.error();
    if (auto r = ver->step(); !r) return error(sqlite3_errcode(conn_.get()), "read the schema version");
    const auto version = ver->col_int(0);
    if (version > static_cast<std::int64_t>(kSchemaMigrations.size()))
        return Error::msg("database " + escape_bytes(path_) + ": schema version " + std::to_string(version) +
                          " was written by a newer Vigil");
    if (version < static_cast<std::int64_t>(kSchemaMigrations.size()))
        return Error::msg("database " + escape_bytes(path_) + ": schema version " + std::to_string(version) +
                          " is older than this Vigil's; run `vigil update` or the agent once to migrate it");
    return {};
}

Result<void> Database::migrate() {
    auto ver = prepare("PRAGMA user_version");
    if (!ver) return ver.error();
    if (auto r = ver->step(); !r) return error(sqlite3_errcode(conn_.get()), "read the schema version");
    const auto current = static_cast<std::size_t>(ver->col_int(0));
    ver->reset();
    if (current > kSchemaMigrations.size())
        return Error::msg("database " + escape_bytes(path_) + ": schema version " + std::to_string(current) +
                          " was written by a newer Vigil; refusing to touch it");
    for (std::size_t i = current; i < kSchemaMigrations.size(); ++i) {
        auto txn = WriteTxn::begin(*this);
        if (!txn) return txn.error();
        if (auto r = exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                          "name TEXT NOT NULL, applied_ns INTEGER NOT NULL) STRICT");
            !r)
            return r;
        if (auto r = exec(kSchemaMigrations[i].text); !r)
            return Error::msg(r.error().context + " (migration " + std::string(kSchemaMigrations[i].name) + ")");
        auto ins = prepare("INSERT INTO schema_migrations (version, name, applied_ns) VALUES (:v, :n, :t)");
        if (!ins) return ins.error();
        if (auto r = ins->bind_int(":v", static_cast<std::int64_t>(i + 1)); !r) return r;
        if (auto r = ins->bind_text(":n", kSchemaMigrations[i].name); !r) return r;
        if (auto r = ins->bind_int(":t", now_ns()); !r) return r;
        if (auto r = ins->run(); !r) return error(sqlite3_errcode(conn_.get()), "record a migration");
        if (auto r = exec("PRAGMA user_version = " + std::to_string(i + 1)); !r) return r;
        if (auto r = txn->commit(); !r) return r;
    }
    return {};
}

Result<WriteTxn> WriteTxn::begin(Database& db) {
    if (auto r = db.exec("BEGIN IMMEDIATE", "start a write transaction"); !r) return r.error();
    return WriteTxn(&db);
}

Result<void> WriteTxn::commit() {
    if (db_ == nullptr) return Error::msg("commit of a finished transaction");
    const int rc = sqlite3_exec(db_->handle(), "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return db_->error(rc, "commit");
    db_ = nullptr;
    return {};
}

Result<ReadTxn> ReadTxn::begin(Database& db) {
    if (auto r = db.exec("BEGIN", "start a read transaction"); !r) return r.error();
    return ReadTxn(&db);
}

// Nothing was written: ending it cannot lose anything, so a failure is not reported.
ReadTxn::~ReadTxn() {
    if (db_ != nullptr) sqlite3_exec(db_->handle(), "COMMIT", nullptr, nullptr, nullptr);
}

WriteTxn::~WriteTxn() {
    if (db_ != nullptr) sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace vigil::db
