// vigil history end to end: the timeline of one file across renames.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "common/baseline_store.h"
#include "common/db/sqlite.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;

namespace {

vigil::Event ev(std::int64_t t, vigil::Action a, std::string path, std::optional<std::string> old = std::nullopt) {
    vigil::Event e;
    e.time_ns = t;
    e.action = a;
    e.source = vigil::Source::Fanotify;
    e.path = std::move(path);
    e.old_path = std::move(old);
    e.actor.uid = 1003;
    e.actor.user = "carol";
    e.sha256_after = std::string(32, static_cast<char>(t));
    return e;
}

}  // namespace

TEST_CASE("history follows a file back through its renames", "[e2e][history]") {
    vigil::test::TempDir dir;
    const std::string db = dir / "vigil.db";
    const std::string a = "/srv/report\n2025.csv";  // a newline in the old name, on purpose
    const std::string b = "/srv/final.csv";
    {
        auto d = vigil::db::Database::open(db, vigil::db::OpenMode::Create);
        REQUIRE(d);
        vigil::FileRecord r;
        r.path = a;
        r.type = vigil::FileType::Regular;
        r.sha256 = vigil::sha256_bytes("v0").value();
        vigil::BaselineInfo info;
        info.created_ns = 5;
        info.kind = "init";
        info.policy_source = "t";
        info.policy_sha256 = "x";
        info.policy_text = "{}";
        auto txn = vigil::db::WriteTxn::begin(d.value());
        REQUIRE(vigil::write_baseline(d.value(), {r}, info));
        REQUIRE(txn->commit());
        REQUIRE(vigil::append_event(d.value(), ev(10, vigil::Action::Modify, a)));
        REQUIRE(vigil::append_event(d.value(), ev(20, vigil::Action::Rename, b, a)));
        REQUIRE(vigil::append_event(d.value(), ev(30, vigil::Action::Modify, b)));
        REQUIRE(vigil::append_event(d.value(), ev(40, vigil::Action::Create, a)));  // another file, same old name
        REQUIRE(vigil::append_event(d.value(), ev(50, vigil::Action::Modify, "/srv/other")));
    }
    auto r = vigil::test::run_vigil({"history", b, "--db", db, "--format", "json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json j = json::parse(r.out);
    std::vector<std::string> actions;
    for (const auto& e : j) actions.push_back(e.at("action"));
    CHECK(actions == std::vector<std::string>{"baseline", "modify", "rename", "modify"});
    CHECK(j[0].at("path") == "/srv/report\\x0a2025.csv");
    CHECK(j[0].at("sha256_after") == vigil::digest_hex(vigil::sha256_bytes("v0").value()));
    CHECK(j[2].at("old_path") == "/srv/report\\x0a2025.csv");
    CHECK(j[3].at("user") == "carol");

    auto table = vigil::test::run_vigil({"history", b, "--db", db, "--format", "table"});
    CHECK_THAT(table.out, Catch::Contains("baseline") && Catch::Contains("carol") &&
                              Catch::Contains("/srv/report\\x0a2025.csv -> /srv/final.csv"));
    auto none = vigil::test::run_vigil({"history", "/srv/never", "--db", db, "--format", "table"});
    CHECK(none.exit_code == 0);
    CHECK_THAT(none.out, Catch::Contains("No baseline entry and no events"));
    CHECK(vigil::test::run_vigil({"history", "--db", db}).exit_code == 16);
    CHECK(vigil::test::run_vigil({"history", "relative", "--db", db}).exit_code == 16);
}

TEST_CASE("history interleaves the events of every name by time, then id", "[e2e][history]") {
    // Each name's rows come out of SQLite in order and are merged run by run: the old name's
    // events fall between the current name's earlier ones, equal times go by id.
    vigil::test::TempDir dir;
    const std::string db = dir / "vigil.db";
    const std::string a = "/srv/a.csv";
    const std::string b = "/srv/b.csv";
    {
        auto d = vigil::db::Database::open(db, vigil::db::OpenMode::Create);
        REQUIRE(d);
        REQUIRE(vigil::append_event(d.value(), ev(16, vigil::Action::Attrib, b)));     // id 1
        REQUIRE(vigil::append_event(d.value(), ev(10, vigil::Action::Modify, a)));     // id 2
        REQUIRE(vigil::append_event(d.value(), ev(12, vigil::Action::Create, b)));     // id 3
        REQUIRE(vigil::append_event(d.value(), ev(14, vigil::Action::Modify, a)));     // id 4
        REQUIRE(vigil::append_event(d.value(), ev(16, vigil::Action::Read, a)));       // id 5
        REQUIRE(vigil::append_event(d.value(), ev(16, vigil::Action::Delete, b)));     // id 6
        REQUIRE(vigil::append_event(d.value(), ev(20, vigil::Action::Rename, b, a)));  // id 7
        REQUIRE(vigil::append_event(d.value(), ev(30, vigil::Action::Modify, b)));     // id 8
        REQUIRE(vigil::append_event(d.value(), ev(31, vigil::Action::Modify, a)));     // id 9: a new file a
    }
    for (const char* format : {"jsonl", "json"}) {
        auto r = vigil::test::run_vigil({"history", b, "--db", db, "--format", format});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        std::vector<std::int64_t> ids;
        if (std::string_view(format) == "json") {
            for (const auto& e : json::parse(r.out)) ids.push_back(e.at("id"));
        } else {
            std::size_t at = 0;
            for (std::size_t nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1)
                ids.push_back(json::parse(r.out.substr(at, nl - at)).at("id"));
        }
        CHECK(ids == std::vector<std::int64_t>{2, 3, 4, 1, 5, 6, 7, 8});
    }
}
