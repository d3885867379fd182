// EventJudge: what the company's rules say about an event, at the moment it is recorded.
// For every event bound for the database (Agent::record, the one path every file event
// takes — fanotify, inotify, audit `denied` alike), it finds the event's rule and
//   - marks the event `unexpected` when it lies outside the rule's "expect", with the
//     reason in detail ("unexpected": "..."), or notes "not_evaluated" in detail when the
//     actor is unknown (never guessed);
//   - feeds reads to the LeakDetector and returns the `alert` events it calls for, which
//     also go to syslog (LOG_AUTHPRIV, warning) and stderr (the journal) at once.
// A policy without expect/alert costs one branch per event. Thread: the agent's main
// thread (NSS lookups are cached, common/expectation_directory.h).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "agent/leak_detector.h"
#include "common/event.h"
#include "common/expectation.h"
#include "common/policy.h"
#include "common/rule_match.h"

namespace vigil::agent {

class EventJudge {
public:
    // `directory`: who uids are (nullptr: NSS with a 60 s cache).
    explicit EventJudge(std::unique_ptr<IdentityDirectory> directory = nullptr);

    // After (re)loading a policy: whether any rule has expect or alert. Leak state is kept
    // across a reload (a SIGHUP must not reset a count an intruder is running up).
    void set_policy(const Policy& policy);

    // Judges `e` in place; returns the alerts to record after it. `mono_ns`: CLOCK_BOOTTIME.
    std::vector<Event> judge(Event& e, const Policy& policy, const RuleMatcher& matcher, std::int64_t mono_ns);

    std::uint64_t unexpected() const { return unexpected_; }
    std::uint64_t not_evaluated() const { return not_evaluated_; }
    std::uint64_t alerts() const { return alerts_; }
    std::int64_t last_alert_ns() const { return last_alert_ns_; }

private:
    void warn_unknown_names(std::size_t index, const Rule& rule) const;
    Event make_alert(const Event& e, const Rule& rule, const LeakDetector::Signal& sig, int local_minute) const;

    std::unique_ptr<IdentityDirectory> directory_;
    LeakDetector leaks_;
    bool active_ = false;
    std::uint64_t unexpected_ = 0;
    std::uint64_t not_evaluated_ = 0;
    std::uint64_t alerts_ = 0;
    std::int64_t last_alert_ns_ = 0;
};

}  // namespace vigil::agent
