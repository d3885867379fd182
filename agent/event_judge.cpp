#include "agent/event_judge.h"

#include <syslog.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "agent/log.h"
#include "common/escape.h"
#include "common/expectation_directory.h"

namespace vigil::agent {
namespace {

using nlohmann::json;

// Minutes since local midnight of a CLOCK_REALTIME time, or -1 when it cannot be had.
int local_minute_of(std::int64_t time_ns) {
    const std::time_t t = static_cast<std::time_t>(time_ns / 1'000'000'000);
    std::tm tm{};
    if (::localtime_r(&t, &tm) == nullptr) return -1;
    return tm.tm_hour * 60 + tm.tm_min;
}

std::string hhmm(int minute) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02d:%02d", (minute / 60) % 100, minute % 60);
    return buf;
}

// Merges `key: value` into the event's detail object, keeping what is there.
void add_detail(Event& e, const char* key, const std::string& value) {
    json detail = e.detail ? json::parse(*e.detail, nullptr, false) : json::object();
    if (!detail.is_object()) detail = json::object();
    detail[key] = value;
    e.detail = detail.dump();
}

std::string who_of(const Event& e) {
    const Actor& a = e.actor;
    if (!a.uid) return "an unknown user";
    std::string who =
        "user " + (a.user ? escape_bytes(*a.user) : std::string("(no name)")) + " (uid " + std::to_string(*a.uid) + ")";
    if (a.auid && *a.auid != *a.uid)
        who += ", logged in as " + (a.login_user ? escape_bytes(*a.login_user) : std::string("(no name)")) + " (auid " +
               std::to_string(*a.auid) + ")";
    return who;
}

}  // namespace

EventJudge::EventJudge(std::unique_ptr<IdentityDirectory> directory) : directory_(std::move(directory)) {
    if (!directory_) directory_ = std::make_unique<NssDirectory>();
}

void EventJudge::set_policy(const Policy& policy) {
    ::tzset();  // "hours" are local: take a changed /etc/localtime or TZ with the new policy
    active_ = false;
    for (std::size_t i = 0; i < policy.rules.size(); ++i) {
        const Rule& r = policy.rules[i];
        active_ = active_ || r.expect || r.alert;
        if (r.expect) warn_unknown_names(i, r);
    }
}

// A misspelt group in an expectation would make every access unexpected (or, in a list
// of several, silently expect nobody by that name): say so once, when the policy loads.
// Not an error: the name may come into being later (a new LDAP group).
void EventJudge::warn_unknown_names(std::size_t index, const Rule& rule) const {
    for (const auto* list : {&rule.expect->read, &rule.expect->modify}) {
        if (!list->has_value()) continue;
        for (const Principal& p : **list) {
            const bool known = p.kind == Principal::Kind::User    ? nss_user_id(p.name).has_value()
                               : p.kind == Principal::Kind::Group ? nss_group_id(p.name).has_value()
                                                                  : true;
            if (!known)
                log_warning("rule " + std::to_string(index + 1) + " (" + escape_bytes(rule.path) + "): " +
                            escape_bytes(p.text()) + " is not known to NSS now; it matches nobody until it exists");
        }
    }
}

Event EventJudge::make_alert(const Event& e, const Rule& rule, const LeakDetector::Signal& sig,
                             int local_minute) const {
    Event a;
    a.time_ns = e.time_ns;
    a.action = Action::Alert;
    a.source = e.source;
    a.path = e.path;
    a.actor = e.actor;
    a.label = e.label;
    a.severity = "high";
    const std::string scope = e.label ? "label " + escape_bytes(*e.label) : "rule " + escape_bytes(rule.path);
    json d;
    std::string line;
    if (sig.kind == LeakDetector::Signal::Kind::BulkRead) {
        const BulkReadAlert& b = *rule.alert->bulk_read;
        json samples = json::array();
        for (const auto& p : sig.sample_paths) samples.push_back(escape_bytes(p));
        d = {{"alert", "bulk_read"},
             {"files", sig.files},
             {"threshold", b.files},
             {"window", b.window_text},
             {"sample_paths", std::move(samples)}};
        line = who_of(e) + " read more than " + std::to_string(b.files) + " distinct files of " + scope + " within " +
               b.window_text + " (" + std::to_string(sig.files) + " so far; latest " +
               (e.path ? escape_bytes(*e.path) : std::string("?")) + ")";
    } else {
        d = {{"alert", "hours"}, {"hours", rule.alert->hours->text}, {"local_time", hhmm(local_minute)}};
        line = who_of(e) + " read " + (e.path ? escape_bytes(*e.path) : std::string("a file")) + " of " + scope +
               " at " + hhmm(local_minute) + " local time, outside " + rule.alert->hours->text;
    }
    d["user"] = e.actor.user ? json(escape_bytes(*e.actor.user)) : json();
    d["uid"] = e.actor.uid ? json(*e.actor.uid) : json();
    d["label"] = e.label ? json(escape_bytes(*e.label)) : json();
    a.detail = d.dump();
    const std::string message = "vigil alert: " + line;
    log_warning(message);
    ::syslog(LOG_AUTHPRIV | LOG_WARNING, "%s", message.c_str());
    return a;
}

std::vector<Event> EventJudge::judge(Event& e, const Policy& policy, const RuleMatcher& matcher, std::int64_t mono_ns) {
    std::vector<Event> alerts;
    if (!active_ || classify(e.action) == ActionClass::None) return alerts;
    std::optional<std::uint32_t> index;
    if (e.path) index = matcher.rule_for(*e.path);
    if (!index && e.old_path) index = matcher.rule_for(*e.old_path);
    if (!index) return alerts;
    const Rule& rule = policy.rules[*index];

    if (rule.expect) {
        const Verdict v = evaluate(*rule.expect, e, *directory_);
        if (v.kind == Verdict::Kind::Unexpected) {
            e.unexpected = true;
            add_detail(e, "unexpected", v.reason);
            ++unexpected_;
        } else if (v.kind == Verdict::Kind::NotEvaluated) {
            add_detail(e, "not_evaluated", v.reason);
            ++not_evaluated_;
        }
    }
    if (rule.alert && classify(e.action) == ActionClass::Read && e.path) {
        const int minute = local_minute_of(e.time_ns);
        const std::string scope = e.label ? *e.label : rule.path;
        for (const auto& sig : leaks_.observe(e.actor.uid, scope, *e.path, *rule.alert, mono_ns, minute)) {
            alerts.push_back(make_alert(e, rule, sig, minute));
            ++alerts_;
            last_alert_ns_ = e.time_ns;
        }
    }
    return alerts;
}

}  // namespace vigil::agent
