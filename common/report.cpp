#include "common/report.h"

#include <algorithm>

#include "common/escape.h"

namespace vigil {
namespace {

// Actions that change a file: one of these since the baseline explains a finding.
bool is_change(const std::string& action) {
    return action == "modify" || action == "create" || action == "delete" || action == "rename" || action == "attrib" ||
           action == "baseline_update";
}

Result<Finding> explain(db::Database& db, std::string kind, const FileRecord* record, std::vector<AttrChange> changes,
                        std::int64_t baseline_ns) {
    Finding f;
    f.kind = std::move(kind);
    f.record = record;
    f.changes = std::move(changes);
    EventFilter filter;
    filter.path = record->path;
    filter.since_ns = baseline_ns;
    filter.oldest_first = true;
    auto events = query_events(db, filter);
    if (!events) return events.error();
    for (auto& e : events.value()) {
        if (!is_change(e.action)) continue;
        f.explained = true;
        f.events.push_back(std::move(e));
    }
    if (f.events.size() > 10) f.events.erase(f.events.begin(), f.events.end() - 10);
    return f;
}

Result<std::int64_t> count(db::Database& db, const std::string& where, std::int64_t since, std::int64_t until) {
    auto st = db.prepare("SELECT count(*) FROM events WHERE time_ns >= :since AND time_ns <= :until AND " + where);
    if (!st) return st.error();
    VIGIL_TRY(st->bind_int(":since", since));
    VIGIL_TRY(st->bind_int(":until", until));
    auto row = st->step();
    if (!row) return row.error();
    return st->col_int(0);
}

// The expectations section (issue 8). Each query seeks an index: the partial index on
// unexpected rows, (uid, user, time_ns) for rows without an actor, (action, time_ns).
Result<void> add_expectations(db::Database& db, ReportData& r) {
    auto unexpected = db.prepare(
        "SELECT coalesce(label, '(none)'), coalesce(user, CAST(uid AS TEXT), '(unknown)') || CASE WHEN auid IS NOT "
        "NULL AND auid IS NOT uid THEN ' (login ' || coalesce(login_user, CAST(auid AS TEXT)) || ')' ELSE '' END, "
        "count(*), count(DISTINCT path) FROM events WHERE unexpected = 1 AND time_ns >= :since AND time_ns <= :until "
        "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2");
    if (!unexpected) return unexpected.error();
    VIGIL_TRY(unexpected->bind_int(":since", r.since_ns));
    VIGIL_TRY(unexpected->bind_int(":until", r.until_ns));
    for (;;) {
        auto row = unexpected->step();
        if (!row) return row.error();
        if (!row.value()) break;
        r.unexpected_by.push_back({escape_bytes(unexpected->col_blob(0)), escape_bytes(unexpected->col_blob(1)),
                                   unexpected->col_int(2), unexpected->col_int(3)});
    }
    // json_valid first: a damaged detail must not make the whole report fail.
    auto not_evaluated = db.prepare(
        "SELECT coalesce(label, '(none)'), count(*) FROM events WHERE uid IS NULL AND user IS NULL AND time_ns >= "
        ":since AND time_ns <= :until AND json_extract(CASE WHEN json_valid(detail) THEN detail END, "
        "'$.not_evaluated') IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1");
    if (!not_evaluated) return not_evaluated.error();
    VIGIL_TRY(not_evaluated->bind_int(":since", r.since_ns));
    VIGIL_TRY(not_evaluated->bind_int(":until", r.until_ns));
    for (;;) {
        auto row = not_evaluated->step();
        if (!row) return row.error();
        if (!row.value()) break;
        r.not_evaluated_by.push_back({escape_bytes(not_evaluated->col_blob(0)), not_evaluated->col_int(1)});
        r.not_evaluated += not_evaluated->col_int(1);
    }
    auto alerts = db.prepare(
        "SELECT coalesce(json_extract(CASE WHEN json_valid(detail) THEN detail END, '$.alert'), 'alarm'), "
        "coalesce(label, '(none)'), coalesce(user, CAST(uid AS TEXT), '(unknown)'), count(*), max(time_ns) "
        "FROM events WHERE action = 'alert' AND time_ns >= :since AND time_ns <= :until "
        "GROUP BY 1, 2, 3 ORDER BY 5 DESC");
    if (!alerts) return alerts.error();
    VIGIL_TRY(alerts->bind_int(":since", r.since_ns));
    VIGIL_TRY(alerts->bind_int(":until", r.until_ns));
    for (;;) {
        auto row = alerts->step();
        if (!row) return row.error();
        if (!row.value()) break;
        r.alert_groups.push_back({escape_bytes(alerts->col_blob(0)), escape_bytes(alerts->col_blob(1)),
                                  escape_bytes(alerts->col_blob(2)), alerts->col_int(3), alerts->col_int(4)});
        r.alerts += alerts->col_int(3);
    }
    return {};
}

}  // namespace

Result<ReportData> build_report(db::Database& db, const DiffResult& diff, CheckContext check, std::int64_t since_ns,
                                std::int64_t until_ns) {
    ReportData r;
    r.since_ns = since_ns;
    r.until_ns = until_ns;
    r.exit_bits = diff.exit_bits();
    const std::int64_t baseline_ns = check.baseline ? check.baseline->created_ns : 0;
    r.check = std::move(check);
    for (const auto& c : diff.changed) {
        auto f = explain(db, "changed", c.after, c.changes, baseline_ns);
        if (!f) return f.error();
        r.findings.push_back(std::move(f.value()));
    }
    for (const auto* a : diff.added) {
        auto f = explain(db, "added", a, {}, baseline_ns);
        if (!f) return f.error();
        r.findings.push_back(std::move(f.value()));
    }
    for (const auto* d : diff.removed) {
        auto f = explain(db, "removed", d, {}, baseline_ns);
        if (!f) return f.error();
        r.findings.push_back(std::move(f.value()));
    }
    for (const auto& f : r.findings) r.unexplained += f.explained ? 0 : 1;

    auto unexpected = count(db, "unexpected = 1", since_ns, until_ns);
    if (!unexpected) return unexpected.error();
    r.unexpected = unexpected.value();
    VIGIL_TRY(add_expectations(db, r));

    auto acc = db.prepare(
        "SELECT coalesce(user, CAST(uid AS TEXT), '(unknown)'), coalesce(label, '(critical)'), count(*), "
        "count(DISTINCT path) FROM events WHERE action IN ('open', 'read') AND time_ns >= :since AND time_ns <= :until "
        "AND (label IS NOT NULL OR severity = 'critical') GROUP BY 1, 2 ORDER BY 3 DESC, 1");
    if (!acc) return acc.error();
    VIGIL_TRY(acc->bind_int(":since", since_ns));
    VIGIL_TRY(acc->bind_int(":until", until_ns));
    for (;;) {
        auto row = acc->step();
        if (!row) return row.error();
        if (!row.value()) break;
        r.accesses.push_back(
            {escape_bytes(acc->col_blob(0)), escape_bytes(acc->col_blob(1)), acc->col_int(2), acc->col_int(3)});
    }

    AgentHealth& h = r.health;
    struct Counter {
        std::int64_t* out;
        const char* where;
    };
    // "user IS NULL" adds nothing (a name is never stored without its uid) but lets the
    // index on (uid, user, time_ns) seek the window instead of walking every NULL uid.
    for (const Counter& c : {Counter{&h.events, "1"}, Counter{&h.overflows, "action = 'overflow'"},
                             Counter{&h.rescans, "action = 'rescan'"}, Counter{&h.kernel_events, "source = 'fanotify'"},
                             Counter{&h.unattributed, "source = 'fanotify' AND uid IS NULL AND user IS NULL"},
                             Counter{&h.inotify_events, "source = 'inotify'"},
                             Counter{&h.by_audit, "source = 'fanotify' AND detail LIKE '%\"actor_source\":\"audit\"%'"},
                             Counter{&h.denied, "action = 'denied'"}}) {
        auto n = count(db, c.where, since_ns, until_ns);
        if (!n) return n.error();
        *c.out = n.value();
    }
    // Downtime: every agent_stop followed by the next agent_start, clipped to the window;
    // a last agent_stop with no start after it means the agent is down now.
    auto life = db.prepare(
        "SELECT action, time_ns FROM events WHERE action IN ('agent_start', 'agent_stop') ORDER BY time_ns, id");
    if (!life) return life.error();
    bool stopped = false;  // (a plain flag: GCC 12 misreads std::optional here as uninitialised)
    bool running = false;
    std::int64_t stopped_at = 0;
    std::vector<std::int64_t> unclean_starts;  // agent_start with no agent_stop before it
    for (;;) {
        auto row = life->step();
        if (!row) return row.error();
        if (!row.value()) break;
        h.ever_ran = true;
        const std::string action = life->col_blob(0);
        const std::int64_t t = life->col_int(1);
        if (action == "agent_stop") {
            stopped = true;
            running = false;
            stopped_at = t;
        } else {
            if (stopped) {
                if (t >= since_ns && stopped_at <= until_ns) h.downtime.push_back({std::max(stopped_at, since_ns), t});
            } else if (running && t >= since_ns && t <= until_ns) {
                unclean_starts.push_back(t);
            }
            stopped = false;
            running = true;
        }
    }
    // A start with no stop before it: the previous agent was killed or crashed. Its last
    // recorded event is the last sign of life; the gap runs from there to the restart.
    auto last_before = db.prepare("SELECT max(time_ns) FROM events WHERE time_ns < :t");
    if (!last_before) return last_before.error();
    for (const std::int64_t t : unclean_starts) {
        VIGIL_TRY(last_before->bind_int(":t", t));
        auto row = last_before->step();
        if (!row) return row.error();
        const std::int64_t from = last_before->is_null(0) ? t : last_before->col_int(0);
        last_before->reset();
        h.downtime.push_back({std::max(from, since_ns), t, true});
    }
    std::sort(h.downtime.begin(), h.downtime.end(),
              [](const Downtime& a, const Downtime& b) { return a.from_ns < b.from_ns; });
    if (stopped && stopped_at <= until_ns) h.downtime.push_back({std::max(stopped_at, since_ns), std::nullopt});
    return r;
}

}  // namespace vigil
