// The audit source against the real kernel (agent/audit_source.h): denied attempts by real
// users, attribution of a short-lived writer from audit records, and Vigil's audit rules
// added and removed cleanly — with auditd running (started here) and without it — while a
// rule somebody else loaded survives. The audit subsystem is one per host: these tests
// hold an exclusive lock so two of them never run at once, and leave it as they found it
// (auditd stopped if they started it, the daemon pid and the enabled flag restored).
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/agent/agent_fixture.h"
#include "tests/support/process.h"

using vigil::test::Agent;
using vigil::test::Row;
using vigil::test::run_program;

namespace {

const char* const kAuditctl = "/usr/sbin/auditctl";
const char* const kAuditd = "/usr/sbin/auditd";

std::string auditctl(const std::vector<std::string>& args) {
    auto r = run_program(kAuditctl, args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
}

long status_field(const std::string& name) {
    const std::string s = auditctl({"-s"});
    std::smatch m;
    REQUIRE(std::regex_search(s, m, std::regex("(^|\n)" + name + " (\\d+)")));
    return std::stol(m[2]);
}

// No live audit daemon: none registered, or a stale pid (an auditd that exited without
// unregistering; the kernel notices at its next delivery, or when a new daemon registers).
bool no_live_audit_daemon() {
    const long pid = status_field("pid");
    return pid == 0 || (::kill(static_cast<pid_t>(pid), 0) < 0 && errno == ESRCH);
}

// The lock alone, so that it is released even when AuditState's constructor fails.
class AuditLock {
public:
    AuditLock() : fd_(::open("/tmp/vigil-test-audit.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
        REQUIRE(fd_ >= 0);
        REQUIRE(::flock(fd_, LOCK_EX) == 0);
    }
    ~AuditLock() {
        if (fd_ >= 0) ::close(fd_);
    }
    AuditLock(const AuditLock&) = delete;
    AuditLock& operator=(const AuditLock&) = delete;

private:
    int fd_;
};

// Serialises the audit tests and restores the audit subsystem's state when done.
class AuditState {
public:
    AuditState() {
        enabled_ = status_field("enabled");
        backlog_ = status_field("backlog_limit");
        REQUIRE(no_live_audit_daemon());  // the tests start auditd when they need it
    }
    ~AuditState() {
        run_program(kAuditctl, {"-D", "-k", "othertest"});
        if (auditd_) {
            auditd_->signal(SIGTERM);
            auditd_->wait();
        }
        run_program(kAuditctl, {"-e", std::to_string(enabled_)});
        run_program(kAuditctl, {"-b", std::to_string(backlog_)});
    }
    AuditState(const AuditState&) = delete;
    AuditState& operator=(const AuditState&) = delete;

    void start_auditd() {
        // -n: no fork, so the test owns the process and stops it; -s nochange: keep SELinux out.
        auditd_ =
            std::make_unique<vigil::test::BackgroundProcess>(kAuditd, std::vector<std::string>{"-n", "-s", "nochange"});
        for (int i = 0; i < 100 && status_field("pid") != auditd_->pid(); ++i) ::usleep(50'000);
        INFO(auditd_->output());
        REQUIRE(status_field("pid") == auditd_->pid());
        auditctl({"-e", "1"});  // what augenrules' rules end with under systemd
    }
    long enabled() const { return enabled_; }

private:
    AuditLock lock_;  // first: taken before the state is read, released last
    long enabled_ = 0;
    long backlog_ = 0;
    std::unique_ptr<vigil::test::BackgroundProcess> auditd_;
};

// `vigil status --format json`, once the agent has published its first status (every
// second, from its poll loop: right after "ready" there may be none yet).
nlohmann::json agent_status(const Agent& agent) {
    for (int i = 0; i < 100; ++i) {
        auto r = vigil::test::run_vigil({"status", "--db", agent.db, "--format", "json"});
        REQUIRE(r.exit_code == 0);
        auto j = nlohmann::json::parse(r.out);
        if (j["agent"].is_object() && j["agent"].contains("audit")) return j;
        ::usleep(50'000);
    }
    FAIL("the agent published no status");
    return {};
}

// The fixture's agent with the audit source on (the fixture leaves it off for every other test).
void start_with_audit(Agent& agent) {
    std::string text(1 << 16, '\0');
    const int fd = ::open(agent.policy.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const ssize_t n = ::read(fd, text.data(), text.size());
    ::close(fd);
    REQUIRE(n > 0);
    text.resize(static_cast<std::size_t>(n));
    const std::string off = R"("audit":{"enabled":false})";
    const auto at = text.find(off);
    REQUIRE(at != std::string::npos);
    text.replace(at, off.size(), R"("audit":{"enabled":true})");
    vigil::test::write_file(agent.policy, text);
    agent.start();
}

std::string key_of(const nlohmann::json& status) { return status["agent"]["audit_key"].get<std::string>(); }

// A user without permission: cat of a 0600 file (open EACCES), chmod of root's file
// (EPERM); both become `denied` rows with the user's uid and the program's exe.
void act_denied(Agent& agent, const vigil::test::TestUser& user, const std::string& file) {
    vigil::test::RunOptions as_user;
    as_user.uid = user.uid;
    as_user.gid = user.gid;
    auto cat = run_program("/usr/bin/cat", {file}, as_user);
    REQUIRE(cat.exit_code != 0);
    REQUIRE_THAT(cat.err, Catch::Contains("Permission denied"));
    auto chmod = run_program("/usr/bin/chmod", {"0666", file}, as_user);
    REQUIRE(chmod.exit_code != 0);
    const auto is_denied = [&](const std::string& op) {
        return [&, op](const Row& r) {
            return r.at("action") == "denied" && r.at("path") == file &&
                   r.at("detail").value_or("").find("\"operation\":\"" + op + "\"") != std::string::npos;
        };
    };
    REQUIRE(agent.wait_until(is_denied("open")));
    REQUIRE(agent.wait_until(is_denied("chmod")));
}

void check_denied_rows(const std::vector<Row>& rows, const vigil::test::TestUser& user, const std::string& file) {
    std::vector<Row> open, chmod;
    for (const auto& r : vigil::test::find(rows, "denied", file)) {
        const std::string detail = r.at("detail").value_or("");
        if (detail.find("\"operation\":\"open\"") != std::string::npos) open.push_back(r);
        if (detail.find("\"operation\":\"chmod\"") != std::string::npos) chmod.push_back(r);
    }
    REQUIRE(open.size() == 1);
    const Row& o = open[0];
    CHECK(o.at("uid") == std::to_string(user.uid));
    CHECK(o.at("euid") == std::to_string(user.uid));
    CHECK(o.at("user") == user.name);
    CHECK(o.at("exe") == "/usr/bin/cat");
    CHECK(o.at("comm") == "cat");
    CHECK(o.at("source") == "audit");
    CHECK(o.at("label") == "customers");
    CHECK(o.at("severity") == "critical");
    CHECK(o.at("pid").has_value());
    CHECK_THAT(o.at("detail").value_or(""), Catch::Contains("\"errno\":\"EACCES\""));
    CHECK_THAT(o.at("detail").value_or(""), Catch::Contains("\"syscall\":\"openat\""));
    REQUIRE(chmod.size() == 1);
    CHECK(chmod[0].at("uid") == std::to_string(user.uid));
    CHECK(chmod[0].at("exe") == "/usr/bin/chmod");
    CHECK_THAT(chmod[0].at("detail").value_or(""), Catch::Contains("\"errno\":\"EPERM\""));
}

}  // namespace

TEST_CASE("audit: without auditd, vigild is the audit daemon, records denied attempts and removes its rules at stop",
          "[kernel][root][agent][audit]") {
    REQUIRE(vigil::test::running_as_root());
    AuditState state;
    const auto user = vigil::test::ensure_user("vigildenied");
    Agent agent("fanotify", "", false);
    start_with_audit(agent);
    const std::string file = agent.root + "/secret/private.csv";
    vigil::test::write_file(file, "card,4111\n");
    REQUIRE(::chmod(file.c_str(), 0600) == 0);

    const auto status = agent_status(agent);
    CHECK(status["agent"]["audit"] == "daemon");
    CHECK(status_field("pid") == agent.proc->pid());
    CHECK(status_field("enabled") == 1);
    const std::string key = key_of(status);
    const std::string listed = auditctl({"-l"});
    CHECK_THAT(listed, Catch::Contains("key=" + key));
    CHECK_THAT(listed, Catch::Contains("dir=" + agent.root));

    act_denied(agent, user, file);
    const auto rows = agent.stop();
    check_denied_rows(rows, user, file);
    CHECK_THAT(rows.at(1).at("detail").value_or(""), Catch::Contains("\"audit\":\"daemon\""));

    // Given back as found: no rule with our key, no daemon, auditing as it was.
    CHECK_THAT(auditctl({"-l"}), !Catch::Contains(key));
    CHECK(no_live_audit_daemon());
    CHECK(status_field("enabled") == state.enabled());
}

TEST_CASE("audit: with auditd running, vigild reads the log group and leaves auditd's rules alone",
          "[kernel][root][agent][audit]") {
    REQUIRE(vigil::test::running_as_root());
    AuditState state;
    state.start_auditd();
    const long auditd_pid = status_field("pid");
    const auto user = vigil::test::ensure_user("vigildenied");
    vigil::test::TempDir other;
    auditctl({"-a", "always,exit", "-F", "arch=b64", "-S", "unlinkat", "-F", "dir=" + other.path(), "-k", "othertest"});

    Agent agent("fanotify", "", false);
    start_with_audit(agent);
    const std::string file = agent.root + "/secret/private.csv";
    vigil::test::write_file(file, "card,4111\n");
    REQUIRE(::chmod(file.c_str(), 0600) == 0);
    const auto status = agent_status(agent);
    CHECK(status["agent"]["audit"] == "multicast");
    CHECK(status_field("pid") == auditd_pid);  // auditd keeps its role
    const std::string key = key_of(status);
    CHECK_THAT(auditctl({"-l"}), Catch::Contains("key=" + key));

    act_denied(agent, user, file);
    const auto rows = agent.stop();
    check_denied_rows(rows, user, file);

    const std::string after = auditctl({"-l"});
    CHECK_THAT(after, !Catch::Contains(key));
    CHECK_THAT(after, Catch::Contains("-F dir=" + other.path() + " -F key=othertest"));
    CHECK(status_field("pid") == auditd_pid);
}

TEST_CASE("audit: a short-lived writer that /proc could not name is attributed from the audit records",
          "[kernel][root][agent][audit]") {
    REQUIRE(vigil::test::running_as_root());
    AuditState state;
    const auto user = vigil::test::ensure_user("vigilshort");
    // The agent's main thread waits 400 ms before reading each batch of fanotify events
    // (a test-only hook): the writer below has exited and been reaped by then.
    REQUIRE(::setenv("VIGIL_TEST_ONLY_STALL_MS", "400", 1) == 0);
    struct Unset {
        ~Unset() { ::unsetenv("VIGIL_TEST_ONLY_STALL_MS"); }
    } unset;
    vigil::test::RunOptions as_user;
    as_user.uid = user.uid;
    as_user.gid = user.gid;

    for (const bool audit : {false, true}) {
        DYNAMIC_SECTION("audit " << (audit ? "on" : "off")) {
            Agent agent("fanotify", "", false);
            const std::string rules = R"({"path":")" + agent.root + R"(","label":"data"})";
            vigil::test::write_file(agent.policy, std::string("{\"audit\":{\"enabled\":") + (audit ? "true" : "false") +
                                                      "},\"rules\":[" + rules + "]}");
            agent.start();
            const std::string f = agent.root + "/short.txt";
            auto w = run_program("/bin/sh", {"-c", "echo x > " + f}, as_user);
            REQUIRE(w.exit_code == 0);
            REQUIRE(agent.wait_for("modify", f));
            INFO(agent_status(agent).dump());  // the agent's attribution and audit counters
            const auto rows = agent.stop();
            INFO(agent.proc->output());
            const auto m = vigil::test::find(rows, "modify", f);
            REQUIRE(m.size() == 1);
            if (audit) {
                CHECK(m[0].at("uid") == std::to_string(user.uid));
                CHECK(m[0].at("user") == user.name);
                CHECK(m[0].at("exe") == "/usr/bin/dash");
                CHECK(m[0].at("cmdline").value_or("").find("echo x") != std::string::npos);
                CHECK_THAT(m[0].at("detail").value_or(""), Catch::Contains("\"actor_source\":\"audit\""));
                const auto created = vigil::test::find(rows, "create", f);
                REQUIRE(created.size() == 1);
                CHECK(created[0].at("uid") == std::to_string(user.uid));
            } else {
                // Without audit records the stall really does defeat /proc: no actor.
                CHECK_FALSE(m[0].at("uid").has_value());
                CHECK_FALSE(m[0].at("exe").has_value());
            }
        }
    }
}

TEST_CASE("audit: without CAP_AUDIT_CONTROL the agent says audit is unavailable and keeps watching",
          "[kernel][root][agent][audit]") {
    REQUIRE(vigil::test::running_as_root());
    AuditState state;
    Agent agent("fanotify", "", false);
    start_with_audit(agent);  // writes the policy with audit on, then starts the agent normally…
    agent.stop();
    // …and again with CAP_AUDIT_CONTROL and CAP_AUDIT_READ out of its bounding set
    // (util-linux setpriv execs vigild with them gone), as in a container that lacks them.
    agent.proc = std::make_unique<vigil::test::BackgroundProcess>(
        "/usr/bin/setpriv",
        std::vector<std::string>{"--bounding-set", "-audit_control,-audit_read", VIGILD_BIN, "--policy", agent.policy,
                                 "--db", agent.db, "--watcher", "fanotify"});
    REQUIRE(agent.proc->wait_for_output("ready"));
    CHECK_THAT(agent.proc->output(), Catch::Contains("audit source unavailable"));
    const auto status = agent_status(agent);
    const std::string audit = status["agent"]["audit"].get<std::string>();
    CHECK_THAT(audit, Catch::StartsWith("unavailable: ") && Catch::Contains("CAP_AUDIT_CONTROL"));
    CHECK(no_live_audit_daemon());

    // fanotify alone still records, with the actor from /proc.
    const std::string f = agent.root + "/still-watched.txt";
    vigil::test::write_file(f, "x\n");
    REQUIRE(agent.wait_for("modify", f));
    const auto rows = agent.stop();
    const auto m = vigil::test::find(rows, "modify", f);
    REQUIRE(m.size() == 1);
    CHECK(m[0].at("uid") == "0");
    bool start_says = false;
    for (const auto& r : rows)
        if (r.at("action") == "agent_start" &&
            r.at("detail").value_or("").find("\"audit\":\"unavailable: ") != std::string::npos)
            start_says = true;
    CHECK(start_says);
    CHECK(status_field("enabled") == state.enabled());
}

TEST_CASE(
    "audit: an auditd started while vigild is the audit daemon gets the role, and vigild follows on the log group",
    "[kernel][root][agent][audit]") {
    REQUIRE(vigil::test::running_as_root());
    AuditState state;
    const auto user = vigil::test::ensure_user("vigildenied");
    Agent agent("fanotify", "", false);
    start_with_audit(agent);
    const std::string file = agent.root + "/secret/private.csv";
    vigil::test::write_file(file, "card,4111\n");
    REQUIRE(::chmod(file.c_str(), 0600) == 0);
    REQUIRE(agent_status(agent)["agent"]["audit"] == "daemon");
    const std::string key = key_of(agent_status(agent));

    // The kernel refuses a second daemon (EEXIST): auditd's first start fails, and vigild,
    // told of the attempt, gives the role up.
    vigil::test::RunOptions quick;
    quick.timeout_seconds = 30;
    CHECK(run_program(kAuditd, {"-n", "-s", "nochange"}, quick).exit_code != 0);
    bool released = false;
    for (int i = 0; i < 100 && !released; ++i) {
        released = status_field("pid") == 0;
        if (!released) ::usleep(100'000);
    }
    REQUIRE(released);
    // Its restart (systemd: Restart=on-failure) succeeds; augenrules then deletes every rule.
    state.start_auditd();
    auditctl({"-D"});
    bool back = false;
    for (int i = 0; i < 100 && !back; ++i) {
        back = auditctl({"-l"}).find("key=" + key) != std::string::npos;
        if (!back) ::usleep(100'000);
    }
    REQUIRE(back);  // vigild noticed and added its rules again
    CHECK(agent_status(agent)["agent"]["audit"] == "multicast");

    act_denied(agent, user, file);
    const auto rows = agent.stop();
    check_denied_rows(rows, user, file);
    CHECK_THAT(auditctl({"-l"}), !Catch::Contains(key));
    CHECK(status_field("pid") != 0);  // auditd keeps the role after vigild stopped
}
