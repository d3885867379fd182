// Attribution completed from audit records: a fanotify event whose process was gone before
// /proc could be read (so Attributor left its actor null) is matched with the audit record
// of that process's exec (agent/audit_rules.h) — same pid, started at most kRecentNs
// before the event, the newest such record — and takes the actor the kernel recorded
// then (uid, euid, gid, auid, exe, comm, the command line from PROCTITLE). A pid reused
// within those seconds by a process that never exec'd would be misnamed: pid_max is
// 4,194,304 on 64-bit Linux, so that takes millions of process starts in 5 s.
//
// The record usually arrives first (the kernel emits it at the exec's exit, the main
// thread reads fanotify later), so recent records are kept (5 s, at most 4096). When it
// has not arrived yet, the event waits here — at most kWait, at most kMaxHeld events,
// never more — and is then recorded without actor as before. Thread: the main thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "agent/audit_record.h"
#include "agent/raw_event.h"
#include "common/event.h"

namespace vigil::agent {

class AuditJoin {
public:
    static constexpr std::int64_t kWaitNs = 1'000'000'000;
    static constexpr std::size_t kMaxHeld = 4096;
    static constexpr std::size_t kMaxRecent = 4096;
    static constexpr std::int64_t kRecentNs = 5'000'000'000;

    struct Held {
        Event event;
        RawEvent raw;
        std::int64_t deadline_ns = 0;  // CLOCK_REALTIME
    };

    // Fills e.actor from a recent record of `pid`; true when it did.
    bool complete(Event& e, pid_t pid);
    // Keeps an event that could not be completed yet; false when the bound is reached.
    bool hold(Event&& e, RawEvent&& raw, std::int64_t now_ns);
    // A record of a successful change: remembered, and the held events it completes.
    std::vector<Held> add_record(AuditRecord&& r, std::int64_t now_ns);
    // Held events past their deadline (all of them with INT64_MAX), still without actor.
    std::vector<Held> expired(std::int64_t now_ns);

    std::uint64_t completed() const { return completed_; }
    std::size_t held() const { return held_.size(); }

private:
    bool matches(const AuditRecord& r, pid_t pid, const Event& e) const;
    void fill(Event& e, const AuditRecord& r);

    std::deque<AuditRecord> recent_;
    std::deque<Held> held_;
    std::unordered_map<std::int64_t, std::optional<std::string>> names_;
    std::uint64_t completed_ = 0;
};

}  // namespace vigil::agent
