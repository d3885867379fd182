// Expectations and alerts end to end (issue 8): the real agent under fanotify, real users
// in real groups made with groupadd/useradd (removed afterwards), real reads by processes
// running as those users; asserted on the database rows and through `vigil query`,
// `vigil status` and `vigil report`.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/agent/agent_fixture.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using nlohmann::json;
using vigil::test::ActAs;
using vigil::test::Agent;
using vigil::test::Row;
using vigil::test::TestUser;

namespace {

// useradd/groupadd/userdel exit 10 while another test holds the lock on /etc/group.
void admin(const std::string& program, const std::vector<std::string>& args, bool must_succeed) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto r = vigil::test::run_program(program, args);
        if (r.exit_code == 0 || r.exit_code == 9 /* exists */) return;
        if (r.exit_code != 10 && r.exit_code != 1) {
            if (must_succeed) FAIL(program + " failed: " + r.err);
            return;
        }
        ::usleep(50 * 1000);
    }
    if (must_succeed) FAIL(program + " kept failing on a lock");
}

TestUser lookup(const std::string& name) {
    const passwd* pw = ::getpwnam(name.c_str());
    REQUIRE(pw != nullptr);
    return {name, pw->pw_uid, pw->pw_gid};
}

// A sales group, a support group, a user in each and one in neither; names unique to
// this process so tests run in parallel, all removed again at the end.
struct Roles {
    std::string tag = "vx" + std::to_string(::getpid());
    std::string sales_group = tag + "sales";
    std::string support_group = tag + "supp";
    TestUser sales, support, outsider;

    Roles() {
        admin("/usr/sbin/groupadd", {sales_group}, true);
        admin("/usr/sbin/groupadd", {support_group}, true);
        sales = make(tag + "s", sales_group);
        support = make(tag + "p", support_group);
        outsider = make(tag + "n", "");
    }
    ~Roles() {
        for (const auto* u : {&sales, &support, &outsider})
            if (!u->name.empty()) admin("/usr/sbin/userdel", {u->name}, false);
        admin("/usr/sbin/groupdel", {sales_group}, false);
        admin("/usr/sbin/groupdel", {support_group}, false);
    }
    Roles(const Roles&) = delete;
    Roles& operator=(const Roles&) = delete;

private:
    static TestUser make(const std::string& name, const std::string& group) {
        std::vector<std::string> args{"--no-create-home", "--shell", "/usr/sbin/nologin"};
        if (!group.empty()) args.insert(args.end(), {"-G", group});
        args.push_back(name);
        admin("/usr/sbin/useradd", args, true);
        return lookup(name);
    }
};

int read_files(const std::vector<std::string>& paths) {
    for (const auto& p : paths) {
        const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return 1;
        char buf[64];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        ::close(fd);
        if (n < 0) return 2;
    }
    return 0;
}

// Reads `paths` as `user` (logged in as `login_uid`, by default the user itself) from a
// process that stays alive until the read row of the last path is in the database.
void read_as(Agent& agent, const TestUser& user, const std::vector<std::string>& paths,
             std::optional<unsigned> login_uid = std::nullopt) {
    ActAs act(user.uid, user.gid, login_uid ? *login_uid : user.uid, {[paths] { return read_files(paths); }});
    REQUIRE(act.run_next() == 0);
    const std::string uid = std::to_string(user.uid);
    REQUIRE(agent.wait_until(
        [&](const Row& r) { return r.at("action") == "read" && r.at("path") == paths.back() && r.at("uid") == uid; }));
}

std::optional<Row> read_row(const std::vector<Row>& rows, const std::string& path, const TestUser& user) {
    for (const auto& r : rows)
        if (r.at("action") == "read" && r.at("path") == path && r.at("uid") == std::to_string(user.uid)) return r;
    return std::nullopt;
}

std::vector<Row> alerts_of(const std::vector<Row>& rows) {
    std::vector<Row> out;
    for (const auto& r : rows)
        if (r.at("action") == "alert") out.push_back(r);
    return out;
}

std::string rule(const std::string& path, const std::string& label, const std::string& extra) {
    return R"({"path":")" + path + R"(","watch":"access","label":")" + label + "\"" + (extra.empty() ? "" : ",") +
           extra + "}";
}

// A local-time window that excludes now by two hours either way.
std::string hours_excluding_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    REQUIRE(::localtime_r(&t, &tm) != nullptr);
    const int now = tm.tm_hour * 60 + tm.tm_min;
    const int start = (now + 120) % 1440;
    const int end = (now + 240) % 1440;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d:%02d-%02d:%02d", start / 60, start % 60, end / 60, end % 60);
    return buf;
}

}  // namespace

TEST_CASE("the agent marks a support user reading a sales-only file unexpected, a sales user not",
          "[kernel][root][agent][expect]") {
    const Roles roles;
    vigil::test::TempDir base;
    const std::string tx = base / "transactions";
    const std::string contacts = base / "contacts";
    vigil::test::make_dirs(tx);
    vigil::test::make_dirs(contacts);
    vigil::test::write_file(tx + "/2024.csv", "id,amount\n1,100\n");
    vigil::test::write_file(tx + "/2025.csv", "id,amount\n2,200\n");
    vigil::test::write_file(contacts + "/ada.vcf", "BEGIN:VCARD\n");
    Agent agent("fanotify",
                rule(tx, "transactions",
                     R"("expect":{"read":["group:)" + roles.sales_group + R"("],"modify":["group:)" +
                         roles.sales_group + R"("]})") +
                    "," + rule(contacts, "contacts", R"("expect":{"read":["group:)" + roles.support_group + R"("]})"));

    const std::string file = tx + "/2024.csv";
    read_as(agent, roles.support, {file});
    read_as(agent, roles.sales, {file});
    read_as(agent, roles.outsider, {file});
    read_as(agent, roles.support, {contacts + "/ada.vcf"});
    // sudo -u sales by the support user: acting as sales, logged in as support.
    const std::string file2 = tx + "/2025.csv";
    read_as(agent, roles.sales, {file2}, roles.support.uid);

    const auto rows = agent.stop();
    const auto support_row = read_row(rows, file, roles.support);
    REQUIRE(support_row);
    CHECK(support_row->at("unexpected") == "1");
    const json detail = json::parse(support_row->at("detail").value_or("{}"));
    INFO(detail.dump());
    CHECK_THAT(detail.at("unexpected").get<std::string>(),
               Catch::Contains("user " + roles.support.name) && Catch::Contains("not expected to read") &&
                   Catch::Contains(roles.support_group) && Catch::Contains("group:" + roles.sales_group));

    const auto outsider_row = read_row(rows, file, roles.outsider);
    REQUIRE(outsider_row);
    CHECK(outsider_row->at("unexpected") == "1");

    const auto support_contacts = read_row(rows, contacts + "/ada.vcf", roles.support);
    REQUIRE(support_contacts);
    CHECK(support_contacts->at("unexpected") == "0");

    // The sales user's own read is expected; the sudo'd one (auid = support) is not.
    const auto sales_row = read_row(rows, file, roles.sales);
    REQUIRE(sales_row);
    CHECK(sales_row->at("auid") == std::to_string(roles.sales.uid));
    CHECK(sales_row->at("unexpected") == "0");
    CHECK(sales_row->at("detail").value_or("").find("unexpected") == std::string::npos);
    const auto sudo_row = read_row(rows, file2, roles.sales);
    REQUIRE(sudo_row);
    CHECK(sudo_row->at("auid") == std::to_string(roles.support.uid));
    CHECK(sudo_row->at("unexpected") == "1");
    CHECK_THAT(sudo_row->at("detail").value_or(""), Catch::Contains("login user " + roles.support.name));

    // vigil query --unexpected: exactly the unexpected rows, and the table marks them.
    auto q = vigil::test::run_vigil({"query", "--db", agent.db, "--unexpected", "--format", "json"});
    REQUIRE(q.exit_code == 0);
    const json found = json::parse(q.out);
    std::set<std::string> users;
    for (const auto& e : found) {
        CHECK(e.at("unexpected") == true);
        users.insert(e.at("user").get<std::string>());
    }
    CHECK(users.count(roles.support.name) == 1);
    CHECK(users.count(roles.outsider.name) == 1);
    CHECK(users.count(roles.sales.name) == 1);  // the sudo'd read only (checked by auid above)
    auto table =
        vigil::test::run_vigil({"query", "--db", agent.db, "--unexpected", "--path", file, "--format", "table"});
    REQUIRE(table.exit_code == 0);
    CHECK_THAT(table.out, Catch::Contains("read (unexpected)") && Catch::Contains(roles.outsider.name));

    // The report's first section counts them by label and user.
    auto report = vigil::test::run_vigil({"report", "--policy", agent.policy, "--db", agent.db, "--format", "json"});
    INFO(report.err);
    REQUIRE(report.exit_code < 16);
    const json rep = json::parse(report.out);
    const auto& ex = rep.at("expectations");
    CHECK(ex.at("unexpected").get<std::int64_t>() >= 3);
    bool grouped = false;
    for (const auto& g : ex.at("unexpected_by"))
        grouped = grouped || (g.at("label") == "transactions" && g.at("user") == roles.support.name);
    CHECK(grouped);
    auto text = vigil::test::run_vigil({"report", "--policy", agent.policy, "--db", agent.db});
    CHECK(text.out.find("Expectations and alerts") < text.out.find("Integrity findings"));
}

TEST_CASE("a 300-file bulk read by one user raises exactly one alert", "[kernel][root][agent][expect]") {
    const Roles roles;
    vigil::test::TempDir base;
    const std::string tx = base / "transactions";
    vigil::test::make_dirs(tx);
    std::vector<std::string> files;
    for (int i = 0; i < 300; ++i) {
        files.push_back(tx + "/t" + std::to_string(i) + ".csv");
        vigil::test::write_file(files.back(), "id,amount\n");
    }
    Agent agent("fanotify", rule(tx, "transactions",
                                 R"("expect":{"read":["group:)" + roles.sales_group +
                                     R"("]},"alert":{"bulk_read":{"files":100,"window":"10m"}})"));
    read_as(agent, roles.sales, files);  // an expected reader: a leak needs no broken rule
    REQUIRE(agent.wait_for("alert", files[100]));

    // vigil status sees the alert while the agent runs.
    json status;
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto s = vigil::test::run_vigil({"status", "--db", agent.db, "--format", "json"});
        status = json::parse(s.out);
        if (status["agent"].is_object() && status["agent"].value("alerts", 0) == 1) break;
        ::usleep(100 * 1000);
    }
    CHECK(status["database"]["alerts"]["count"] == 1);
    CHECK(status["database"]["alerts"]["last"]["detail"]["alert"] == "bulk_read");
    CHECK(status["agent"]["alerts"] == 1);
    auto status_text = vigil::test::run_vigil({"status", "--db", agent.db});
    CHECK_THAT(status_text.out,
               Catch::Contains("Alerts: 1, last") && Catch::Contains("bulk_read by " + roles.sales.name));

    const auto output = agent.proc->output();
    const auto rows = agent.stop();
    const auto alerts = alerts_of(rows);
    REQUIRE(alerts.size() == 1);
    const Row& a = alerts[0];
    CHECK(a.at("uid") == std::to_string(roles.sales.uid));
    CHECK(a.at("label") == "transactions");
    CHECK(a.at("severity") == "high");
    const json d = json::parse(a.at("detail").value());
    CHECK(d.at("alert") == "bulk_read");
    CHECK(d.at("files") == 101);
    CHECK(d.at("threshold") == 100);
    CHECK(d.at("window") == "10m");
    CHECK(d.at("user") == roles.sales.name);
    CHECK(d.at("sample_paths").size() == 5);
    CHECK(d.at("sample_paths").back() == files[100]);
    // Every file's read is still recorded, none of them unexpected.
    int reads = 0;
    for (const auto& r : rows)
        if (r.at("action") == "read" && r.at("uid") == std::to_string(roles.sales.uid)) {
            ++reads;
            CHECK(r.at("unexpected") == "0");
        }
    CHECK(reads == 300);
    CHECK_THAT(output, Catch::Contains("vigil alert: user " + roles.sales.name));

    auto q = vigil::test::run_vigil({"query", "--db", agent.db, "--action", "alert", "--format", "json"});
    REQUIRE(q.exit_code == 0);
    CHECK(json::parse(q.out).size() == 1);
    auto report = vigil::test::run_vigil({"report", "--policy", agent.policy, "--db", agent.db, "--format", "html"});
    CHECK_THAT(report.out, Catch::Contains("Alerts: 1") && Catch::Contains("bulk_read"));
}

TEST_CASE("a read outside the configured hours raises one alert", "[kernel][root][agent][expect]") {
    const Roles roles;
    vigil::test::TempDir base;
    const std::string tx = base / "transactions";
    vigil::test::make_dirs(tx);
    std::vector<std::string> files;
    for (int i = 0; i < 3; ++i) {
        files.push_back(tx + "/t" + std::to_string(i) + ".csv");
        vigil::test::write_file(files.back(), "id,amount\n");
    }
    const std::string hours = hours_excluding_now();
    Agent agent("fanotify", rule(tx, "transactions", R"("alert":{"hours":")" + hours + "\"}"));
    read_as(agent, roles.sales, files);
    REQUIRE(agent.wait_for("alert", files[0]));
    const auto rows = agent.stop();
    const auto alerts = alerts_of(rows);
    REQUIRE(alerts.size() == 1);  // once per user and label, not once per file
    const json d = json::parse(alerts[0].at("detail").value());
    CHECK(d.at("alert") == "hours");
    CHECK(d.at("hours") == hours);
    CHECK(d.at("uid") == roles.sales.uid);
    auto report = vigil::test::run_vigil({"report", "--policy", agent.policy, "--db", agent.db});
    CHECK_THAT(report.out, Catch::Contains("Alerts: 1") && Catch::Contains("hours  transactions  " + roles.sales.name));
}

TEST_CASE("exe in an expectation restricts which programs may read", "[kernel][root][agent][expect]") {
    const Roles roles;
    vigil::test::TempDir base;
    const std::string mine = base / "by-this-program";
    const std::string crm = base / "by-crm-only";
    vigil::test::make_dirs(mine);
    vigil::test::make_dirs(crm);
    vigil::test::write_file(mine + "/a.csv", "x\n");
    vigil::test::write_file(crm + "/b.csv", "x\n");
    // The reads below are made by this test binary (a forked child of it).
    std::string self(4096, '\0');
    const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size());
    REQUIRE(n > 0);
    self.resize(static_cast<std::size_t>(n));
    const std::string group = "group:" + roles.sales_group;
    Agent agent("fanotify",
                rule(mine, "mine", R"("expect":{"read":[")" + group + R"("],"exe":[")" + self + R"("]})") + "," +
                    rule(crm, "crm", R"("expect":{"read":[")" + group + R"("],"exe":["/opt/crm/bin/crm"]})"));
    read_as(agent, roles.sales, {mine + "/a.csv"});
    read_as(agent, roles.sales, {crm + "/b.csv"});
    const auto rows = agent.stop();
    const auto ok = read_row(rows, mine + "/a.csv", roles.sales);
    REQUIRE(ok);
    CHECK(ok->at("unexpected") == "0");
    const auto bad = read_row(rows, crm + "/b.csv", roles.sales);
    REQUIRE(bad);
    CHECK(bad->at("unexpected") == "1");
    CHECK_THAT(bad->at("detail").value_or(""), Catch::Contains("executable") && Catch::Contains("is not expected") &&
                                                   Catch::Contains("/opt/crm/bin/crm"));
}

TEST_CASE("SIGHUP applies new expectations", "[kernel][root][agent][expect]") {
    const Roles roles;
    vigil::test::TempDir base;
    const std::string tx = base / "transactions";
    vigil::test::make_dirs(tx);
    vigil::test::write_file(tx + "/before.csv", "x\n");
    vigil::test::write_file(tx + "/after.csv", "x\n");
    Agent agent("fanotify", rule(tx, "transactions", ""));
    read_as(agent, roles.support, {tx + "/before.csv"});
    vigil::test::write_file(
        agent.policy, "{\"audit\":{\"enabled\":false},\"rules\":[" +
                          rule(tx, "transactions", R"("expect":{"read":["group:)" + roles.sales_group + R"("]})") +
                          "]}");
    agent.proc->signal(SIGHUP);
    REQUIRE(agent.proc->wait_for_output("policy reloaded"));
    read_as(agent, roles.support, {tx + "/after.csv"});
    const auto rows = agent.stop();
    const auto before = read_row(rows, tx + "/before.csv", roles.support);
    const auto after = read_row(rows, tx + "/after.csv", roles.support);
    REQUIRE(before);
    REQUIRE(after);
    CHECK(before->at("unexpected") == "0");
    CHECK(after->at("unexpected") == "1");
}

TEST_CASE("reads without an actor are not evaluated, and the report counts them", "[kernel][agent][expect]") {
    vigil::test::TempDir base;
    const std::string tx = base / "transactions";
    vigil::test::make_dirs(tx);
    vigil::test::write_file(tx + "/a.csv", "x\n");
    // inotify gives no actor: the expectation cannot be judged, so it is not.
    Agent agent("inotify", rule(tx, "transactions", R"("expect":{"read":["group:root"]})"));
    (void)vigil::test::read_file(tx + "/a.csv");
    REQUIRE(agent.wait_for("read", tx + "/a.csv"));
    const auto rows = agent.stop();
    const auto reads = vigil::test::find(rows, "read", tx + "/a.csv");
    REQUIRE_FALSE(reads.empty());
    for (const auto& r : reads) {
        CHECK(r.at("unexpected") == "0");
        CHECK_THAT(r.at("detail").value_or(""), Catch::Contains("\"not_evaluated\":\"actor unknown\""));
    }
    auto report = vigil::test::run_vigil({"report", "--policy", agent.policy, "--db", agent.db, "--format", "json"});
    REQUIRE(report.exit_code < 16);
    const json ex = json::parse(report.out).at("expectations");
    CHECK(ex.at("not_evaluated").get<std::int64_t>() >= 1);
    CHECK(ex.at("not_evaluated_by").at(0).at("label") == "transactions");
    CHECK(ex.at("unexpected") == 0);
}
