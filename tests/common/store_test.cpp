#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "common/baseline_store.h"
#include "common/db/sqlite.h"
#include "tests/support/temp_dir.h"

using namespace vigil;

namespace {

FileRecord sample(std::string path, std::uint64_t inode) {
    FileRecord r;
    r.path = std::move(path);
    r.type = FileType::Regular;
    r.mode = 0640;
    r.uid = 1000;
    r.gid = 1000;
    r.size = 42;
    r.mtime_ns = -1'000'000'001;  // before 1970: times are signed
    r.ctime_ns = 1'700'000'000'123'456'789;
    r.inode = inode;
    r.dev = 0xfd00;
    r.nlink = 2;
    r.sha256 = sha256_bytes("content").value();
    r.xattrs = std::string("\x04\x00\x00\x00user\x00\x00\x00\x00", 12);
    return r;
}

BaselineInfo info(const char* kind) {
    BaselineInfo b;
    b.created_ns = 1;
    b.kind = kind;
    b.policy_source = "test";
    b.policy_sha256 = std::string(64, 'a');
    b.policy_text = "{}";
    return b;
}

}  // namespace

TEST_CASE("a baseline round-trips through SQLite bit for bit", "[kernel][store]") {
    test::TempDir dir;
    const std::string path = dir / "state/vigil.db";
    std::vector<FileRecord> records = {sample("/a\nb", 1), sample(std::string("/bad\xff\x00name", 10), UINT64_MAX)};
    records[1].type = FileType::Symlink;
    records[1].sha256.reset();
    records[1].target = std::string("\x00tgt", 4);
    records[1].error = "open: Permission denied";
    std::sort(records.begin(), records.end(), [](auto& a, auto& b) { return a.path < b.path; });
    {
        auto db = db::Database::open(path, db::OpenMode::Create);
        REQUIRE(db);
        auto txn = db::WriteTxn::begin(db.value());
        REQUIRE(txn);
        REQUIRE(write_baseline(db.value(), records, info("init")));
        REQUIRE(txn->commit());
    }
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat((dir / "state").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);

    auto db = db::Database::open(path, db::OpenMode::ReadOnly);
    REQUIRE(db);
    auto loaded = load_baseline(db.value());
    REQUIRE(loaded);
    REQUIRE(loaded->size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& a = records[i];
        const auto& b = loaded.value()[i];
        CHECK(a.path == b.path);
        CHECK(a.type == b.type);
        CHECK(a.mode == b.mode);
        CHECK(a.mtime_ns == b.mtime_ns);
        CHECK(a.ctime_ns == b.ctime_ns);
        CHECK(a.inode == b.inode);
        CHECK(a.sha256 == b.sha256);
        CHECK(a.target == b.target);
        CHECK(a.xattrs == b.xattrs);
        CHECK(a.error == b.error);
    }
    auto latest = latest_baseline(db.value());
    REQUIRE(latest);
    REQUIRE(latest->has_value());
    CHECK(latest->value().entries == 2);
    CHECK(latest->value().errors == 1);
}

TEST_CASE("an uncommitted baseline leaves the previous one intact", "[kernel][store]") {
    test::TempDir dir;
    const std::string path = dir / "vigil.db";
    {
        auto db = db::Database::open(path, db::OpenMode::Create);
        REQUIRE(db);
        auto txn = db::WriteTxn::begin(db.value());
        REQUIRE(write_baseline(db.value(), {sample("/old", 1)}, info("init")));
        REQUIRE(txn->commit());
    }
    {
        auto db = db::Database::open(path, db::OpenMode::ReadWrite);
        REQUIRE(db);
        auto txn = db::WriteTxn::begin(db.value());
        REQUIRE(write_baseline(db.value(), {sample("/new1", 2), sample("/new2", 3)}, info("update")));
        // no commit: the transaction object rolls back when it goes away
    }
    auto db = db::Database::open(path, db::OpenMode::ReadOnly);
    REQUIRE(db);
    auto loaded = load_baseline(db.value());
    REQUIRE(loaded);
    REQUIRE(loaded->size() == 1);
    CHECK(loaded.value()[0].path == "/old");
    CHECK(latest_baseline(db.value()).value()->kind == "init");
}

TEST_CASE("migrations are recorded and the schema is versioned", "[kernel][store]") {
    test::TempDir dir;
    const std::string path = dir / "vigil.db";
    auto db = db::Database::open(path, db::OpenMode::Create);
    REQUIRE(db);
    auto st = db->prepare("SELECT count(*) FROM schema_migrations");
    REQUIRE(st);
    REQUIRE(st->step().value());
    CHECK(st->col_int(0) >= 2);
    auto app = db->prepare("PRAGMA application_id");
    REQUIRE(app->step().value());
    CHECK(app->col_int(0) == db::kApplicationId);
    auto jm = db->prepare("PRAGMA journal_mode");
    REQUIRE(jm->step().value());
    CHECK(jm->col_blob(0) == "wal");
}

TEST_CASE("foreign, empty, garbage and newer databases are refused untouched", "[kernel][store]") {
    test::TempDir dir;
    const std::string garbage = dir / "garbage.db";
    std::string noise(8192, '\0');
    for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>(i * 31 + 7);
    test::write_file(garbage, noise);
    auto g = db::Database::open(garbage, db::OpenMode::Create);
    REQUIRE_FALSE(g);
    CHECK_THAT(g.error().message(), Catch::Contains("garbage.db") && Catch::Contains("not an SQLite database"));
    CHECK(test::read_file(garbage) == noise);

    const std::string empty = dir / "empty.db";
    test::write_file(empty, "");
    auto e = db::Database::open(empty, db::OpenMode::ReadWrite);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error().message(), Catch::Contains("empty"));
    // An empty file beside a WAL with data is someone's database: even init refuses it.
    test::write_file(empty + "-wal", "not ours");
    auto ew = db::Database::open(empty, db::OpenMode::Create);
    REQUIRE_FALSE(ew);
    CHECK_THAT(ew.error().message(), Catch::Contains("empty"));
    CHECK(test::read_file(empty + "-wal") == "not ours");
    ::unlink((empty + "-wal").c_str());
    // Without one, it is what an init killed before its first write leaves: init takes it over.
    CHECK(db::Database::open(empty, db::OpenMode::Create));

    const std::string foreign = dir / "foreign.db";
    {
        sqlite3* raw = nullptr;
        REQUIRE(sqlite3_open(foreign.c_str(), &raw) == SQLITE_OK);
        REQUIRE(sqlite3_exec(raw, "CREATE TABLE t(x)", nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(raw);
    }
    auto f = db::Database::open(foreign, db::OpenMode::ReadWrite);
    REQUIRE_FALSE(f);
    CHECK_THAT(f.error().message(), Catch::Contains("not Vigil's"));

    const std::string newer = dir / "newer.db";
    {
        auto db = db::Database::open(newer, db::OpenMode::Create);
        REQUIRE(db);
        REQUIRE(db->exec("PRAGMA user_version = 999"));
    }
    auto n = db::Database::open(newer, db::OpenMode::ReadWrite);
    REQUIRE_FALSE(n);
    CHECK_THAT(n.error().message(), Catch::Contains("newer Vigil"));
}

TEST_CASE("a corrupt database is detected before anything is written", "[kernel][store]") {
    test::TempDir dir;
    const std::string path = dir / "vigil.db";
    {
        auto db = db::Database::open(path, db::OpenMode::Create);
        REQUIRE(db);
        auto txn = db::WriteTxn::begin(db.value());
        std::vector<FileRecord> many;
        for (int i = 0; i < 3000; ++i) many.push_back(sample("/f" + std::to_string(100000 + i), i));
        REQUIRE(write_baseline(db.value(), many, info("init")));
        REQUIRE(txn->commit());
        REQUIRE(db->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    }
    std::string bytes = test::read_file(path);
    REQUIRE(bytes.size() > 64 * 1024);
    for (std::size_t i = 40 * 1024; i < 48 * 1024; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
    test::write_file(path, bytes);
    auto db = db::Database::open(path, db::OpenMode::ReadWrite);
    REQUIRE_FALSE(db);
    CHECK_THAT(db.error().message(),
               Catch::Contains("vigil.db") && (Catch::Contains("corrupt") || Catch::Contains("malformed")));
    CHECK(test::read_file(path) == bytes);
}

TEST_CASE("events keep unknown values as NULL", "[kernel][store]") {
    test::TempDir dir;
    auto db = db::Database::open(dir / "vigil.db", db::OpenMode::Create);
    REQUIRE(db);
    Event e;
    e.time_ns = 5;
    e.action = Action::BaselineUpdate;
    e.source = Source::Cli;
    e.actor.uid = 0;
    auto id = append_event(db.value(), e);
    REQUIRE(id);
    auto st = db->prepare("SELECT action, source, uid, auid, exe FROM events WHERE id = :id");
    REQUIRE(st->bind_int(":id", id.value()));
    REQUIRE(st->step().value());
    CHECK(st->col_blob(0) == "baseline_update");
    CHECK(st->col_blob(1) == "cli");
    CHECK(st->col_int(2) == 0);
    CHECK(st->is_null(3));
    CHECK(st->is_null(4));
}
