#include "common/event_query.h"

#include <algorithm>
#include <functional>
#include <utility>
#include <variant>

#include "common/actor_lookup.h"

namespace vigil {

const char* const kEventColumns =
    "e.id, e.time_ns, e.action, e.source, e.path, e.old_path, e.uid, e.euid, e.gid, e.auid, e.user, e.login_user, "
    "e.pid, e.ppid, e.exe, e.comm, e.cmdline, e.label, e.severity, e.sha256_before, e.sha256_after, e.unexpected, "
    "e.detail";

EventView event_row(const db::Stmt& st) {
    EventView v;
    v.id = st.col_int(0);
    v.time_ns = st.col_int(1);
    v.action = st.col_view(2);
    v.source = st.col_view(3);
    v.path = st.col_opt_view(4);
    v.old_path = st.col_opt_view(5);
    v.uid = st.col_opt_int(6);
    v.euid = st.col_opt_int(7);
    v.gid = st.col_opt_int(8);
    v.auid = st.col_opt_int(9);
    v.user = st.col_opt_view(10);
    v.login_user = st.col_opt_view(11);
    v.pid = st.col_opt_int(12);
    v.ppid = st.col_opt_int(13);
    v.exe = st.col_opt_view(14);
    v.comm = st.col_opt_view(15);
    v.cmdline = st.col_opt_view(16);
    v.label = st.col_opt_view(17);
    v.severity = st.col_opt_view(18);
    v.sha256_before = st.col_opt_view(19);
    v.sha256_after = st.col_opt_view(20);
    v.unexpected = st.col_int(21) != 0;
    v.detail = st.col_opt_view(22);
    return v;
}

namespace {

struct Bind {
    std::string name;
    std::variant<std::int64_t, std::string> value;  // string: bound as a blob (paths) or text
    bool blob = false;
};

// Joins pieces into one string, no temporaries.
template <class... Parts>
std::string cat(const Parts&... parts) {
    std::string s;
    (s += ... += parts);
    return s;
}

// One alternative of an OR: its condition, and the same stated NULL-safe (never NULL).
struct Term {
    std::string cond;
    std::string is_cond;
};

// More branches than this would near SQLite's limit of 500 SELECTs in a compound.
constexpr std::size_t kMaxBranches = 200;

struct QuerySql {
    std::string sql;      // the query; for a subtree, its sorted keys (time_ns, id)
    std::string row_sql;  // a subtree's rows, one by id (:id); empty otherwise
};

// Builds the SQL of a filter. Conditions refer to the row as `e`.
class QueryBuilder {
public:
    QueryBuilder(db::Database& db, const EventFilter& f) : db_(db), f_(f) {}

    Result<QuerySql> sql() {
        VIGIL_TRY(split_ors());
        const std::string dir = f_.oldest_first ? " ASC" : " DESC";
        const std::string order = " ORDER BY time_ns" + dir + ", id" + dir;
        const std::string limit = f_.limit ? " LIMIT " + param(*f_.limit) : "";
        if (subtree_) return subtree_sql();
        // One SELECT per branch; SQLite merges branches that each come out of an index in
        // time order (MERGE (UNION ALL)) and stops at the limit.
        std::string sql;
        for (const auto& branch : branches_) {
            if (!sql.empty()) sql += " UNION ALL ";
            sql += cat("SELECT ", kEventColumns, " FROM events e WHERE ", branch, filters_, time_);
        }
        return QuerySql{sql + order + limit, {}};
    }

    const std::vector<Bind>& binds() const { return binds_; }

private:
    std::string param(std::variant<std::int64_t, std::string> v, bool blob = false) {
        std::string name = ":p" + std::to_string(binds_.size());
        binds_.push_back({name, std::move(v), blob});
        return name;
    }

    // Terms of one OR, each with the index that finds it. Branch i is term i and none of
    // the terms before it (NULL-safe), so no row comes out of two branches.
    static std::vector<std::string> disjoint(const std::vector<Term>& terms) {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < terms.size(); ++i) {
            std::string b = terms[i].cond;
            for (std::size_t k = 0; k < i; ++k) b += cat(" AND NOT (", terms[k].is_cond, ")");
            out.push_back(cat("(", b, ")"));
        }
        return out;
    }

    // --user: uid, euid or auid is the uid; user or login_user is the name. The rows of
    // one (uid, user) pair come out of events_uid_user_time in time order, so there is a
    // term per pair recorded (common/actor_lookup.h); likewise for (auid, login_user)
    // where they differ from (uid, user), and the partial euid index where euid does.
    Result<std::vector<Term>> actor_terms() {
        std::vector<Term> terms;
        auto value = [&](const auto& v) -> std::string { return v ? param(*v) : std::string("NULL"); };
        if (f_.uid) {
            const auto u = param(*f_.uid);
            auto names = names_of(db_, ActorColumn::User, *f_.uid);
            if (!names) return names.error();
            for (const auto& n : names.value()) {
                const auto k = value(n);
                terms.push_back({cat("e.uid = ", u, " AND e.user IS ", k), cat("e.uid IS ", u, " AND e.user IS ", k)});
            }
            terms.push_back(
                {"e.euid = " + u + " AND e.euid IS NOT e.uid", "e.euid IS " + u + " AND e.euid IS NOT e.uid"});
            auto logins = names_of(db_, ActorColumn::LoginUser, *f_.uid);
            if (!logins) return logins.error();
            for (const auto& n : logins.value()) {
                const auto k = value(n);
                const std::string rest = cat(" AND e.login_user IS ", k, " AND ", kLoginIndexCondition);
                terms.push_back({cat("e.auid = ", u, rest), cat("e.auid IS ", u, rest)});
            }
        }
        if (f_.user) {
            std::string name_param;  // bound only if a term uses it: every bind must be in the SQL
            auto name = [&] { return name_param.empty() ? (name_param = param(*f_.user)) : name_param; };
            auto ids = ids_of(db_, ActorColumn::User, *f_.user);
            if (!ids) return ids.error();
            for (const auto& id : ids.value()) {
                if (id && id == f_.uid) continue;  // every name of that uid has its term already
                const auto i = value(id);
                terms.push_back(
                    {cat("e.uid IS ", i, " AND e.user = ", name()), cat("e.uid IS ", i, " AND e.user IS ", name())});
            }
            auto login_ids = ids_of(db_, ActorColumn::LoginUser, *f_.user);
            if (!login_ids) return login_ids.error();
            for (const auto& id : login_ids.value()) {
                if (id && id == f_.uid) continue;
                const auto i = value(id);
                const std::string rest = std::string(" AND ") + kLoginIndexCondition;
                terms.push_back({cat("e.auid = ", i, " AND e.login_user = ", name(), rest),
                                 cat("e.auid IS ", i, " AND e.login_user IS ", name(), rest)});
            }
            // A name never recorded: an index search that finds nothing keeps the plan a search.
            if (terms.empty())
                terms.push_back({"e.uid IS NULL AND e.user = " + name(), "e.uid IS NULL AND e.user IS " + name()});
        }
        if (terms.size() > kMaxBranches)
            return Error::msg("--user matches " + std::to_string(terms.size()) +
                              " (id, name) pairs in the event log; too many to search by index");
        return terms;
    }

    // The first OR of the filter (in the order below) becomes the branches; every other
    // condition is ANDed onto each branch. Without any OR there is one branch, "1".
    Result<void> split_ors() {
        std::vector<std::string> ors;  // ORs that did not become branches, as one condition each
        auto take = [&](std::vector<std::string> terms) {
            if (branches_.empty()) {
                branches_ = std::move(terms);
                return;
            }
            std::string any;
            for (const auto& t : terms) any += (any.empty() ? "" : " OR ") + t;
            ors.push_back("(" + any + ")");
        };
        if (f_.path) {
            const auto p = param(*f_.path, true);
            take(disjoint({{"e.path = " + p, "e.path IS " + p}, {"e.old_path = " + p, "e.old_path IS " + p}}));
        }
        if (f_.uid || f_.user) {
            auto terms = actor_terms();
            if (!terms) return terms.error();
            take(disjoint(terms.value()));
        }
        std::vector<std::string> actions = f_.actions;
        std::sort(actions.begin(), actions.end());
        actions.erase(std::unique(actions.begin(), actions.end()), actions.end());
        if (actions.size() > 1) {
            std::vector<std::string> terms;
            terms.reserve(actions.size());
            for (const auto& a : actions) terms.push_back(cat("e.action = ", param(a)));
            take(terms);
        } else if (actions.size() == 1) {
            filters_ += " AND e.action = " + param(actions.front());
        }
        if (f_.under) {
            // Whole components: /etc/ssh matches /etc/ssh and /etc/ssh/..., never /etc/sshd.
            // Everything under D/ sorts between "D/" and "D0" ('0' follows '/'), so the path
            // index serves it as a range.
            std::string dir = *f_.under;
            while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
            if (dir == "/") {
                filters_ += " AND e.path IS NOT NULL";
            } else {
                const auto exact = param(dir, true);
                const auto lo = param(dir + "/", true);
                const auto hi = param(dir + "0", true);
                if (branches_.empty()) {
                    subtree_ = Subtree{exact, lo, hi};
                } else {
                    ors.push_back("(e.path = " + exact + " OR (e.path >= " + lo + " AND e.path < " + hi + "))");
                }
            }
        }
        if (f_.label) filters_ += " AND e.label = " + param(*f_.label);
        if (f_.unexpected_only) filters_ += " AND e.unexpected = 1";
        if (f_.since_ns) time_ += " AND e.time_ns >= " + param(*f_.since_ns);
        if (f_.until_ns) time_ += " AND e.time_ns <= " + param(*f_.until_ns);
        for (const auto& o : ors) filters_ += cat(" AND ", o);
        if (branches_.empty()) branches_ = {"1"};
        return {};
    }

    // A subtree is a range of the path index: not in time order, and a range on its first
    // column cannot bound time_ns in the seek, so walking it reads the subtree's whole
    // retention. Instead the keys (time_ns, id) come from one seek per distinct path in
    // the range (a recursive skip-scan) bounded by the window, are sorted in memory (an
    // SQLite sort of 300k keys spills to a temporary file), and each row is then read by id
    // with the remaining conditions. for_each_event() runs the two statements.
    QuerySql subtree_sql() {
        const Subtree& t = *subtree_;
        const std::string keys = cat(
            "WITH RECURSIVE d(path) AS (SELECT (SELECT min(path) FROM events WHERE path >= ", t.lo, " AND path < ",
            t.hi, ") UNION ALL SELECT (SELECT min(path) FROM events WHERE path > d.path AND path < ", t.hi,
            ") FROM d WHERE d.path IS NOT NULL) SELECT e.time_ns, e.id FROM d CROSS JOIN events e ON e.path = ",
            "d.path WHERE 1", time_, " UNION ALL SELECT e.time_ns, e.id FROM events e WHERE e.path = ", t.exact, time_);
        return QuerySql{keys, cat("SELECT ", kEventColumns, " FROM events e WHERE e.id = :id", filters_)};
    }

    struct Subtree {
        std::string exact;  // parameter names
        std::string lo;
        std::string hi;
    };

    db::Database& db_;
    const EventFilter& f_;
    std::vector<Bind> binds_;
    std::vector<std::string> branches_;  // ORed, disjoint
    std::optional<Subtree> subtree_;
    std::string filters_;  // " AND ...": the other conditions, for every branch
    std::string time_;     // " AND ...": the time bounds, for every branch
};

// A filter's statements, their values bound: the query, and for a subtree the row
// statement (`rows`). `explain` prefixes EXPLAIN QUERY PLAN.
struct Prepared {
    db::Stmt query;
    std::optional<db::Stmt> rows;
};

Result<Prepared> prepare_query(db::Database& db, const EventFilter& f, bool explain) {
    QueryBuilder q(db, f);
    auto sql = q.sql();
    if (!sql) return sql.error();
    const std::string prefix = explain ? "EXPLAIN QUERY PLAN " : "";
    // Each statement gets the values it names (a subtree's two statements share the list).
    auto prepare = [&](const std::string& text) -> Result<db::Stmt> {
        auto st = db.prepare(prefix + text);
        if (!st) return st.error();
        for (const auto& b : q.binds()) {
            if (!st->parameter_index(b.name.c_str())) continue;
            if (const auto* i = std::get_if<std::int64_t>(&b.value)) {
                VIGIL_TRY(st->bind_int(b.name.c_str(), *i));
            } else if (b.blob) {
                VIGIL_TRY(st->bind_blob(b.name.c_str(), std::get<std::string>(b.value)));
            } else {
                VIGIL_TRY(st->bind_text(b.name.c_str(), std::get<std::string>(b.value)));
            }
        }
        return st;
    };
    auto query = prepare(sql->sql);
    if (!query) return query.error();
    Prepared p{std::move(query.value()), std::nullopt};
    if (!sql->row_sql.empty()) {
        auto rows = prepare(sql->row_sql);
        if (!rows) return rows.error();
        p.rows = std::move(rows.value());
    }
    return p;
}

using SubtreeKey = std::pair<std::int64_t, std::int64_t>;  // (time_ns, id)

// Reads the rows of `keys` in output order (`first`: which of two keys comes out first)
// until the limit. With a limit only the first few are wanted, so a heap hands them out
// one by one (linear to build) instead of sorting every key of the subtree.
template <class First>
Result<void> subtree_rows(std::vector<SubtreeKey>& keys, First first, db::Stmt& rows, const EventFilter& f,
                          const EventSink& sink) {
    auto after = [&](const SubtreeKey& a, const SubtreeKey& b) { return first(b, a); };  // the heap's "less"
    auto heap_end = keys.end();
    std::size_t next = 0;
    if (f.limit) {
        std::make_heap(keys.begin(), keys.end(), after);
    } else {
        std::sort(keys.begin(), keys.end(), first);
    }
    auto next_key = [&]() -> std::optional<SubtreeKey> {
        if (!f.limit) return next < keys.size() ? std::optional<SubtreeKey>(keys[next++]) : std::nullopt;
        if (heap_end == keys.begin()) return std::nullopt;
        std::pop_heap(keys.begin(), heap_end, after);
        --heap_end;
        return *heap_end;
    };
    auto id_index = rows.parameter_index(":id");
    if (!id_index) return id_index.error();
    std::int64_t shown = 0;
    while (const auto key = next_key()) {
        if (f.limit && shown >= *f.limit) break;
        rows.rewind();
        VIGIL_TRY(rows.bind_int_at(id_index.value(), key->second));
        auto row = rows.step();
        if (!row) return row.error();
        if (!row.value()) continue;  // another condition ruled it out
        ++shown;
        if (!sink(event_row(rows))) break;
    }
    return {};
}

// A subtree: every key, then each row by id in order (see subtree_sql()).
Result<void> for_each_subtree_event(Prepared& p, const EventFilter& f, const EventSink& sink) {
    std::vector<SubtreeKey> keys;
    for (;;) {
        auto row = p.query.step();
        if (!row) return row.error();
        if (!row.value()) break;
        keys.emplace_back(p.query.col_int(0), p.query.col_int(1));
    }
    if (f.oldest_first) return subtree_rows(keys, std::less<>(), *p.rows, f, sink);
    return subtree_rows(keys, std::greater<>(), *p.rows, f, sink);
}

}  // namespace

Result<std::vector<std::string>> explain_event_query(db::Database& db, const EventFilter& filter) {
    auto p = prepare_query(db, filter, true);
    if (!p) return p.error();
    std::vector<std::string> plan;
    for (db::Stmt* st : {&p->query, p->rows ? &*p->rows : nullptr}) {
        if (st == nullptr) continue;
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            plan.push_back(st->col_blob(3));
        }
    }
    return plan;
}

Result<void> for_each_event(db::Database& db, const EventFilter& filter, const EventSink& sink) {
    auto p = prepare_query(db, filter, false);
    if (!p) return p.error();
    if (p->rows) {
        auto txn = db::ReadTxn::begin(db);  // keys and rows from one snapshot
        if (!txn) return txn.error();
        return for_each_subtree_event(p.value(), filter, sink);
    }
    db::Stmt& st = p->query;
    for (;;) {
        auto row = st.step();
        if (!row) return row.error();
        if (!row.value() || !sink(event_row(st))) return {};
    }
}

Result<std::vector<StoredEvent>> query_events(db::Database& db, const EventFilter& filter) {
    std::vector<StoredEvent> out;
    auto r = for_each_event(db, filter, [&](const EventView& v) {
        out.push_back(stored_from(v));
        return true;
    });
    if (!r) return r.error();
    return out;
}

}  // namespace vigil
