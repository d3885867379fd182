#include "common/event_history.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

namespace vigil {
namespace {

// Rows that outlive SQLite's row buffer, each packed into one record in blocks that never
// move: a busy file has hundreds of thousands of rows, and an EventView per row (440
// bytes of views and optionals) beside a copy of its bytes doubled the memory, and the
// page faults, of a history. A record: id, time_ns, the unexpected flag, the six numbers
// (a null mask, then each), then each byte string as its length (kNull: NULL) and bytes.
class RowStore {
public:
    const char* add(const EventView& v) {
        std::size_t size = kFixed;
        for_each_text(
            v, [&](const std::optional<std::string_view>& t) { size += sizeof(std::uint32_t) + (t ? t->size() : 0); });
        char* p = room(size);
        char* const rec = p;
        p = put(p, v.id);
        p = put(p, v.time_ns);
        *p++ = static_cast<char>(v.unexpected);
        std::uint8_t nulls = 0;
        const std::array<const std::optional<std::int64_t>*, 6> ints = {&v.uid,  &v.euid, &v.gid,
                                                                        &v.auid, &v.pid,  &v.ppid};
        for (std::size_t i = 0; i < ints.size(); ++i)
            if (!*ints[i]) nulls |= static_cast<std::uint8_t>(1U << i);
        *p++ = static_cast<char>(nulls);
        for (const auto* n : ints) p = put(p, n->value_or(0));
        for_each_text(v, [&](const std::optional<std::string_view>& t) {
            p = put(p, t ? static_cast<std::uint32_t>(t->size()) : kNull);
            if (t && !t->empty()) {
                std::memcpy(p, t->data(), t->size());
                p += t->size();
            }
        });
        return rec;
    }

    // The row of a record from add(); its views point into the store.
    static EventView read(const char* p) {
        EventView v;
        p = get(p, v.id);
        p = get(p, v.time_ns);
        v.unexpected = *p++ != 0;
        const auto nulls = static_cast<std::uint8_t>(*p++);
        const std::array<std::optional<std::int64_t>*, 6> ints = {&v.uid, &v.euid, &v.gid, &v.auid, &v.pid, &v.ppid};
        for (std::size_t i = 0; i < ints.size(); ++i) {
            std::int64_t n = 0;
            p = get(p, n);
            if ((nulls & (1U << i)) == 0) *ints[i] = n;
        }
        std::optional<std::string_view> action;
        std::optional<std::string_view> source;
        const std::array<std::optional<std::string_view>*, 14> texts = {
            &action, &source,    &v.path,  &v.old_path, &v.user,          &v.login_user,   &v.exe,
            &v.comm, &v.cmdline, &v.label, &v.severity, &v.sha256_before, &v.sha256_after, &v.detail};
        for (auto* t : texts) {
            std::uint32_t n = 0;
            p = get(p, n);
            if (n == kNull) continue;
            *t = std::string_view(p, n);
            p += n;
        }
        v.action = action.value_or(std::string_view());
        v.source = source.value_or(std::string_view());
        return v;
    }

private:
    static constexpr std::size_t kFixed = 2 * sizeof(std::int64_t) + 2 + 6 * sizeof(std::int64_t);
    static constexpr std::uint32_t kNull = UINT32_MAX;
    static constexpr std::size_t kBlock = std::size_t{1} << 20;

    // The byte strings in record order (read() lists the same).
    template <class F>
    static void for_each_text(const EventView& v, F&& f) {
        f(std::optional<std::string_view>(v.action));
        f(std::optional<std::string_view>(v.source));
        for (const auto* t : {&v.path, &v.old_path, &v.user, &v.login_user, &v.exe, &v.comm, &v.cmdline, &v.label,
                              &v.severity, &v.sha256_before, &v.sha256_after, &v.detail})
            f(*t);
    }
    template <class T>
    static char* put(char* p, T v) {
        std::memcpy(p, &v, sizeof v);
        return p + sizeof v;
    }
    template <class T>
    static const char* get(const char* p, T& v) {
        std::memcpy(&v, p, sizeof v);
        return p + sizeof v;
    }
    char* room(std::size_t n) {
        if (n > left_) {
            const std::size_t size = std::max(kBlock, n);
            blocks_.push_back(std::make_unique_for_overwrite<char[]>(size));
            next_ = blocks_.back().get();
            left_ = size;
        }
        char* p = next_;
        next_ += n;
        left_ -= n;
        return p;
    }

    std::vector<std::unique_ptr<char[]>> blocks_;
    char* next_ = nullptr;
    std::size_t left_ = 0;
};

// Rows are ordered by small keys, not moved themselves.
struct HistoryKey {
    std::int64_t time_ns;
    std::int64_t id;
    const char* row;  // in the RowStore
};

// keys[from, end) is a run in (time_ns, id) order, as is keys[0, from): merges them, the
// earlier run first on equal keys (a stable sort of the whole, in linear time).
void merge_last_run(std::vector<HistoryKey>& keys, std::size_t from) {
    std::inplace_merge(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(from), keys.end(),
                       [](const HistoryKey& a, const HistoryKey& b) {
                           return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.id < b.id;
                       });
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
    RowStore store;
    std::vector<HistoryKey> order;  // (time_ns, id) order, oldest first
    // Both branches come straight from their index in time order, merged by SQLite (no sort):
    // each name is one sorted run, merged into the rows of the names before it.
    auto st = db.prepare(
        std::string("SELECT ") + kEventColumns +
        " FROM events e WHERE e.path = :p AND e.time_ns <= :u UNION ALL SELECT " + kEventColumns +
        " FROM events e WHERE e.old_path = :p AND e.path IS NOT :p AND e.time_ns <= :u ORDER BY time_ns, id");
    if (!st) return st.error();
    for (std::size_t i = 0; i < names.size() && i < kMaxNames; ++i) {
        const std::size_t run = order.size();
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
            order.push_back({v.time_ns, v.id, store.add(v)});
        }
        st->reset();
        merge_last_run(order, run);
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
            b.path = base->col_view(0);
            b.sha256_after = base->col_opt_view(1);
            const std::string detail = "{\"baseline_id\":" + std::to_string(base->col_int(3)) + "}";
            b.detail = detail;
            order.push_back({b.time_ns, b.id, store.add(b)});
            merge_last_run(order, order.size() - 1);
        }
        base->reset();
    }
    std::int64_t previous = 0;
    for (const HistoryKey& k : order) {
        if (k.id != 0 && k.id == previous) continue;  // reached under two names: the rename between them
        previous = k.id;
        if (!sink(RowStore::read(k.row))) break;
    }
    return {};
}

}  // namespace vigil
