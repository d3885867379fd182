// The SQLite layer: one Database owns the connection; Stmt wraps a prepared statement with
// binds by name (a missing name is an error, not a silent NULL); WriteTxn is RAII for
// BEGIN IMMEDIATE ... COMMIT and rolls back if it is destroyed uncommitted.
//
// Nothing else in Vigil may open() the database file: closing any other fd on it would
// silently drop SQLite's POSIX locks ("How To Corrupt An SQLite Database File", 2.2).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <sqlite3.h>
#include <string>
#include <string_view>

#include "common/result.h"

namespace vigil::db {

struct SqliteClose {
    void operator()(sqlite3* p) const noexcept { sqlite3_close_v2(p); }
};
struct SqliteFinalize {
    void operator()(sqlite3_stmt* p) const noexcept { sqlite3_finalize(p); }
};

inline constexpr std::int32_t kApplicationId = 0x5647494C;  // 'VGIL': file(1) can tell our databases

class Stmt {
public:
    static Result<Stmt> prepare(sqlite3* db, std::string_view sql);

    Result<void> bind_int(const char* name, std::int64_t v);
    Result<void> bind_text(const char* name, std::string_view v);
    Result<void> bind_blob(const char* name, std::string_view v);
    Result<void> bind_null(const char* name);
    Result<void> bind_opt_int(const char* name, const std::optional<std::int64_t>& v);
    Result<void> bind_opt_text(const char* name, const std::optional<std::string>& v);
    Result<void> bind_opt_blob(const char* name, const std::optional<std::string>& v);

    // Hot loops (the agent's writer) look positions up once and bind without copying:
    // the bytes must stay valid until the next step(), run() or reset().
    Result<int> parameter_index(const char* name) const { return index_of(name); }
    Result<void> bind_int_at(int idx, std::int64_t v);
    Result<void> bind_null_at(int idx);
    Result<void> bind_text_at_nocopy(int idx, std::string_view v);
    Result<void> bind_blob_at_nocopy(int idx, std::string_view v);

    Result<bool> step();  // true: a row is ready; false: done
    Result<void> run();   // step until done, then reset
    void reset() noexcept;
    void rewind() noexcept;  // reset, keeping the bound values: the same query for the next key

    bool is_null(int col) const;
    int col_type(int col) const { return sqlite3_column_type(stmt_.get(), col); }  // SQLITE_NULL, _INTEGER, ...
    std::int64_t col_int(int col) const;
    std::string col_blob(int col) const;  // text or blob, as raw bytes
    std::optional<std::int64_t> col_opt_int(int col) const;
    std::optional<std::string> col_opt_blob(int col) const;
    // Views into SQLite's own buffer, valid until the next step() or reset(): readers that
    // stream rows straight to their output copy nothing.
    std::string_view col_view(int col) const;
    std::optional<std::string_view> col_opt_view(int col) const;

private:
    Result<int> index_of(const char* name) const;
    std::unique_ptr<sqlite3_stmt, SqliteFinalize> stmt_;
    std::string sql_;
};

enum class OpenMode {
    Create,     // vigil init: create the file (and its 0700 directory) if missing
    ReadWrite,  // update, the agent: the database must exist
    ReadOnly,   // check, query, report: never writes
};

class Database {
public:
    static Result<Database> open(const std::string& path, OpenMode mode);

    sqlite3* handle() const noexcept { return conn_.get(); }
    const std::string& path() const noexcept { return path_; }
    Result<void> exec(std::string_view sql, std::string_view what = "run SQL");
    Result<Stmt> prepare(std::string_view sql) { return Stmt::prepare(conn_.get(), sql); }
    // An Error for the last failure on this connection, naming the database file.
    Error error(int rc, std::string_view what) const;

private:
    static Result<void> create_whole(const std::string& path);
    Result<void> configure(OpenMode mode);
    Result<void> migrate();
    std::unique_ptr<sqlite3, SqliteClose> conn_;
    std::string path_;
};

class [[nodiscard]] WriteTxn {
public:
    static Result<WriteTxn> begin(Database& db);
    Result<void> commit();
    WriteTxn(WriteTxn&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
    WriteTxn& operator=(WriteTxn&&) = delete;
    WriteTxn(const WriteTxn&) = delete;
    WriteTxn& operator=(const WriteTxn&) = delete;
    ~WriteTxn();

private:
    explicit WriteTxn(Database* db) : db_(db) {}
    Database* db_ = nullptr;
};

// RAII for a read transaction (BEGIN ... COMMIT): statements run one after another see
// one snapshot, and SQLite keeps its lock and page cache between them instead of taking
// and dropping both per statement.
class [[nodiscard]] ReadTxn {
public:
    static Result<ReadTxn> begin(Database& db);
    ReadTxn(ReadTxn&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
    ReadTxn& operator=(ReadTxn&&) = delete;
    ReadTxn(const ReadTxn&) = delete;
    ReadTxn& operator=(const ReadTxn&) = delete;
    ~ReadTxn();

private:
    explicit ReadTxn(Database* db) : db_(db) {}
    Database* db_ = nullptr;
};

// Busy timeout in milliseconds: VIGIL_BUSY_TIMEOUT_MS, else 5000.
int busy_timeout_ms();

}  // namespace vigil::db
