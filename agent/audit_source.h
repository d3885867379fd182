// The Linux audit subsystem as the agent's second event source: failed attempts
// (EACCES/EPERM) that fanotify never sees, and — for attribution — the actor of writes
// whose process exited before /proc could be read. See docs/architecture.md, "Audit".
//
// Modes, decided at start from AUDIT_GET:
//   - multicast: an audit daemon (auditd) runs: we read the read-only multicast group
//     AUDIT_NLGRP_READLOG (CAP_AUDIT_READ) and only add and remove our own keyed rules
//     (and turn auditing on if that daemon left it off, and off again at exit);
//   - daemon: none runs: we register as the audit daemon (audit_set_pid) for our lifetime,
//     enable auditing if it was off, and give both back at exit.
// An auditd started while we hold the daemon role is refused by the kernel (EEXIST); the
// kernel tells us of the attempt (a CONFIG_CHANGE record naming our pid as old), so we
// step aside to the multicast group and its restart (systemd Restart=on-failure) succeeds.
// Every few seconds the reader checks our rules are still loaded (auditd's augenrules
// starts with -D, deleting every rule) and adds them again if not; and when the daemon it
// listened to is gone (and none claimed the role within 60 s of our stepping aside), it
// takes the daemon role itself.
//
// Threads: one reader thread owns the sockets and libauparse; parsed records wait in a
// bounded list for the agent's main thread, woken through an eventfd it polls.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/audit_record.h"
#include "agent/audit_rules.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace vigil::agent {

enum class AuditMode { Daemon, Multicast };

class AuditSource {
public:
    // Opens the audit subsystem, removes stale rules with our key (a crashed agent's), adds
    // ours for `roots`, and starts the reader. An error says why audit cannot be used.
    static Result<std::unique_ptr<AuditSource>> start(std::string key, std::vector<AuditRoot> roots, bool attribution);
    // Stops the reader, removes our rules, gives the daemon role and enabled flag back.
    ~AuditSource();
    AuditSource(const AuditSource&) = delete;
    AuditSource& operator=(const AuditSource&) = delete;

    int wake_fd() const { return wake_.get(); }  // readable when take() has records
    std::vector<AuditRecord> take();
    // Audit's own overflows since the last call: ENOBUFS on the socket (the kernel's
    // backlog overran) and records dropped because the agent's list was full.
    std::uint64_t take_overflows() { return overflows_.exchange(0); }
    std::uint64_t overflows_total() const { return overflows_total_.load(); }
    std::uint64_t records_total() const { return records_total_.load(); }
    std::string mode_name() const { return mode_.load() == AuditMode::Daemon ? "daemon" : "multicast"; }
    std::size_t rules() const { return rules_.load(); }
    const std::string& key() const { return key_; }
    // A policy reload: our rules for the new roots.
    Result<void> replace_roots(std::vector<AuditRoot> roots);

    // libauparse's callback (reader thread): one complete event.
    void on_event(auparse_state_t* au);

private:
    AuditSource() = default;
    void read_loop();
    void feed_message(auparse_state_t* au, int type, const char* text, std::size_t len);
    Result<void> become_daemon();
    Result<void> join_multicast();
    Result<void> enable();  // auditing on if it is off (restored at exit)
    void check_rules();
    void check_daemon();

    std::mutex control_mu_;  // control_ and roots_: the reader (periodic checks) and a reload
    UniqueFd control_;       // rules, status, pid
    UniqueFd events_;        // where records arrive: our unicast socket or the multicast one
    UniqueFd wake_;          // eventfd: records waiting
    UniqueFd stop_;          // eventfd: the reader must return
    std::string key_;        // audit_rule_key(): our rules' filter key
    std::vector<AuditRoot> roots_;
    bool attribution_ = false;
    std::atomic<AuditMode> mode_{AuditMode::Multicast};
    bool restore_enabled_ = false;       // we turned auditing on: off again at exit
    std::uint32_t restore_backlog_ = 0;  // we raised the backlog limit: this again at exit
    std::atomic<std::size_t> rules_{0};
    std::thread reader_;

    std::mutex mu_;
    std::vector<AuditRecord> ready_;
    std::atomic<std::uint64_t> overflows_{0};
    std::atomic<std::uint64_t> overflows_total_{0};
    std::atomic<std::uint64_t> records_total_{0};
    bool handover_ = false;                                  // reader thread only: an auditd asked for the daemon role
    std::chrono::steady_clock::time_point stepped_aside_{};  // reader thread only: when we gave it
};

}  // namespace vigil::agent
