// Text, JSON and HTML renderings of the nightly report. Findings come first in all three.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "common/event_format.h"
#include "common/report.h"
#include "common/time_format.h"

namespace vigil {
namespace {

using nlohmann::ordered_json;

std::string actor_of(const StoredEvent& s) {
    const Actor& a = s.event.actor;
    std::string who = a.user ? escape_bytes(*a.user) : a.uid ? "uid " + std::to_string(*a.uid) : "unknown actor";
    if (a.login_user && a.login_user != a.user) who += " (login " + escape_bytes(*a.login_user) + ")";
    if (a.comm) who += " via " + escape_bytes(*a.comm);
    if (a.pid) who += "[" + std::to_string(*a.pid) + "]";
    return who;
}

std::string duration(std::int64_t ns) {
    const std::int64_t s = ns / 1'000'000'000;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
    return buf;
}

std::string html(std::string_view escaped) {
    std::string out;
    for (const char c : escaped) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string verdict(const ReportData& r) {
    if (r.findings.empty() && r.unexpected == 0 && r.alerts == 0) return "Clean: the files match the baseline";
    std::string v = std::to_string(r.findings.size()) + " integrity finding" + (r.findings.size() == 1 ? "" : "s");
    if (r.unexplained) v += ", " + std::to_string(r.unexplained) + " unexplained";
    if (r.unexpected) v += ", " + std::to_string(r.unexpected) + " unexpected event" + (r.unexpected == 1 ? "" : "s");
    if (r.alerts) v += ", " + std::to_string(r.alerts) + " alert" + (r.alerts == 1 ? "" : "s");
    return v;
}

std::string not_evaluated_line(const ReportData& r) {
    return "Not evaluated (actor unknown, so not judged against expectations): " + std::to_string(r.not_evaluated);
}

// The first section: what broke the company's own rules (issue 8).
std::string expectations_text(const ReportData& r) {
    std::string out = "Expectations and alerts\n";
    out += "  Unexpected events: " + std::to_string(r.unexpected) + "\n";
    for (const auto& u : r.unexpected_by)
        out += "    " + u.label + "  " + u.user + "  " + std::to_string(u.events) + " events on " +
               std::to_string(u.files) + " files\n";
    out += "  " + not_evaluated_line(r) + "\n";
    for (const auto& n : r.not_evaluated_by) out += "    " + n.label + "  " + std::to_string(n.events) + " events\n";
    out += "  Alerts: " + std::to_string(r.alerts) + "\n";
    for (const auto& a : r.alert_groups)
        out += "    " + a.kind + "  " + a.label + "  " + a.user + "  " + std::to_string(a.alerts) + " alert" +
               (a.alerts == 1 ? "" : "s") + ", last " + format_rfc3339_ns(a.last_ns) + "\n";
    return out;
}

std::string health_line(const AgentHealth& h) {
    if (!h.ever_ran) return "no agent has ever recorded events in this database";
    std::string s = std::to_string(h.events) + " events, " + std::to_string(h.overflows) + " overflows, " +
                    std::to_string(h.rescans) + " rescans, " + std::to_string(h.unattributed) + " of " +
                    std::to_string(h.kernel_events) + " fanotify events without an actor (attributed: " +
                    std::to_string(h.kernel_events - h.unattributed - h.by_audit) + " by /proc, " +
                    std::to_string(h.by_audit) + " by audit, " + std::to_string(h.unattributed) + " unresolved)";
    if (h.denied) s += ", " + std::to_string(h.denied) + " denied attempts";
    if (h.inotify_events) s += ", " + std::to_string(h.inotify_events) + " inotify events (no actor by design)";
    return s;
}

std::string downtime_text(const Downtime& d, std::int64_t until) {
    return format_rfc3339_ns(d.from_ns) + " to " + (d.to_ns ? format_rfc3339_ns(*d.to_ns) : "now (agent not running)") +
           " (" + duration((d.to_ns ? *d.to_ns : until) - d.from_ns) + ")" +
           (d.unclean ? " — the agent stopped without agent_stop (killed or crashed); from its last recorded event"
                      : "");
}

}  // namespace

std::string render_report_text(const ReportData& r) {
    std::string out =
        "Vigil report for " + format_rfc3339_ns(r.since_ns) + " to " + format_rfc3339_ns(r.until_ns) + "\n";
    out += verdict(r) + "\n\n";
    out += expectations_text(r) + "\n";
    out += "Integrity findings (" + std::to_string(r.findings.size()) + ")\n";
    if (r.findings.empty()) out += "  none\n";
    for (const auto& f : r.findings) {
        out += "  " + f.kind + "  " + escape_bytes(f.record->path) + "\n";
        for (const auto& ch : f.changes)
            out += "      " + ch.attr + ": " + ch.old_value.display() + " → " + ch.new_value.display() + "\n";
        if (!f.explained)
            out += "      UNEXPLAINED — changed while unobserved (no recorded event since the baseline)\n";
        for (const auto& e : f.events)
            out += "      " + format_rfc3339_ns(e.event.time_ns) + "  " + e.action + " by " + actor_of(e) + "\n";
    }
    out += "\nAccesses to labelled and critical files (" + std::to_string(r.accesses.size()) + " user/label pairs)\n";
    if (r.accesses.empty()) out += "  none\n";
    for (const auto& a : r.accesses)
        out += "  " + a.user + "  " + a.label + "  " + std::to_string(a.events) + " events on " +
               std::to_string(a.files) + " files\n";
    out += "\nAgent health: " + health_line(r.health) + "\n";
    for (const auto& d : r.health.downtime) out += "  downtime " + downtime_text(d, r.until_ns) + "\n";
    out += "\nChecked " + std::to_string(r.check.entries_checked) + " entries";
    if (r.check.baseline)
        out += " against baseline #" + std::to_string(r.check.baseline->id) + " of " +
               format_rfc3339_ns(r.check.baseline->created_ns);
    out += "\n";
    for (const auto& w : r.check.warnings) out += "  warning: " + w + "\n";
    return out;
}

std::string render_report_json(const ReportData& r) {
    ordered_json j;
    j["window"] = {{"since", format_rfc3339_ns(r.since_ns)}, {"until", format_rfc3339_ns(r.until_ns)}};
    j["verdict"] = verdict(r);
    j["exit_code"] = r.exit_bits;
    ordered_json findings = ordered_json::array();
    for (const auto& f : r.findings) {
        ordered_json e;
        e["kind"] = f.kind;
        e["path"] = escape_bytes(f.record->path);
        e["explained"] = f.explained;
        ordered_json changes = ordered_json::object();
        for (const auto& ch : f.changes)
            changes[ch.attr] = {{"old", ch.old_value.display()}, {"new", ch.new_value.display()}};
        e["changes"] = changes;
        e["events"] = ordered_json::array();
        for (const auto& ev : f.events) e["events"].push_back(event_to_json(ev));
        findings.push_back(std::move(e));
    }
    j["findings"] = std::move(findings);
    j["unexplained"] = r.unexplained;
    j["unexpected"] = r.unexpected;
    ordered_json ex;
    ex["unexpected"] = r.unexpected;
    ex["unexpected_by"] = ordered_json::array();
    for (const auto& u : r.unexpected_by)
        ex["unexpected_by"].push_back({{"label", u.label}, {"user", u.user}, {"events", u.events}, {"files", u.files}});
    ex["not_evaluated"] = r.not_evaluated;
    ex["not_evaluated_by"] = ordered_json::array();
    for (const auto& n : r.not_evaluated_by)
        ex["not_evaluated_by"].push_back({{"label", n.label}, {"events", n.events}});
    ex["alerts"] = r.alerts;
    ex["alert_groups"] = ordered_json::array();
    for (const auto& a : r.alert_groups)
        ex["alert_groups"].push_back({{"kind", a.kind},
                                      {"label", a.label},
                                      {"user", a.user},
                                      {"alerts", a.alerts},
                                      {"last", format_rfc3339_ns(a.last_ns)}});
    j["expectations"] = std::move(ex);
    j["accesses"] = ordered_json::array();
    for (const auto& a : r.accesses)
        j["accesses"].push_back({{"user", a.user}, {"label", a.label}, {"events", a.events}, {"files", a.files}});
    const auto& h = r.health;
    ordered_json health{{"ever_ran", h.ever_ran},
                        {"events", h.events},
                        {"overflows", h.overflows},
                        {"rescans", h.rescans},
                        {"fanotify_events", h.kernel_events},
                        {"unattributed", h.unattributed},
                        {"attributed_by_audit", h.by_audit},
                        {"denied", h.denied},
                        {"inotify_events", h.inotify_events}};
    health["downtime"] = ordered_json::array();
    for (const auto& d : h.downtime)
        health["downtime"].push_back({{"from", format_rfc3339_ns(d.from_ns)},
                                      {"to", d.to_ns ? ordered_json(format_rfc3339_ns(*d.to_ns)) : ordered_json()},
                                      {"unclean", d.unclean}});
    j["agent_health"] = std::move(health);
    j["check"] = {{"entries_checked", r.check.entries_checked},
                  {"unreadable", r.check.unreadable},
                  {"baseline_id", r.check.baseline ? ordered_json(r.check.baseline->id) : ordered_json()},
                  {"warnings", r.check.warnings}};
    return j.dump(2) + "\n";
}

std::string render_report_html(const ReportData& r) {
    const bool clean = r.findings.empty() && r.unexpected == 0 && r.alerts == 0;
    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Vigil report</title><style>"
        "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1d2330}"
        "h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde}"
        ".verdict{padding:.8rem 1rem;border-radius:6px;font-weight:600}.ok{background:#e3f6e8}.bad{background:#fde8e6}"
        "table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{padding:.3rem .5rem;border-bottom:1px solid "
        "#eee;"
        "text-align:left;vertical-align:top}th{background:#f5f6fa}code{font:13px "
        "ui-monospace,monospace;word-break:break-all}"
        ".unexplained{color:#b3261e;font-weight:600}.muted{color:#667}td.path{min-width:16rem}"
        "</style></head><body>\n";
    out += "<h1>Vigil report</h1><p class=\"muted\">" + html(format_rfc3339_ns(r.since_ns)) + " to " +
           html(format_rfc3339_ns(r.until_ns)) + "</p>\n";
    out += "<p class=\"verdict " + std::string(clean ? "ok" : "bad") + "\">" + html(verdict(r)) + "</p>\n";
    out += "<h2>Expectations and alerts</h2>\n<p>Unexpected events: " + std::to_string(r.unexpected) + "</p>\n";
    if (!r.unexpected_by.empty()) {
        out += "<table><tr><th>label</th><th>user</th><th>events</th><th>files</th></tr>\n";
        for (const auto& u : r.unexpected_by)
            out += "<tr><td>" + html(u.label) + "</td><td>" + html(u.user) + "</td><td>" + std::to_string(u.events) +
                   "</td><td>" + std::to_string(u.files) + "</td></tr>\n";
        out += "</table>\n";
    }
    out += "<p>" + html(not_evaluated_line(r)) + "</p>\n";
    if (!r.not_evaluated_by.empty()) {
        out += "<table><tr><th>label</th><th>events not evaluated</th></tr>\n";
        for (const auto& n : r.not_evaluated_by)
            out += "<tr><td>" + html(n.label) + "</td><td>" + std::to_string(n.events) + "</td></tr>\n";
        out += "</table>\n";
    }
    out += "<p>Alerts: " + std::to_string(r.alerts) + "</p>\n";
    if (!r.alert_groups.empty()) {
        out += "<table><tr><th>kind</th><th>label</th><th>user</th><th>alerts</th><th>last</th></tr>\n";
        for (const auto& a : r.alert_groups)
            out += "<tr><td class=\"unexplained\">" + html(a.kind) + "</td><td>" + html(a.label) + "</td><td>" +
                   html(a.user) + "</td><td>" + std::to_string(a.alerts) + "</td><td>" +
                   html(format_rfc3339_ns(a.last_ns)) + "</td></tr>\n";
        out += "</table>\n";
    }
    out += "<h2>Integrity findings</h2>\n";
    if (r.findings.empty()) out += "<p>None: every file matches the baseline.</p>\n";
    if (!r.findings.empty()) {
        out +=
            "<table><tr><th>kind</th><th>path</th><th>what changed</th><th>who (events since the baseline)</th></tr>\n";
        for (const auto& f : r.findings) {
            std::string what;
            for (const auto& ch : f.changes)
                what += "<div><b>" + html(ch.attr) + "</b> <code>" + html(ch.old_value.display()) + "</code> → <code>" +
                        html(ch.new_value.display()) + "</code></div>";
            std::string who;
            if (!f.explained) who = "<span class=\"unexplained\">unexplained — changed while unobserved</span>";
            for (const auto& e : f.events)
                who += "<div>" + html(format_rfc3339_ns(e.event.time_ns)) + " " + html(e.action) + " by " +
                       html(actor_of(e)) + "</div>";
            out +=
                "<tr><td>" + html(f.kind) + "</td><td><code>" + html(escape_bytes(f.record->path)) + "</code></td><td>";
            out += what;
            out += "</td><td>";
            out += who;
            out += "</td></tr>\n";
        }
        out += "</table>\n";
    }
    out += "<h2>Accesses to labelled and critical files</h2>\n";
    if (r.accesses.empty()) out += "<p>None recorded in the window.</p>\n";
    if (!r.accesses.empty()) {
        out += "<table><tr><th>user</th><th>label</th><th>events</th><th>files</th></tr>\n";
        for (const auto& a : r.accesses)
            out += "<tr><td>" + html(a.user) + "</td><td>" + html(a.label) + "</td><td>" + std::to_string(a.events) +
                   "</td><td>" + std::to_string(a.files) + "</td></tr>\n";
        out += "</table>\n";
    }
    out += "<h2>Agent health</h2><p>" + html(health_line(r.health)) + "</p>\n";
    for (const auto& d : r.health.downtime) out += "<p>Downtime: " + html(downtime_text(d, r.until_ns)) + "</p>\n";
    out += "<p class=\"muted\">Checked " + std::to_string(r.check.entries_checked) + " entries" +
           (r.check.baseline ? " against baseline #" + std::to_string(r.check.baseline->id) : std::string()) +
           ".</p>\n</body></html>\n";
    return out;
}

}  // namespace vigil
