// The pure matching logic of expectations (common/expectation.h) against a fixed
// directory of users and groups, and the policy validation of "expect" and "alert".
#include "common/expectation.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>

#include "common/expectation_directory.h"
#include "common/policy.h"
#include "tests/support/temp_dir.h"

using namespace vigil;

namespace {

// alice (1001) in sales; bob (1002) in support; carol (1003) in neither; uid 1004 has
// no passwd entry. Groups: sales 2001, support 2002, staff 100 (everyone's primary).
class FakeDirectory final : public IdentityDirectory {
public:
    Identity user(std::int64_t uid) override {
        ++user_lookups;
        switch (uid) {
            case 0: return {"root", {0}};
            case 1001: return {"alice", {100, 2001}};
            case 1002: return {"bob", {100, 2002}};
            case 1003: return {"carol", {100}};
            default: return {std::nullopt, {}};
        }
    }
    std::optional<std::int64_t> group_id(const std::string& name) override {
        static const std::map<std::string, std::int64_t> groups{{"sales", 2001}, {"support", 2002}, {"staff", 100}};
        auto it = groups.find(name);
        return it == groups.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
    }
    std::optional<std::string> group_name(std::int64_t gid) override {
        if (gid == 2001) return "sales";
        if (gid == 2002) return "support";
        if (gid == 100) return "staff";
        return std::nullopt;
    }
    int user_lookups = 0;
};

Principal principal(const std::string& text) {
    auto p = parse_principal(text);
    REQUIRE(p);
    return p.value();
}

Event read_by(std::optional<std::int64_t> uid, std::optional<std::int64_t> auid = std::nullopt,
              std::optional<std::string> exe = "/usr/bin/cat") {
    Event e;
    e.action = Action::Read;
    e.path = "/srv/customers/transactions/2024.csv";
    e.actor.uid = uid;
    e.actor.euid = uid;
    e.actor.auid = auid ? auid : uid;
    e.actor.exe = std::move(exe);
    return e;
}

Expectation sales_only() {
    Expectation x;
    x.read = std::vector<Principal>{principal("group:sales"), principal("user:backup")};
    x.modify = std::vector<Principal>{principal("group:sales")};
    return x;
}

std::string policy_error(const std::string& rule_fields) {
    auto p = parse_policy(R"({"rules":[{"path":"/srv/customers",)" + rule_fields + "}]}", "/etc/vigil/t.json");
    REQUIRE_FALSE(p);
    return p.error().message();
}

}  // namespace

TEST_CASE("expectation entries parse in their four forms and refuse others", "[unit][expectation]") {
    CHECK(principal("user:backup").kind == Principal::Kind::User);
    CHECK(principal("group:sales").name == "sales");
    CHECK(principal("uid:0").id == 0);
    CHECK(principal("gid:4294967294").id == 4294967294);
    CHECK(principal("group:domain.users").text() == "group:domain.users");
    for (const char* bad : {"sales", "role:sales", "user:", "uid:-1", "uid:4294967295", "uid:12a", "gid:", "user:a b",
                            "group:x:y", ":sales", "USER:x"}) {
        INFO(bad);
        CHECK_FALSE(parse_principal(bad));
    }
    CHECK_THAT(parse_principal("role:sales").error().message(),
               Catch::Contains("user:NAME, group:NAME, uid:N or gid:N"));
}

TEST_CASE("matching: a support user reading a sales-only file is unexpected, a sales user is not",
          "[unit][expectation]") {
    FakeDirectory dir;
    const Expectation x = sales_only();

    const Verdict sales = evaluate(x, read_by(1001), dir);
    CHECK(sales.kind == Verdict::Kind::Expected);
    CHECK(sales.reason.empty());

    const Verdict support = evaluate(x, read_by(1002), dir);
    CHECK(support.kind == Verdict::Kind::Unexpected);
    CHECK_THAT(support.reason, Catch::Contains("user bob (uid 1002; groups staff, support) is not expected to read") &&
                                   Catch::Contains("expected: group:sales, user:backup"));

    CHECK(evaluate(x, read_by(1003), dir).kind == Verdict::Kind::Unexpected);  // in neither group
    // No passwd entry: only uid:N could match, and group membership is unknown.
    const Verdict ghost = evaluate(x, read_by(1004), dir);
    CHECK(ghost.kind == Verdict::Kind::Unexpected);
    CHECK_THAT(ghost.reason, Catch::Contains("(no name) (uid 1004"));

    Expectation by_uid;
    by_uid.read = std::vector<Principal>{principal("uid:1004"), principal("gid:2002")};
    CHECK(evaluate(by_uid, read_by(1004), dir).kind == Verdict::Kind::Expected);
    CHECK(evaluate(by_uid, read_by(1002), dir).kind == Verdict::Kind::Expected);  // gid:2002 is support
    CHECK(evaluate(by_uid, read_by(1001), dir).kind == Verdict::Kind::Unexpected);
}

TEST_CASE("the login user must be expected too: sudo -u sales by a support user is unexpected", "[unit][expectation]") {
    FakeDirectory dir;
    const Expectation x = sales_only();
    const Verdict v = evaluate(x, read_by(1001, 1002), dir);  // acting as alice, logged in as bob
    CHECK(v.kind == Verdict::Kind::Unexpected);
    CHECK_THAT(v.reason, Catch::Contains("login user bob (auid 1002") && !Catch::Contains("user alice"));
    // A setuid program: alice's process with euid root. Root is not expected to read.
    Event setuid = read_by(1001);
    setuid.actor.euid = 0;
    const Verdict s = evaluate(x, setuid, dir);
    CHECK(s.kind == Verdict::Kind::Unexpected);
    CHECK_THAT(s.reason, Catch::Contains("effective user root (euid 0"));
    // Both reasons at once when both identities fail.
    Event both = read_by(1003, 1002);
    CHECK_THAT(evaluate(x, both, dir).reason, Catch::Contains("user carol") && Catch::Contains("; login user bob"));
}

TEST_CASE("actions fall under read, modify or denied; others are not judged", "[unit][expectation]") {
    FakeDirectory dir;
    const Expectation x = sales_only();
    for (Action a : {Action::Open, Action::Read}) CHECK(classify(a) == ActionClass::Read);
    for (Action a : {Action::Modify, Action::Create, Action::Delete, Action::Rename, Action::Attrib})
        CHECK(classify(a) == ActionClass::Modify);
    for (Action a : {Action::Alert, Action::Overflow, Action::Rescan, Action::AgentStart, Action::BaselineUpdate})
        CHECK(classify(a) == ActionClass::None);

    Event write = read_by(1002);
    write.action = Action::Rename;
    const Verdict w = evaluate(x, write, dir);
    CHECK(w.kind == Verdict::Kind::Unexpected);
    CHECK_THAT(w.reason, Catch::Contains("not expected to modify") && Catch::Contains("expected: group:sales)"));

    Event start = read_by(1002);
    start.action = Action::AgentStart;
    CHECK(evaluate(x, start, dir).kind == Verdict::Kind::NotCovered);

    // A denied attempt is unexpected under any expectation, even by an expected user or
    // with no actor; the operation comes from detail.
    Event denied = read_by(1001);
    denied.action = Action::Denied;
    denied.detail = R"({"operation":"unlink","errno":"EACCES"})";
    const Verdict d = evaluate(x, denied, dir);
    CHECK(d.kind == Verdict::Kind::Unexpected);
    CHECK_THAT(d.reason, Catch::Contains("denied attempt to unlink"));
    denied.detail = "not json";
    denied.actor = {};
    CHECK(evaluate(x, denied, dir).kind == Verdict::Kind::Unexpected);

    // Only modify restricted: reads are not judged.
    Expectation modify_only;
    modify_only.modify = std::vector<Principal>{principal("group:sales")};
    CHECK(evaluate(modify_only, read_by(1002), dir).kind == Verdict::Kind::NotCovered);
    // An empty list: nobody is expected.
    Expectation nobody;
    nobody.read = std::vector<Principal>{};
    const Verdict n = evaluate(nobody, read_by(1001), dir);
    CHECK(n.kind == Verdict::Kind::Unexpected);
    CHECK_THAT(n.reason, Catch::Contains("expected: nobody"));
}

TEST_CASE("an unknown actor is not evaluated, never guessed", "[unit][expectation]") {
    FakeDirectory dir;
    const Verdict v = evaluate(sales_only(), read_by(std::nullopt), dir);
    CHECK(v.kind == Verdict::Kind::NotEvaluated);
    CHECK(v.reason == "actor unknown");
    CHECK(dir.user_lookups == 0);
}

TEST_CASE("exe restricts the executables of every covered action", "[unit][expectation]") {
    FakeDirectory dir;
    Expectation x = sales_only();
    x.exe = std::vector<std::string>{"/opt/crm/bin/crm", "/usr/bin/rsync"};
    CHECK(evaluate(x, read_by(1001, std::nullopt, "/opt/crm/bin/crm"), dir).kind == Verdict::Kind::Expected);
    const Verdict cat = evaluate(x, read_by(1001, std::nullopt, "/usr/bin/cat"), dir);
    CHECK(cat.kind == Verdict::Kind::Unexpected);
    CHECK_THAT(cat.reason, Catch::Contains("executable /usr/bin/cat is not expected") &&
                               Catch::Contains("/opt/crm/bin/crm, /usr/bin/rsync"));
    // Wrong user and wrong executable: both said.
    const Verdict both = evaluate(x, read_by(1002, std::nullopt, "/usr/bin/cat"), dir);
    CHECK_THAT(both.reason, Catch::Contains("user bob") && Catch::Contains("executable /usr/bin/cat"));
    // An allow-list fails closed on an executable that could not be read.
    const Verdict unknown = evaluate(x, read_by(1001, std::nullopt, std::nullopt), dir);
    CHECK(unknown.kind == Verdict::Kind::Unexpected);
    CHECK_THAT(unknown.reason, Catch::Contains("executable unknown"));
    // exe alone (the /etc/shadow case): any user, only these programs.
    Expectation shadow;
    shadow.exe = std::vector<std::string>{"/usr/sbin/usermod", "/usr/bin/passwd"};
    Event w = read_by(1003, std::nullopt, "/usr/bin/passwd");
    w.action = Action::Modify;
    CHECK(evaluate(shadow, w, dir).kind == Verdict::Kind::Expected);
    w.actor.exe = "/usr/bin/vi";
    CHECK(evaluate(shadow, w, dir).kind == Verdict::Kind::Unexpected);
    // Hostile bytes in an exe are escaped in the reason.
    w.actor.exe = std::string("/tmp/\x1b[31mx\xff");
    CHECK_THAT(evaluate(shadow, w, dir).reason, Catch::Contains("/tmp/\\x1b[31mx\\xff"));
}

TEST_CASE("hours windows, also across midnight, and alert windows", "[unit][expectation]") {
    auto day = parse_hours("07:00-20:00");
    REQUIRE(day);
    CHECK(day->contains(7 * 60));
    CHECK(day->contains(19 * 60 + 59));
    CHECK_FALSE(day->contains(20 * 60));
    CHECK_FALSE(day->contains(6 * 60 + 59));
    auto night = parse_hours("22:00-06:00");
    REQUIRE(night);
    CHECK(night->contains(23 * 60));
    CHECK(night->contains(0));
    CHECK(night->contains(5 * 60 + 59));
    CHECK_FALSE(night->contains(6 * 60));
    CHECK_FALSE(night->contains(12 * 60));
    for (const char* bad : {"7:00-20:00", "07:00-24:00", "07:60-20:00", "07:00-07:00", "07:00 20:00", "", "aa:bb-cc:dd",
                            "07:00-20:00x", "+7:00-20:00"}) {
        INFO(bad);
        CHECK_FALSE(parse_hours(bad));
    }
    CHECK(parse_alert_window("60s").value() == 60'000'000'000);
    CHECK(parse_alert_window("5m").value() == 300'000'000'000);
    CHECK(parse_alert_window("1d").value() == 86'400'000'000'000);
    for (const char* bad : {"0s", "60", "s", "2d", "-5m", "1.5h", "90000s", "5 m"}) {
        INFO(bad);
        CHECK_FALSE(parse_alert_window(bad));
    }
}

TEST_CASE("expect and alert parse from a policy rule", "[unit][expectation][policy]") {
    auto p = parse_policy(R"({"rules":[{"path":"/srv/customers/orders","watch":"access","label":"orders",
        "expect":{"read":["group:sales","user:backup"],"modify":["group:sales"],"exe":["/usr/bin/rsync","/opt/crm/bin/crm"]},
        "alert":{"bulk_read":{"files":100,"window":"60s"},"hours":"07:00-20:00"}},
        {"path":"/etc"}]})",
                          "t.json");
    REQUIRE(p);
    const Rule& r = p->rules[0];
    REQUIRE(r.expect);
    REQUIRE(r.expect->read);
    CHECK(r.expect->read->size() == 2);
    CHECK(r.expect->modify->front().text() == "group:sales");
    CHECK(r.expect->exe->back() == "/opt/crm/bin/crm");
    REQUIRE(r.alert);
    CHECK(r.alert->bulk_read->files == 100);
    CHECK(r.alert->bulk_read->window_ns == 60'000'000'000);
    CHECK(r.alert->bulk_read->window_text == "60s");
    CHECK(r.alert->hours->text == "07:00-20:00");
    // A rule without them behaves as before.
    CHECK_FALSE(p->rules[1].expect);
    CHECK_FALSE(p->rules[1].alert);
}

TEST_CASE("bad expect and alert fields are refused with the file, the rule and the problem",
          "[unit][expectation][policy]") {
    const std::string where = "policy /etc/vigil/t.json: rule 1 (\"/srv/customers\"): ";
    CHECK(policy_error(R"("watch":"access","expect":{"read":["sales"]})") ==
          where + "\"expect\": \"read\" entry \"sales\" must be user:NAME, group:NAME, uid:N or gid:N");
    CHECK_THAT(policy_error(R"("watch":"access","expect":{"read":["role:sales"]})"),
               Catch::StartsWith(where) && Catch::Contains("\"role:sales\""));
    CHECK_THAT(policy_error(R"("watch":"access","expect":{"modify":["uid:x"]})"), Catch::Contains("\"modify\" entry"));
    CHECK_THAT(policy_error(R"("watch":"access","expect":{"read":"group:sales"})"),
               Catch::Contains("must be an array"));
    CHECK_THAT(policy_error(R"("watch":"access","expect":{"reed":[]})"),
               Catch::Contains("unknown key \"reed\" (known: read, modify, exe)"));
    CHECK_THAT(policy_error(R"("watch":"access","expect":{})"), Catch::Contains("\"expect\" is empty"));
    CHECK_THAT(policy_error(R"("watch":"access","expect":{"exe":["crm"]})"), Catch::Contains("absolute path"));
    CHECK_THAT(policy_error(R"("expect":{"read":["group:sales"]})"),
               Catch::Contains("\"read\" needs \"watch\": \"access\""));
    CHECK_THAT(policy_error(R"("watch":"none","expect":{"modify":["group:sales"]})"),
               Catch::Contains("\"expect\" needs \"watch\""));

    CHECK(policy_error(R"("watch":"access","alert":{"hours":"7-20"})") ==
          where + "\"alert\": \"hours\" \"7-20\" must be \"HH:MM-HH:MM\" in local time, e.g. \"07:00-20:00\"");
    CHECK_THAT(policy_error(R"("watch":"access","alert":{"hours":"25:00-06:00"})"), Catch::Contains("HH:MM-HH:MM"));
    CHECK_THAT(policy_error(R"("watch":"access","alert":{"hours":"08:00-08:00"})"), Catch::Contains("same minute"));
    CHECK(policy_error(R"("watch":"access","alert":{"bulk_read":{"files":100,"window":"60"}})") ==
          where +
              "\"alert\": \"bulk_read\": \"window\" \"60\" must be a duration like \"60s\", \"5m\", \"2h\" or "
              "\"1d\", from 1s to 1d");
    CHECK_THAT(policy_error(R"("watch":"access","alert":{"bulk_read":{"files":0,"window":"60s"}})"),
               Catch::Contains("\"files\" must be a whole number from 1 to 100000"));
    CHECK_THAT(policy_error(R"("watch":"access","alert":{"bulk_read":{"files":10}})"),
               Catch::Contains("needs both \"files\" and \"window\""));
    CHECK_THAT(policy_error(R"("watch":"access","alert":{"bulk_read":{"files":10,"window":"1m","per":"uid"}})"),
               Catch::Contains("unknown key \"per\""));
    CHECK_THAT(policy_error(R"("watch":"access","alert":{"burst":{}})"),
               Catch::Contains("unknown key \"burst\" (known: bulk_read, hours)"));
    CHECK_THAT(policy_error(R"("alert":{"hours":"07:00-20:00"})"),
               Catch::Contains("\"alert\" needs \"watch\": \"access\""));
}

TEST_CASE("the example customer-data policy parses", "[unit][expectation][policy]") {
    const std::string text = vigil::test::read_file(VIGIL_POLICIES_DIR "/customer-data.json");
    auto p = parse_policy(text, "policies/customer-data.json");
    INFO((p ? std::string() : p.error().message()));
    REQUIRE(p);
    int with_expect = 0;
    int with_alert = 0;
    for (const auto& r : p->rules) {
        with_expect += r.expect ? 1 : 0;
        with_alert += r.alert ? 1 : 0;
    }
    CHECK(with_expect == 4);
    CHECK(with_alert == 3);
    const Rule* transactions = nullptr;
    for (const auto& r : p->rules)
        if (r.label == "transactions") transactions = &r;
    REQUIRE(transactions);
    CHECK(transactions->expect->read->front().text() == "group:sales");
}

TEST_CASE("NSS answers are cached for the TTL, then asked again", "[unit][expectation]") {
    auto now = std::chrono::steady_clock::time_point{};
    NssDirectory dir(std::chrono::seconds(60), [&] { return now; });
    const Identity root = dir.user(0);
    CHECK(root.name == std::optional<std::string>("root"));
    CHECK(std::find(root.gids.begin(), root.gids.end(), 0) != root.gids.end());
    CHECK(dir.lookups() == 1);
    (void)dir.user(0);
    now += std::chrono::seconds(59);
    (void)dir.user(0);
    CHECK(dir.lookups() == 1);  // within the TTL: no NSS call
    now += std::chrono::seconds(2);
    (void)dir.user(0);
    CHECK(dir.lookups() == 2);  // a membership change in LDAP is seen after at most a TTL
    CHECK(dir.group_id("root") == std::optional<std::int64_t>(0));
    CHECK(dir.group_name(0) == std::optional<std::string>("root"));
    CHECK_FALSE(dir.group_id("vigil-no-such-group"));
    CHECK_FALSE(dir.user(4'000'000'000).name);  // no passwd entry: no name, no groups
    CHECK(dir.user(4'000'000'000).gids.empty());
}
