#include "cli/status_command.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/agent_status.h"
#include "common/baseline_store.h"
#include "common/escape.h"
#include "common/time_format.h"

namespace vigil::cli {
namespace {

constexpr int kExitNotRunning = 3;

using nlohmann::ordered_json;

// Unexpected events and alerts over the whole log (issue 8): both read off partial or
// action indexes, never a scan of events. The last alert is shown with what it was about.
Result<std::pair<std::int64_t, ordered_json>> alert_facts(db::Database& db) {
    auto st = db.prepare(
        "SELECT (SELECT count(*) FROM events WHERE unexpected = 1), "
        "(SELECT count(*) FROM events WHERE action = 'alert')");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    const std::int64_t unexpected = st->col_int(0);
    ordered_json alerts{{"count", st->col_int(1)}, {"last", nullptr}};
    auto last = db.prepare(
        "SELECT time_ns, label, user, uid, path, detail FROM events WHERE action = 'alert' "
        "ORDER BY time_ns DESC, id DESC LIMIT 1");
    if (!last) return last.error();
    auto found = last->step();
    if (!found) return found.error();
    if (found.value()) {
        auto text = [&](int col) -> ordered_json {
            if (last->is_null(col)) return nullptr;
            return escape_bytes(last->col_blob(col));
        };
        ordered_json detail = nullptr;
        if (!last->is_null(5)) {
            const std::string raw = last->col_blob(5);
            detail = ordered_json::parse(raw, nullptr, false);
            if (detail.is_discarded()) detail = escape_bytes(raw);
        }
        alerts["last"] = {{"time", format_rfc3339_ns(last->col_int(0))},
                          {"label", text(1)},
                          {"user", text(2)},
                          {"uid", last->is_null(3) ? ordered_json() : ordered_json(last->col_int(3))},
                          {"path", text(4)},
                          {"detail", std::move(detail)}};
    }
    return std::make_pair(unexpected, std::move(alerts));
}

// "bulk_read by bob (label transactions)": what the last alert was, in one phrase.
std::string alert_text(const ordered_json& last) {
    std::string what = "alert";
    const auto& d = last["detail"];
    if (d.is_object() && d.contains("alert") && d["alert"].is_string()) what = d["alert"].get<std::string>();
    if (last["user"].is_string()) {
        what += " by " + last["user"].get<std::string>();
    } else if (last["uid"].is_number()) {
        what += " by uid " + std::to_string(last["uid"].get<std::int64_t>());
    }
    if (last["label"].is_string()) what += " (label " + last["label"].get<std::string>() + ")";
    if (last["path"].is_string()) what += " on " + last["path"].get<std::string>();
    return last["time"].get<std::string>() + ": " + what;
}

Result<ordered_json> database_facts(db::Database& db) {
    ordered_json facts;
    auto count = db.prepare(
        "SELECT count(*), max(time_ns), "
        "(SELECT max(time_ns) FROM events WHERE action = 'overflow'), "
        "(SELECT count(*) FROM events WHERE action = 'overflow'), "
        "(SELECT max(time_ns) FROM events WHERE action = 'agent_start'), "
        "(SELECT max(time_ns) FROM events WHERE action = 'agent_stop') FROM events");
    if (!count) return count.error();
    auto row = count->step();
    if (!row) return row.error();
    auto time_or_null = [&](int col) -> ordered_json {
        if (count->is_null(col)) return nullptr;
        return format_rfc3339_ns(count->col_int(col));
    };
    facts["events"] = count->col_int(0);
    facts["last_event"] = time_or_null(1);
    facts["last_overflow"] = time_or_null(2);
    facts["overflows"] = count->col_int(3);
    facts["last_agent_start"] = time_or_null(4);
    facts["last_agent_stop"] = time_or_null(5);
    auto alerts = alert_facts(db);
    if (!alerts) return alerts.error();
    facts["unexpected"] = alerts->first;
    facts["alerts"] = std::move(alerts->second);
    auto baseline = latest_baseline(db);
    if (!baseline) return baseline.error();
    if (baseline->has_value()) {
        const auto& b = baseline->value();
        facts["baseline"] = {
            {"id", b.id}, {"kind", b.kind}, {"created", format_rfc3339_ns(b.created_ns)}, {"entries", b.entries}};
    } else {
        facts["baseline"] = nullptr;
    }
    return facts;
}

// The log-pipeline outputs (agent/event_outputs.h), when the policy has any: drops and
// a file left behind are what an operator must see.
std::string outputs_text(const ordered_json& agent) {
    if (!agent.contains("outputs") || !agent["outputs"].is_object()) return "";
    const auto& o = agent["outputs"];
    std::string out;
    if (o.contains("jsonl") && o["jsonl"].is_object()) {
        const auto& f = o["jsonl"];
        out += "Output jsonl: " + std::to_string(f.value("lines", std::uint64_t{0})) + " lines written, " +
               std::to_string(f.value("behind", std::int64_t{0})) + " events behind, " +
               std::to_string(f.value("failures", std::uint64_t{0})) + " failed writes, " +
               std::to_string(f.value("rotations", std::uint64_t{0})) + " rotations\n";
    }
    if (o.contains("syslog") && o["syslog"].is_object()) {
        const auto& s = o["syslog"];
        out += "Output syslog: " + std::to_string(s.value("sent", std::uint64_t{0})) + " sent, " +
               std::to_string(s.value("dropped", std::uint64_t{0})) + " dropped, " +
               std::to_string(s.value("behind", std::int64_t{0})) + " events behind, " +
               std::to_string(s.value("filtered", std::uint64_t{0})) + " below min_severity\n";
    }
    return out;
}

std::string text_of(const ordered_json& j) {
    auto str = [](const ordered_json& v) { return v.is_null() ? std::string("never") : v.get<std::string>(); };
    std::string out;
    const auto& agent = j["agent"];
    if (j["running"].get<bool>()) {
        out += "Agent: running";
        if (agent.is_object()) {
            out += " (pid " + std::to_string(agent.value("pid", 0)) + ", since " + agent.value("started", "?") +
                   "), watcher " + agent.value("watcher", "?") + " with " + std::to_string(agent.value("marks", 0)) +
                   " watched directories" + (agent.value("pidfd", false) ? ", pidfd attribution" : "") + "\n";
            out += "Queue: depth " + std::to_string(agent.value("queue_depth", 0)) + ", max " +
                   std::to_string(agent.value("queue_max_depth", 0)) + "; events written this run " +
                   std::to_string(agent.value("events_written", 0)) + "; writes waiting for their hash " +
                   std::to_string(agent.value("hash_queue_depth", 0)) + "\n";
            if (agent.value("rescan_running", false) || agent.value("rescan_pending", false))
                out += std::string("Rescan: ") + (agent.value("rescan_running", false) ? "running" : "pending") +
                       " (events were lost; the walk repairs the record)\n";
            const auto attributed = agent.value("attributed", std::uint64_t{0});
            const auto unattributed = agent.value("unattributed", std::uint64_t{0});
            out += "Attribution: " + std::to_string(attributed) + " events with an actor (" +
                   std::to_string(agent.value("attributed_by_proc", attributed)) + " by /proc, " +
                   std::to_string(agent.value("attributed_by_audit", std::uint64_t{0})) + " by audit), " +
                   std::to_string(unattributed) + " without (process gone or unknown)\n";
            if (agent.contains("alerts"))
                out += "Expectations this run: " + std::to_string(agent.value("unexpected", std::uint64_t{0})) +
                       " unexpected, " + std::to_string(agent.value("not_evaluated", std::uint64_t{0})) +
                       " not evaluated (actor unknown), " + std::to_string(agent.value("alerts", std::uint64_t{0})) +
                       " alerts\n";
            out += outputs_text(agent);
            // The audit source: its mode, or why it is not used (agent/audit_source.h).
            const std::string audit = agent.value("audit", "off");
            out += "Audit: " + audit;
            if (audit == "daemon" || audit == "multicast") {
                out +=
                    std::string(audit == "daemon" ? " (vigild is the audit daemon)" : " (reading auditd's log group)") +
                    ", " + std::to_string(agent.value("audit_rules", std::uint64_t{0})) + " rules, " +
                    std::to_string(agent.value("denied", std::uint64_t{0})) + " denied attempts, " +
                    std::to_string(agent.value("audit_overflows", std::uint64_t{0})) + " records lost";
            }
            out += "\n";
        } else {
            out += " (no status file yet)\n";
        }
    } else {
        out += "Agent: not running on this database\n";
    }
    const auto& facts = j["database"];
    if (facts.is_object()) {
        out += "Events: " + std::to_string(facts["events"].get<std::int64_t>()) + " recorded, last " +
               str(facts["last_event"]) + "\n";
        out += "Overflows: " + std::to_string(facts["overflows"].get<std::int64_t>()) + ", last " +
               str(facts["last_overflow"]) + "\n";
        if (facts.contains("alerts")) {
            out += "Unexpected events: " + std::to_string(facts["unexpected"].get<std::int64_t>()) + "\n";
            const auto& alerts = facts["alerts"];
            out += "Alerts: " + std::to_string(alerts["count"].get<std::int64_t>()) + ", last " +
                   (alerts["last"].is_object() ? alert_text(alerts["last"]) : std::string("never")) + "\n";
        }
        out += "Agent last started " + str(facts["last_agent_start"]) + ", last stopped " +
               str(facts["last_agent_stop"]) + "\n";
        if (facts["baseline"].is_object()) {
            out += "Baseline: #" + std::to_string(facts["baseline"]["id"].get<std::int64_t>()) + " (" +
                   facts["baseline"]["kind"].get<std::string>() + ") of " +
                   facts["baseline"]["created"].get<std::string>() + ", " +
                   std::to_string(facts["baseline"]["entries"].get<std::int64_t>()) + " entries\n";
        } else {
            out += "Baseline: none\n";
        }
    }
    return out;
}

}  // namespace

int run_status(const Options& opts) {
    if (opts.format != "text" && opts.format != "json") {
        print_error("--format must be text or json");
        return kExitUsage;
    }
    auto running = agent_lock_held(opts.db);
    if (!running) {
        print_error(running.error().message());
        return kExitDatabase;
    }
    ordered_json j;
    j["database_path"] = escape_bytes(opts.db);
    j["running"] = running.value();
    j["agent"] = nullptr;
    if (auto text = read_agent_status(opts.db)) {
        try {
            j["agent"] = ordered_json::parse(*text);
        } catch (const nlohmann::json::exception&) {
            j["agent"] = nullptr;  // half-written by a dying agent: say nothing rather than guess
        }
    }
    auto db = db::Database::open(opts.db, db::OpenMode::ReadOnly);
    if (!db) {
        print_error(db.error().message());
        return kExitDatabase;
    }
    auto facts = database_facts(db.value());
    if (!facts) {
        print_error(facts.error().message());
        return kExitDatabase;
    }
    j["database"] = std::move(facts.value());
    const std::string out = opts.format == "json" ? j.dump(2) + "\n" : text_of(j);
    if (!write_stdout(out)) return kExitOutput;
    return running.value() ? kExitClean : kExitNotRunning;
}

}  // namespace vigil::cli
