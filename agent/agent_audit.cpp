// The agent's side of the audit source (agent/audit_source.h): when it starts, how its
// records become `denied` events or complete the attribution of fanotify events, and what
// `vigil status` says of it. Kept apart from agent.cpp, which only calls in.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/escape.h"

namespace vigil::agent {
namespace {

std::string errno_name(std::int64_t exit) {
    const char* name = ::strerrorname_np(static_cast<int>(-exit));
    return name != nullptr ? name : std::to_string(-exit);
}

// The flags an open tried (hex, as the kernel logged them): a1 of open, a2 of openat.
std::optional<std::string> open_flags(const AuditRecord& r) {
    if (r.syscall == "open") return r.a1;
    if (r.syscall == "openat") return r.a2;
    return std::nullopt;
}

}  // namespace

std::vector<AuditRoot> Agent::audit_roots() const {
    std::vector<AuditRoot> roots;
    for (const auto& root : watched_roots_) {
        struct stat st {};
        if (::lstat(root.c_str(), &st) < 0) continue;  // gone since the marks
        roots.push_back(AuditRoot{root, S_ISDIR(st.st_mode)});
    }
    return roots;
}

void Agent::start_audit() {
    if (!policy_->audit_enabled) {
        audit_state_ = "off (policy)";
        return;
    }
    if (::geteuid() != 0) {
        audit_state_ = "unavailable: not root";
        return;
    }
    auto source = AuditSource::start(audit_rule_key(options_.db_path), audit_roots(), policy_->audit_attribution);
    if (!source) {
        audit_state_ = "unavailable: " + source.error().message();
        log_warning("audit source unavailable (" + source.error().message() +
                    "): denied attempts are not recorded and attribution relies on /proc alone");
        return;
    }
    audit_ = std::move(source.value());
    audit_state_ = audit_->mode_name();
    log_info("audit source: " + audit_->mode_name() + " mode, " + std::to_string(audit_->rules()) + " rules (key " +
             audit_->key() + ")");
}

bool Agent::wait_for_audit(Event& e, RawEvent& raw) {
    if (!audit_ || !policy_->audit_attribution || e.source != Source::Fanotify || e.actor.uid || raw.pid <= 0)
        return false;
    if (audit_join_.complete(e, raw.pid)) return false;  // its record was already here
    return audit_join_.hold(std::move(e), std::move(raw), realtime_now_ns());
}

void Agent::record_denied(const AuditRecord& r) {
    std::optional<std::uint32_t> rule;
    std::optional<std::string> path;
    const auto names = absolute_names(r, true);
    for (const auto& name : names) {
        rule = matcher_->rule_for(name);
        if (rule) {
            path = name;
            break;
        }
    }
    if (!rule) {
        for (const auto& name : absolute_names(r, false)) {
            rule = matcher_->rule_for(name);
            if (rule) {
                path = name;
                break;
            }
        }
    }
    if (!rule) {
        // Excluded, or another rule's with watch:none. A name relative to a directory fd
        // cannot be placed: recorded as the process gave it, without a rule.
        if (!names.empty() || r.names.empty()) return;
        path = r.names.front().name;
    } else if (policy_->rules[*rule].watch == WatchMode::None) {
        return;
    }
    Event e;
    e.time_ns = r.time_ns;
    e.action = Action::Denied;
    e.source = Source::Audit;
    e.path = path;
    if (rule) {
        const Rule& pr = policy_->rules[*rule];
        if (!pr.label.empty()) e.label = pr.label;
        e.severity = std::string(severity_name(pr.severity));
    }
    e.actor = r.actor;
    if (e.actor.uid) e.actor.user = user_name(*e.actor.uid);
    if (e.actor.auid) e.actor.login_user = user_name(*e.actor.auid);
    nlohmann::json detail{{"operation", audit_operation(r.syscall)},
                          {"syscall", r.syscall},
                          {"errno", errno_name(r.exit.value_or(0))},
                          {"audit_serial", r.serial}};
    if (auto flags = open_flags(r)) detail["flags"] = *flags;
    if (!rule) detail["path_relative_to_dirfd"] = true;
    e.detail = detail.dump();
    ++denied_;
    // Through record(), like every file event: judged against the policy's expectations.
    RawEvent raw;
    raw.time_ns = e.time_ns;
    raw.action = Action::Denied;
    raw.source = Source::Audit;
    raw.path = e.path.value_or("");
    if (r.actor.pid) raw.pid = static_cast<pid_t>(*r.actor.pid);
    record(std::move(e), std::move(raw), false);
}

void Agent::drain_audit(bool final) {
    if (audit_) {
        for (auto& r : audit_->take()) {
            if (!r.success && r.exit && (*r.exit == -EACCES || *r.exit == -EPERM)) {
                record_denied(r);
            } else if (r.success) {
                for (auto& held : audit_join_.add_record(std::move(r), realtime_now_ns()))
                    record(std::move(held.event), std::move(held.raw), false);
            }
        }
        if (const auto lost = audit_->take_overflows(); lost > 0) {
            // Lost denied attempts cannot be found again by walking the tree, so no rescan
            // (fanotify still saw every change): an overflow row says how many were lost.
            Event e = agent_event(Action::Overflow, nlohmann::json{{"source", "audit"},
                                                                   {"reason",
                                                                    "audit records lost (netlink ENOBUFS: the kernel's "
                                                                    "backlog overran, or the agent's list was full)"},
                                                                   {"lost", lost}}
                                                        .dump());
            e.source = Source::Audit;
            enqueue(std::move(e));
        }
    }
    // Past their wait (or the agent stops): recorded without actor, as before audit existed.
    for (auto& held : audit_join_.expired(final ? INT64_MAX : realtime_now_ns()))
        record(std::move(held.event), std::move(held.raw), false);
    if (final) audit_.reset();  // removes our rules, gives the daemon role back
}

std::uint64_t Agent::unattributed() const {
    const auto unresolved = attributor_.unresolved();
    const auto by_audit = audit_join_.completed();
    return unresolved > by_audit ? unresolved - by_audit : 0;
}

void Agent::audit_status(nlohmann::json& j) const {
    j["audit"] = audit_state_;
    if (audit_) {
        j["audit"] = audit_->mode_name();
        j["audit_rules"] = audit_->rules();
        j["audit_key"] = audit_->key();
        j["audit_records"] = audit_->records_total();
        j["audit_overflows"] = audit_->overflows_total();
        j["audit_waiting"] = audit_join_.held();
    }
    j["denied"] = denied_;
}

}  // namespace vigil::agent
