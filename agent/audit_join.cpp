#include "agent/audit_join.h"

#include <nlohmann/json.hpp>

#include "common/actor.h"

namespace vigil::agent {
bool AuditJoin::matches(const AuditRecord& r, pid_t pid, const Event& e) const {
    if (!r.actor.pid || *r.actor.pid != pid || !e.path) return false;
    // The exec record is stamped when the process started, before anything it did: within
    // kRecentNs before the event (and kWaitNs after, for clocks read on different CPUs).
    return r.time_ns <= e.time_ns + kWaitNs && r.time_ns >= e.time_ns - kRecentNs;
}

void AuditJoin::fill(Event& e, const AuditRecord& r) {
    auto name_of = [&](std::int64_t uid) {
        auto it = names_.find(uid);
        if (it != names_.end()) return it->second;
        if (names_.size() > 4096) names_.clear();
        return names_.emplace(uid, user_name(uid)).first->second;
    };
    e.actor = r.actor;
    if (e.actor.uid) e.actor.user = name_of(*e.actor.uid);
    if (e.actor.auid) e.actor.login_user = name_of(*e.actor.auid);
    nlohmann::json detail = e.detail ? nlohmann::json::parse(*e.detail, nullptr, false) : nlohmann::json::object();
    if (!detail.is_object()) detail = nlohmann::json::object();
    detail["actor_source"] = "audit";
    detail["audit_serial"] = r.serial;
    e.detail = detail.dump();
    ++completed_;
}

bool AuditJoin::complete(Event& e, pid_t pid) {
    for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
        if (matches(*it, pid, e)) {
            fill(e, *it);
            return true;
        }
    }
    return false;
}

bool AuditJoin::hold(Event&& e, RawEvent&& raw, std::int64_t now_ns) {
    if (held_.size() >= kMaxHeld) return false;
    held_.push_back(Held{std::move(e), std::move(raw), now_ns + kWaitNs});
    return true;
}

std::vector<AuditJoin::Held> AuditJoin::add_record(AuditRecord&& r, std::int64_t now_ns) {
    std::vector<Held> done;
    for (auto it = held_.begin(); it != held_.end();) {
        if (matches(r, it->raw.pid, it->event)) {
            fill(it->event, r);
            done.push_back(std::move(*it));
            it = held_.erase(it);
        } else {
            ++it;
        }
    }
    while (!recent_.empty() && (recent_.size() >= kMaxRecent || recent_.front().time_ns < now_ns - kRecentNs))
        recent_.pop_front();
    recent_.push_back(std::move(r));
    return done;
}

std::vector<AuditJoin::Held> AuditJoin::expired(std::int64_t now_ns) {
    std::vector<Held> out;
    while (!held_.empty() && held_.front().deadline_ns <= now_ns) {
        out.push_back(std::move(held_.front()));
        held_.pop_front();
    }
    return out;
}

}  // namespace vigil::agent
