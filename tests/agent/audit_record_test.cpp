// The pure parts of the audit source: records parsed by the real libauparse from the text
// the kernel sends (agent/audit_record), the attribution join's bounds (agent/audit_join),
// and the policy's "audit" setting.
#include "agent/audit_record.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "agent/audit_join.h"
#include "common/policy.h"

using vigil::agent::AuditJoin;
using vigil::agent::AuditRecord;

namespace {

struct AuparseFree {
    void operator()(auparse_state_t* au) const { auparse_destroy(au); }
};

// Feeds log lines to libauparse as the reader thread does; returns the events it completed.
std::vector<AuditRecord> parse(const std::vector<std::string>& lines) {
    std::unique_ptr<auparse_state_t, AuparseFree> au(auparse_init(AUSOURCE_FEED, nullptr));
    REQUIRE(au);
    auparse_set_escape_mode(au.get(), AUPARSE_ESC_RAW);
    std::vector<AuditRecord> out;
    auparse_add_callback(
        au.get(),
        [](auparse_state_t* a, auparse_cb_event_t type, void* user) {
            if (type != AUPARSE_CB_EVENT_READY) return;
            if (auto r = vigil::agent::read_audit_event(a)) static_cast<std::vector<AuditRecord>*>(user)->push_back(*r);
        },
        &out, nullptr);
    for (const auto& l : lines) REQUIRE(auparse_feed(au.get(), l.data(), l.size()) == 0);
    auparse_flush_feed(au.get());
    return out;
}

const std::string kSerial = "audit(1700000000.123:42): ";

std::vector<std::string> denied_open(const std::string& a0, const std::string& name) {
    return {"type=SYSCALL msg=" + kSerial + "arch=c000003e syscall=257 success=no exit=-13 a0=" + a0 +
                " a1=7ffd a2=0 a3=0 items=1 ppid=100 pid=200 auid=1000 uid=1001 gid=1002 euid=1001 suid=1001 "
                "fsuid=1001 egid=1002 sgid=1002 fsgid=1002 tty=pts0 ses=1 comm=\"cat\" exe=2F746D702F6120622F636174 "
                "subj=unconfined key=\"vigil-0123abcd\"\n",
            "type=CWD msg=" + kSerial + "cwd=\"/srv\"\n",
            "type=PATH msg=" + kSerial + "item=0 name=\"" + name +
                "\" inode=123 dev=08:01 mode=0100600 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 "
                "cap_fe=0 cap_fver=0 cap_frootid=0\n",
            "type=PROCTITLE msg=" + kSerial + "proctitle=636174002F7372762F782E637376\n",
            "type=EOE msg=" + kSerial + "\n"};
}

}  // namespace

TEST_CASE("audit records: a denied openat is read with its actor, names and result", "[unit][audit]") {
    const auto events = parse(denied_open("ffffff9c", "data/x.csv"));
    REQUIRE(events.size() == 1);
    const AuditRecord& r = events[0];
    CHECK(r.serial == 42);
    CHECK(r.time_ns == 1'700'000'000'123'000'000);
    CHECK(r.syscall == "openat");
    CHECK_FALSE(r.success);
    CHECK(r.exit == -13);
    CHECK(r.key == "vigil-0123abcd");
    CHECK(r.actor.pid == 200);
    CHECK(r.actor.ppid == 100);
    CHECK(r.actor.uid == 1001);
    CHECK(r.actor.gid == 1002);
    CHECK(r.actor.auid == 1000);
    CHECK(r.actor.exe == "/tmp/a b/cat");  // hex-encoded by the kernel (a space), decoded
    CHECK(r.actor.comm == "cat");
    CHECK(r.actor.cmdline == "cat /srv/x.csv");
    REQUIRE(r.names.size() == 1);
    CHECK(r.names[0].inode == 123U);
    CHECK(vigil::agent::absolute_names(r, true) == std::vector<std::string>{"/srv/data/x.csv"});
    CHECK(vigil::agent::audit_operation(r.syscall) == "open");
    CHECK(vigil::agent::audit_operation("fchmodat") == "chmod");
    CHECK(vigil::agent::audit_operation("unlinkat") == "unlink");
    CHECK(vigil::agent::audit_operation("renameat2") == "rename");
}

TEST_CASE("audit records: a name relative to a directory fd is not guessed", "[unit][audit]") {
    const auto events = parse(denied_open("3", "x.csv"));
    REQUIRE(events.size() == 1);
    CHECK(vigil::agent::absolute_names(events[0], true).empty());
    const auto absolute = parse(denied_open("3", "/srv/x.csv"));
    CHECK(vigil::agent::absolute_names(absolute.at(0), true) == std::vector<std::string>{"/srv/x.csv"});
}

TEST_CASE("audit records: a request for the daemon role is recognised", "[unit][audit]") {
    const auto change =
        vigil::agent::audit_pid_change("audit(1700000000.123:43): op=set audit_pid=4321 old=1234 auid=0 ses=1 res=0");
    REQUIRE(change);
    CHECK(change->requested == 4321);
    CHECK(change->old == 1234);
    CHECK_FALSE(vigil::agent::audit_pid_change("audit(1700000000.123:44): op=set audit_enabled=1 old=0 auid=0 res=1"));
    CHECK(vigil::agent::syscall_event_record(1300));        // SYSCALL
    CHECK(vigil::agent::syscall_event_record(1320));        // EOE
    CHECK_FALSE(vigil::agent::syscall_event_record(1305));  // CONFIG_CHANGE: no EOE follows it
}

TEST_CASE("audit join: an event waits for its record, bounded in time and number", "[unit][audit]") {
    AuditJoin join;
    const std::int64_t t0 = 1'700'000'000'000'000'000;
    auto event = [&](const std::string& path) {
        vigil::Event e;
        e.time_ns = t0;
        e.source = vigil::Source::Fanotify;
        e.path = path;
        return e;
    };
    auto raw = [](pid_t pid) {
        vigil::agent::RawEvent r;
        r.pid = pid;
        return r;
    };
    REQUIRE(join.hold(event("/srv/a"), raw(200), t0));
    REQUIRE(join.hold(event("/srv/b"), raw(201), t0));
    CHECK(join.held() == 2);

    // The (exec) record of pid 200 completes its event, not the other pid's.
    AuditRecord rec = parse(denied_open("ffffff9c", "/srv/a")).at(0);
    rec.success = true;
    rec.time_ns = t0;
    auto done = join.add_record(AuditRecord(rec), t0);
    REQUIRE(done.size() == 1);
    CHECK(done[0].event.path == "/srv/a");
    CHECK(done[0].event.actor.uid == 1001);
    CHECK_THAT(done[0].event.detail.value_or(""), Catch::Contains("\"actor_source\":\"audit\""));
    CHECK(join.completed() == 1);

    // Another event of pid 200 on the same file finds the record already there.
    vigil::Event later = event("/srv/a");
    CHECK(join.complete(later, 200));
    vigil::Event other_pid = event("/srv/a");
    CHECK_FALSE(join.complete(other_pid, 999));

    // The one left waits at most kWaitNs.
    CHECK(join.expired(t0 + AuditJoin::kWaitNs - 1).empty());
    const auto expired = join.expired(t0 + AuditJoin::kWaitNs);
    REQUIRE(expired.size() == 1);
    CHECK_FALSE(expired[0].event.actor.uid.has_value());
    CHECK(join.held() == 0);

    // And never more than kMaxHeld wait at once.
    for (std::size_t i = 0; i < AuditJoin::kMaxHeld; ++i) REQUIRE(join.hold(event("/srv/c"), raw(300), t0));
    CHECK_FALSE(join.hold(event("/srv/c"), raw(300), t0));
    CHECK(join.expired(INT64_MAX).size() == AuditJoin::kMaxHeld);
}

TEST_CASE("policy: the audit setting", "[unit][audit]") {
    auto on = vigil::parse_policy(R"({"rules":[{"path":"/srv"}]})", "p.json");
    REQUIRE(on);
    CHECK(on->audit_enabled);
    CHECK(on->audit_attribution);
    auto off =
        vigil::parse_policy(R"({"audit":{"enabled":false,"attribution":false},"rules":[{"path":"/srv"}]})", "p.json");
    REQUIRE(off);
    CHECK_FALSE(off->audit_enabled);
    CHECK_FALSE(off->audit_attribution);
    auto unknown = vigil::parse_policy(R"({"audit":{"enable":true},"rules":[{"path":"/srv"}]})", "p.json");
    REQUIRE_FALSE(unknown);
    CHECK_THAT(unknown.error().message(), Catch::Contains("unknown key") && Catch::Contains("enable"));
    auto not_bool = vigil::parse_policy(R"({"audit":{"enabled":"yes"},"rules":[{"path":"/srv"}]})", "p.json");
    REQUIRE_FALSE(not_bool);
    CHECK_THAT(not_bool.error().message(), Catch::Contains("must be true or false"));
}
