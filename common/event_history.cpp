#include "common/event_history.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

namespace vigil {
namespace {

// Bytes that outlive SQLite's row buffer: blocks that never move, so views into them stay
// valid while more rows arrive. A busy file has hundreds of thousands of rows; one copy
// into a block each beats a heap string per column.
class ByteArena {
public:
    std::string_view copy(std::string_view s) {
        if (s.empty()) return {};
        if (s.size() > left_) grow(s.size());
        std::memcpy(next_, s.data(), s.size());
        const std::string_view out(next_, s.size());
        next_ += s.size();
        left_ -= s.size();
        return out;
    }
    std::optional<std::string_view> copy_opt(const std::optional<std::string_view>& s) {
        if (!s) return std::nullopt;
        return copy(*s);
    }

private:
    static constexpr std::size_t kBlock = std::size_t{1} << 20;
    void grow(std::size_t at_least) {
        const std::size_t n = std::max(kBlock, at_least);
        blocks_.push_back(std::make_unique_for_overwrite<char[]>(n));
        next_ = blocks_.back().get();
        left_ = n;
    }
    std::vector<std::unique_ptr<char[]>> blocks_;
    char* next_ = nullptr;
    std::size_t left_ = 0;
};

EventView copied(ByteArena& arena, const EventView& v) {
    EventView c = v;
    c.action = arena.copy(v.action);
    c.source = arena.copy(v.source);
    for (auto* field : {&c.path, &c.old_path, &c.user, &c.login_user, &c.exe, &c.comm, &c.cmdline, &c.label,
                        &c.severity, &c.sha256_before, &c.sha256_after, &c.detail})
        *field = arena.copy_opt(*field);
    return c;
}

}  // namespace

Result<void> for_each_history_event(db::Database& db, const std::string& path, const EventSink& sink) {
    struct Name {
        std::string path;
        std::int64_t until_ns;  // events under this name up to here belong to our file
    };
    constexpr std::size_t kMaxNames = 1000;  // a rename ring cannot make us loop
    std::vector<Name> names{{path, INT64_MAX}};
    std::set<std::string> seen{path};
    auto txn = db::ReadTxn::begin(db);  // every name and the baseline from one snapshot
    if (!txn) return txn.error();
    ByteArena arena;
    std::vector<EventView> rows;
    // Both branches come straight from their index; the rows are sorted below anyway.
    auto st = db.prepare(std::string("SELECT ") + kEventColumns +
                         " FROM events e WHERE e.path = :p AND e.time_ns <= :u UNION ALL SELECT " + kEventColumns +
                         " FROM events e WHERE e.old_path = :p AND e.path IS NOT :p AND e.time_ns <= :u");
    if (!st) return st.error();
    for (std::size_t i = 0; i < names.size() && i < kMaxNames; ++i) {
        VIGIL_TRY(st->bind_blob(":p", names[i].path));
        VIGIL_TRY(st->bind_int(":u", names[i].until_ns));
        for (;;) {
            auto row = st->step();
            if (!row) return row.error();
            if (!row.value()) break;
            const EventView v = event_row(st.value());
            if (v.action == "rename" && v.path == std::string_view(names[i].path) && v.old_path &&
                seen.insert(std::string(*v.old_path)).second)
                names.push_back({std::string(*v.old_path), v.time_ns});
            rows.push_back(copied(arena, v));
        }
        st->reset();
    }
    // The baseline entries, in name order (id 0: before every event of the same instant).
    auto base = db.prepare(
        "SELECT f.path, f.sha256, b.created_ns, b.id FROM files f JOIN baselines b ON b.id = f.baseline_id "
        "WHERE f.path = :p");
    if (!base) return base.error();
    for (const auto& name : names) {
        VIGIL_TRY(base->bind_blob(":p", name.path));
        auto row = base->step();
        if (!row) return row.error();
        if (row.value()) {
            EventView b;
            b.action = "baseline";
            b.source = "baseline";
            b.time_ns = base->col_int(2);
            b.path = arena.copy(base->col_view(0));
            b.sha256_after = arena.copy_opt(base->col_opt_view(1));
            b.detail = arena.copy("{\"baseline_id\":" + std::to_string(base->col_int(3)) + "}");
            rows.push_back(b);
        }
        base->reset();
    }
    // Sort small keys, not the views themselves.
    struct Key {
        std::int64_t time_ns;
        std::int64_t id;
        std::size_t index;
    };
    std::vector<Key> order;
    order.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) order.push_back({rows[i].time_ns, rows[i].id, i});
    std::stable_sort(order.begin(), order.end(), [](const Key& a, const Key& b) {
        return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.id < b.id;
    });
    std::int64_t previous = 0;
    for (const Key& k : order) {
        if (k.id != 0 && k.id == previous) continue;  // reached under two names: the rename between them
        previous = k.id;
        if (!sink(rows[k.index])) break;
    }
    return {};
}

}  // namespace vigil
