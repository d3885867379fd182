// The nightly report: the integrity check joined with the events that explain each
// finding, accesses to labelled and critical files grouped by user, and the agent's
// health over the window (overflows, rescans, unattributed events, downtime).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/check_report.h"
#include "common/db/sqlite.h"
#include "common/diff.h"
#include "common/event_query.h"

namespace vigil {

struct Finding {
    std::string kind;                    // added | removed | changed
    const FileRecord* record = nullptr;  // the current entry (the baseline's for removed)
    std::vector<AttrChange> changes;     // changed only
    std::vector<StoredEvent> events;     // since the baseline, newest last (at most 10)
    bool explained = false;              // some recorded change event covers it
};

struct AccessGroup {
    std::string user;  // escaped name, or uid, or "(unknown)"
    std::string label;
    std::int64_t events = 0;
    std::int64_t files = 0;
};

// Events outside the policy's expectations (issue 8), grouped by label and user; the
// user reads "sales (login support)" when the login user differs.
struct UnexpectedGroup {
    std::string label;  // escaped, or "(none)"
    std::string user;
    std::int64_t events = 0;
    std::int64_t files = 0;
};

// Events under an expectation that could not be judged: their actor is unknown.
struct NotEvaluatedGroup {
    std::string label;
    std::int64_t events = 0;
};

// Alerts grouped by kind (bulk_read, hours, or a sealing alarm), label and user.
struct AlertGroup {
    std::string kind;
    std::string label;
    std::string user;
    std::int64_t alerts = 0;
    std::int64_t last_ns = 0;
};

struct Downtime {
    std::int64_t from_ns = 0;           // agent_stop (or the window start)
    std::optional<std::int64_t> to_ns;  // the next agent_start; nullopt: still down
    bool unclean = false;               // no agent_stop: the agent died; from_ns is its last recorded event
};

struct AgentHealth {
    std::int64_t events = 0;  // in the window
    std::int64_t overflows = 0;
    std::int64_t rescans = 0;
    std::int64_t kernel_events = 0;   // from fanotify
    std::int64_t unattributed = 0;    // of those, without an actor
    std::int64_t by_audit = 0;        // of those, whose actor came from audit records (not /proc)
    std::int64_t denied = 0;          // failed attempts (EACCES/EPERM) seen by the audit source
    std::int64_t inotify_events = 0;  // never attributed by design
    bool ever_ran = false;
    std::vector<Downtime> downtime;
};

struct ReportData {
    std::int64_t since_ns = 0;
    std::int64_t until_ns = 0;
    CheckContext check;
    std::vector<Finding> findings;
    std::int64_t unexplained = 0;
    std::int64_t unexpected = 0;  // events outside the policy's expectations, in the window
    std::vector<UnexpectedGroup> unexpected_by;
    std::int64_t not_evaluated = 0;
    std::vector<NotEvaluatedGroup> not_evaluated_by;
    std::int64_t alerts = 0;
    std::vector<AlertGroup> alert_groups;
    std::vector<AccessGroup> accesses;
    AgentHealth health;
    int exit_bits = 0;
};

Result<ReportData> build_report(db::Database& db, const DiffResult& diff, CheckContext check, std::int64_t since_ns,
                                std::int64_t until_ns);

std::string render_report_text(const ReportData& r);
std::string render_report_json(const ReportData& r);
std::string render_report_html(const ReportData& r);

}  // namespace vigil
