// vigil query end to end: a database filled through the store API, queried by the built
// binary with every filter and format, hostile paths included.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/baseline_store.h"
#include "common/db/sqlite.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;
using vigil::test::run_vigil;

namespace {

constexpr std::int64_t kMinute = 60'000'000'000;

struct QueryDb {
    vigil::test::TempDir dir;
    std::string db = dir / "vigil.db";
    std::int64_t now = vigil::realtime_now_ns();

    QueryDb() {
        auto d = vigil::db::Database::open(db, vigil::db::OpenMode::Create);
        REQUIRE(d);
        auto add = [&](std::int64_t ago_min, vigil::Action a, std::string path, std::optional<std::int64_t> uid,
                       std::optional<std::string> user, std::optional<std::int64_t> auid,
                       std::optional<std::string> label, bool unexpected = false) {
            vigil::Event e;
            e.time_ns = now - ago_min * kMinute;
            e.action = a;
            e.source = vigil::Source::Fanotify;
            e.path = std::move(path);
            e.actor.uid = uid;
            e.actor.euid = uid;
            e.actor.user = std::move(user);
            e.actor.auid = auid;
            if (auid == 1000) e.actor.login_user = "admin";
            if (uid) e.actor.pid = 4242;
            e.actor.comm = "vi";
            e.label = std::move(label);
            e.unexpected = unexpected;
            REQUIRE(vigil::append_event(d.value(), e));
        };
        add(120, vigil::Action::Modify, "/etc/shadow", 1003, "carol", 1000, "credentials", true);
        add(30, vigil::Action::Modify, "/etc/ssh/sshd_config", 0, "root", std::nullopt, "ssh");
        add(25, vigil::Action::Create, "/etc/sshd/not-ssh", 0, "root", std::nullopt, std::nullopt);
        add(20, vigil::Action::Read, "/srv/customers/a\nb,\"c\"", 1003, "carol", 1000, "customers");
        add(10, vigil::Action::Delete, std::string("/srv/customers/\xff\x1b[2J"), std::nullopt, std::nullopt,
            std::nullopt, "customers");
        add(5, vigil::Action::Open, "/etc/ssh", 0, "root", std::nullopt, "ssh");
    }

    json query(std::vector<std::string> args) {
        args.insert(args.begin(), {"query", "--db", db, "--format", "json"});
        auto r = run_vigil(args);
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        return json::parse(r.out);
    }
};

std::vector<std::string> paths(const json& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) out.push_back(r.at("path").is_null() ? "" : r.at("path").get<std::string>());
    return out;
}

}  // namespace

TEST_CASE("query filters combine", "[e2e][query]") {
    QueryDb q;
    CHECK(q.query({}).size() == 6);
    CHECK(paths(q.query({"--path", "/etc/shadow"})) == std::vector<std::string>{"/etc/shadow"});
    CHECK(paths(q.query({"--under", "/etc/ssh"})) == std::vector<std::string>{"/etc/ssh", "/etc/ssh/sshd_config"});
    CHECK(q.query({"--under", "/etc"}).size() == 4);
    CHECK(q.query({"--user", "1003"}).size() == 2);
    CHECK(q.query({"--user", "carol"}).size() == 2);
    CHECK(q.query({"--user", "admin"}).size() == 2);  // the login user behind carol's uid
    CHECK(q.query({"--user", "1000"}).size() == 2);   // matches auid
    CHECK(paths(q.query({"--action", "delete,read"})).size() == 2);
    CHECK(q.query({"--label", "ssh"}).size() == 2);
    CHECK(paths(q.query({"--unexpected"})) == std::vector<std::string>{"/etc/shadow"});
    CHECK(q.query({"--since", "60m"}).size() == 5);
    CHECK(q.query({"--since", "60m", "--until", "15m"}).size() == 3);
    CHECK(q.query({"--under", "/etc", "--user", "root", "--action", "modify"}).size() == 1);
}

TEST_CASE("query orders newest first, --reverse oldest first, --limit", "[e2e][query]") {
    QueryDb q;
    auto newest = q.query({"--limit", "2"});
    REQUIRE(newest.size() == 2);
    CHECK(newest[0].at("path") == "/etc/ssh");
    auto oldest = q.query({"--reverse", "--limit", "1"});
    REQUIRE(oldest.size() == 1);
    CHECK(oldest[0].at("path") == "/etc/shadow");
}

TEST_CASE("query accepts RFC 3339 times with offsets", "[e2e][query]") {
    QueryDb q;
    // The shadow event happened 120 minutes ago; bracket it with an explicit offset.
    const std::int64_t t = (q.now - 120 * kMinute) / 1'000'000'000;
    auto rfc = [](std::int64_t secs, int offset_h) {
        const std::time_t shifted = static_cast<std::time_t>(secs + offset_h * 3600);
        std::tm tm{};
        ::gmtime_r(&shifted, &tm);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d+%02d:00", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, offset_h);
        return std::string(buf);
    };
    const auto rows = q.query({"--since", rfc(t - 1, 2), "--until", rfc(t + 1, 2)});
    CHECK(paths(rows) == std::vector<std::string>{"/etc/shadow"});
}

TEST_CASE("odd paths are escaped in every format", "[e2e][query]") {
    QueryDb q;
    const std::string nl = "/srv/customers/a\\x0ab,\"c\"";
    const std::string bad = "/srv/customers/\\xff\\x1b[2J";
    CHECK(paths(q.query({"--under", "/srv"})) == std::vector<std::string>{bad, nl});
    for (const char* fmt : {"json", "jsonl", "csv", "table"}) {
        auto r = run_vigil({"query", "--db", q.db, "--under", "/srv", "--format", fmt});
        INFO(fmt);
        REQUIRE(r.exit_code == 0);
        CHECK(r.out.find('\x1b') == std::string::npos);
        CHECK(r.out.find('\xff') == std::string::npos);
    }
    auto jsonl = run_vigil({"query", "--db", q.db, "--under", "/srv", "--format", "jsonl"});
    std::istringstream lines(jsonl.out);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        CHECK_NOTHROW(json::parse(line));
        ++n;
    }
    CHECK(n == 2);  // one line per event: the newline in the name did not split it
    auto csv = run_vigil({"query", "--db", q.db, "--path", "/srv/customers/a\nb,\"c\"", "--format", "csv"});
    CHECK_THAT(csv.out, Catch::StartsWith("id,time,action,path,"));
    CHECK_THAT(csv.out, Catch::Contains(",\"/srv/customers/a\\x0ab,\"\"c\"\"\","));  // RFC 4180 quoting
}

TEST_CASE("empty results and bad arguments", "[e2e][query]") {
    QueryDb q;
    auto none = [&](const char* fmt) {
        return run_vigil({"query", "--db", q.db, "--path", "/nothing", "--format", fmt});
    };
    CHECK(none("json").out == "[]\n");
    CHECK(none("jsonl").out.empty());
    CHECK(none("jsonl").exit_code == 0);
    CHECK(none("csv").out.find('\n') == none("csv").out.size() - 1);  // the header line only
    CHECK_THAT(none("table").out, Catch::Contains("No events match"));
    for (const std::vector<std::string>& args : {std::vector<std::string>{"--since", "yesterday"},
                                                 {"--action", "explode"},
                                                 {"--limit", "0"},
                                                 {"--path", "relative"},
                                                 {"--format", "xml"},
                                                 {"--since", "1h", "--until", "2h"},
                                                 {"--bogus"},
                                                 {"--since", "2026-02-30"},
                                                 {"--since", "2026-11-24T10:00:00"}}) {
        std::vector<std::string> full = {"query", "--db", q.db};
        full.insert(full.end(), args.begin(), args.end());
        auto r = run_vigil(full);
        INFO(args[0]);
        CHECK(r.exit_code >= 16);
        CHECK_THAT(r.err, Catch::StartsWith("vigil: error:"));
    }
    auto missing = run_vigil({"query", "--db", q.dir / "missing.db"});
    CHECK(missing.exit_code == 18);
    CHECK_THAT(missing.err, Catch::Contains("missing.db"));
    vigil::test::write_file(q.dir / "foreign.db", std::string(4096, 'x'));
    CHECK(run_vigil({"query", "--db", q.dir / "foreign.db"}).exit_code == 18);
}
