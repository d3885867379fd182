#include "common/event_query.h"

#include <algorithm>
#include <climits>
#include <map>
#include <set>
#include <variant>

namespace vigil {
namespace {

struct Bind {
    std::string name;
    std::variant<std::int64_t, std::string> value;  // string: bound as a blob (paths) or text
    bool blob = false;
};

}  // namespace

namespace {

// The statement for a filter, all values bound. `explain` prefixes EXPLAIN QUERY PLAN.
Result<db::Stmt> prepare_query(db::Database& db, const EventFilter& f, bool explain) {
    std::string sql =
        std::string(explain ? "EXPLAIN QUERY PLAN " : "") +
        "SELECT id, time_ns, action, source, path, old_path, uid, euid, gid, auid, user, login_user, pid, ppid, exe, "
        "comm, cmdline, label, severity, sha256_before, sha256_after, unexpected, detail FROM events WHERE 1";
    std::vector<Bind> binds;
    auto param = [&](std::variant<std::int64_t, std::string> v, bool blob = false) {
        std::string name = ":p" + std::to_string(binds.size());
        binds.push_back({name, std::move(v), blob});
        return name;
    };
    if (f.path) {
        const auto p = param(*f.path, true);
        sql += " AND (path = " + p + " OR old_path = " + p + ")";
    }
    if (f.under) {
        // Whole components: /etc/ssh matches /etc/ssh and /etc/ssh/..., never /etc/sshd.
        // Everything under D/ sorts between "D/" and "D0" ('0' follows '/'), so the path
        // index serves it as a range.
        std::string dir = *f.under;
        while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
        if (dir == "/") {
            sql += " AND path IS NOT NULL";
        } else {
            const auto exact = param(dir, true);
            const auto lo = param(dir + "/", true);
            const auto hi = param(dir + "0", true);
            sql += " AND (path = " + exact + " OR (path >= " + lo + " AND path < " + hi + "))";
        }
    }
    if (f.uid || f.user) {
        std::string any;
        if (f.uid) {
            const auto u = param(*f.uid);
            any += "uid = " + u + " OR euid = " + u + " OR auid = " + u;
        }
        if (f.user) {
            const auto n = param(*f.user);
            if (!any.empty()) any += " OR ";
            any += "user = " + n + " OR login_user = " + n;
        }
        sql += " AND (" + any + ")";
    }
    if (!f.actions.empty()) {
        sql += " AND action IN (";
        for (std::size_t i = 0; i < f.actions.size(); ++i) sql += (i ? ", " : "") + param(f.actions[i]);
        sql += ")";
    }
    if (f.label) sql += " AND label = " + param(*f.label);
    if (f.unexpected_only) sql += " AND unexpected = 1";
    if (f.since_ns) sql += " AND time_ns >= " + param(*f.since_ns);
    if (f.until_ns) sql += " AND time_ns <= " + param(*f.until_ns);
    // With a selective filter, "+time_ns" keeps SQLite from walking the whole time index
    // just to avoid a sort: it searches the filter's index and sorts the few matches.
    const bool selective = f.path || f.under || f.uid || f.user || !f.actions.empty() || f.label || f.unexpected_only;
    const std::string order = selective ? "+time_ns" : "time_ns";
    sql += f.oldest_first ? " ORDER BY " + order + " ASC, id ASC" : " ORDER BY " + order + " DESC, id DESC";
    if (f.limit) sql += " LIMIT " + param(*f.limit);

    auto st = db.prepare(sql);
    if (!st) return st.error();
    for (const auto& b : binds) {
        if (const auto* i = std::get_if<std::int64_t>(&b.value)) {
            VIGIL_TRY(st->bind_int(b.name.c_str(), *i));
        } else if (b.blob) {
            VIGIL_TRY(st->bind_blob(b.name.c_str(), std::get<std::string>(b.value)));
        } else {
            VIGIL_TRY(st->bind_text(b.name.c_str(), std::get<std::string>(b.value)));
        }
    }
    return st;
}

}  // namespace

Result<std::vector<std::string>> explain_event_query(db::Database& db, const EventFilter& filter) {
    auto st = prepare_query(db, filter, true);
    if (!st) return st.error();
    std::vector<std::string> plan;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        plan.push_back(st->col_blob(3));
    }
    return plan;
}

Result<std::vector<StoredEvent>> query_events(db::Database& db, const EventFilter& f) {
    auto st = prepare_query(db, f, false);
    if (!st) return st.error();
    std::vector<StoredEvent> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        StoredEvent s;
        s.id = st->col_int(0);
        Event& e = s.event;
        e.time_ns = st->col_int(1);
        s.action = st->col_blob(2);
        s.source = st->col_blob(3);
        if (auto a = action_from_name(s.action)) e.action = *a;
        e.path = st->col_opt_blob(4);
        e.old_path = st->col_opt_blob(5);
        e.actor.uid = st->col_opt_int(6);
        e.actor.euid = st->col_opt_int(7);
        s.gid = st->col_opt_int(8);
        e.actor.gid = s.gid;
        e.actor.auid = st->col_opt_int(9);
        e.actor.user = st->col_opt_blob(10);
        e.actor.login_user = st->col_opt_blob(11);
        e.actor.pid = st->col_opt_int(12);
        e.actor.ppid = st->col_opt_int(13);
        e.actor.exe = st->col_opt_blob(14);
        e.actor.comm = st->col_opt_blob(15);
        e.actor.cmdline = st->col_opt_blob(16);
        e.label = st->col_opt_blob(17);
        e.severity = st->col_opt_blob(18);
        e.sha256_before = st->col_opt_blob(19);
        e.sha256_after = st->col_opt_blob(20);
        e.unexpected = st->col_int(21) != 0;
        e.detail = st->col_opt_blob(22);
        out.push_back(std::move(s));
    }
    return out;
}

Result<std::vector<StoredEvent>> history_events(db::Database& db, const std::string& path) {
    struct Name {
        std::string path;
        std::int64_t until_ns;  // events under this name up to here belong to our file
    };
    constexpr std::int64_t kForever = INT64_MAX;
    constexpr std::size_t kMaxNames = 1000;  // a rename ring cannot make us loop
    std::vector<Name> names{{path, kForever}};
    std::set<std::string> seen{path};
    std::map<std::int64_t, StoredEvent> by_id;
    for (std::size_t i = 0; i < names.size() && i < kMaxNames; ++i) {
        EventFilter f;
        f.path = names[i].path;
        if (names[i].until_ns != kForever) f.until_ns = names[i].until_ns;
        auto rows = query_events(db, f);
        if (!rows) return rows.error();
        for (auto& row : rows.value()) {
            const Event& e = row.event;
            if (row.action == "rename" && e.path == names[i].path && e.old_path && seen.insert(*e.old_path).second)
                names.push_back({*e.old_path, e.time_ns});
            by_id.emplace(row.id, std::move(row));
        }
    }
    std::vector<StoredEvent> out;
    auto base = db.prepare(
        "SELECT f.path, f.sha256, b.created_ns, b.id FROM files f JOIN baselines b ON b.id = f.baseline_id "
        "WHERE f.path = :p");
    if (!base) return base.error();
    for (const auto& name : names) {
        VIGIL_TRY(base->bind_blob(":p", name.path));
        auto row = base->step();
        if (!row) return row.error();
        if (row.value()) {
            StoredEvent s;
            s.id = 0;
            s.action = "baseline";
            s.source = "baseline";
            s.event.time_ns = base->col_int(2);
            s.event.path = base->col_blob(0);
            s.event.sha256_after = base->col_opt_blob(1);
            s.event.detail = "{\"baseline_id\":" + std::to_string(base->col_int(3)) + "}";
            out.push_back(std::move(s));
        }
        base->reset();
    }
    for (auto& [id, row] : by_id) out.push_back(std::move(row));
    std::stable_sort(out.begin(), out.end(), [](const StoredEvent& a, const StoredEvent& b) {
        return a.event.time_ns != b.event.time_ns ? a.event.time_ns < b.event.time_ns : a.id < b.id;
    });
    return out;
}

}  // namespace vigil
