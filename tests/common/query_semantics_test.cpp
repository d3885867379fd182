// The SQL that common/event_query.cpp builds (one branch per index, merged by time) must
// return exactly what the filter means: every match once, newest first (or oldest first
// with --reverse), ties broken by id, cut at the limit. Checked against a brute-force
// filter over random events with many equal times, NULLs and overlapping ids.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "common/baseline_store.h"
#include "common/event_query.h"
#include "tests/support/temp_dir.h"

using namespace vigil;

namespace {

struct Row {
    std::int64_t id;
    Event e;
};

bool matches(const Row& r, const EventFilter& f) {
    const Event& e = r.e;
    if (f.path && e.path != f.path && e.old_path != f.path) return false;
    if (f.under) {
        if (!e.path) return false;
        std::string d = *f.under;
        while (d.size() > 1 && d.back() == '/') d.pop_back();
        const std::string& p = *e.path;
        if (d != "/" && p != d && p.rfind(d + "/", 0) != 0) return false;
    }
    if (f.uid || f.user) {
        const bool by_uid = f.uid && (e.actor.uid == f.uid || e.actor.euid == f.uid || e.actor.auid == f.uid);
        const bool by_name = f.user && (e.actor.user == f.user || e.actor.login_user == f.user);
        if (!by_uid && !by_name) return false;
    }
    if (!f.actions.empty() &&
        std::find(f.actions.begin(), f.actions.end(), std::string(action_name(e.action))) == f.actions.end())
        return false;
    if (f.label && e.label != f.label) return false;
    if (f.unexpected_only && !e.unexpected) return false;
    if (f.since_ns && e.time_ns < *f.since_ns) return false;
    if (f.until_ns && e.time_ns > *f.until_ns) return false;
    return true;
}

}  // namespace

TEST_CASE("query branches return each match once, in time order, up to the limit", "[kernel][query]") {
    test::TempDir dir;
    auto db = db::Database::open(dir / "vigil.db", db::OpenMode::Create);
    REQUIRE(db);
    std::mt19937 rng(7);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    auto maybe_uid = [&]() -> std::optional<std::int64_t> {
        if (pick(5) == 0) return std::nullopt;
        return pick(4);
    };
    const std::vector<std::string> dirs = {"/srv/a", "/srv/a/b", "/srv/ab", "/srv/a0", "/etc"};
    std::vector<Row> rows;
    {
        auto txn = db::WriteTxn::begin(db.value());
        REQUIRE(txn);
        auto appender = EventAppender::prepare(db.value());
        REQUIRE(appender);
        for (int i = 0; i < 1500; ++i) {
            Event e;
            e.time_ns = pick(300);  // many rows share an instant: the id breaks the tie
            e.action = static_cast<Action>(pick(7));
            const int where = pick(7);
            if (where < 5) e.path = dirs[static_cast<std::size_t>(where)] + "/f" + std::to_string(pick(4));
            if (where == 5) e.path = "/srv/a";
            if (e.action == Action::Rename && pick(2) == 0) e.old_path = "/srv/a/f" + std::to_string(pick(4));
            e.actor.uid = maybe_uid();
            e.actor.euid = pick(3) == 0 ? maybe_uid() : e.actor.uid;
            e.actor.auid = pick(3) == 0 ? maybe_uid() : e.actor.uid;
            // Names belong to ids (a name never without its id), but an id may have had
            // another name (renamed, reused) or none (the lookup failed).
            auto name_of = [&](std::optional<std::int64_t> id) -> std::optional<std::string> {
                if (!id || pick(8) == 0) return std::nullopt;
                return pick(6) == 0 ? "renamed" : "u" + std::to_string(*id);
            };
            e.actor.user = name_of(e.actor.uid);
            e.actor.login_user = e.actor.auid == e.actor.uid && pick(4) != 0 ? e.actor.user : name_of(e.actor.auid);
            if (pick(2) == 0) e.label = pick(2) == 0 ? "a" : "b";
            e.unexpected = pick(10) == 0;
            auto id = appender->append(e);
            REQUIRE(id);
            rows.push_back({id.value(), e});
        }
        REQUIRE(txn->commit());
    }

    std::vector<EventFilter> filters;
    auto add = [&](auto set) {
        for (const bool reverse : {false, true})
            for (const std::optional<std::int64_t> limit :
                 {std::optional<std::int64_t>(), std::optional<std::int64_t>(7)}) {
                EventFilter f;
                set(f);
                f.oldest_first = reverse;
                f.limit = limit;
                filters.push_back(f);
            }
    };
    add([](EventFilter&) {});
    add([](EventFilter& f) { f.path = "/srv/a/f1"; });
    add([](EventFilter& f) { f.path = "/srv/a"; });
    add([](EventFilter& f) { f.under = "/srv/a"; });
    add([](EventFilter& f) {
        f.under = "/srv/a/";
        f.since_ns = 100;
        f.until_ns = 200;
    });
    add([](EventFilter& f) {
        f.under = "/srv/a";
        f.label = "a";
    });
    add([](EventFilter& f) {
        f.under = "/";
        f.label = "b";
    });
    add([](EventFilter& f) { f.uid = 1; });
    add([](EventFilter& f) {
        f.uid = 2;
        f.user = "u2";
        f.since_ns = 150;
    });
    add([](EventFilter& f) { f.user = "u3"; });
    add([](EventFilter& f) { f.user = "renamed"; });
    add([](EventFilter& f) { f.user = "nobody"; });
    add([](EventFilter& f) {
        f.uid = 2;
        f.user = "renamed";
    });
    add([](EventFilter& f) {
        f.uid = 3;
        f.label = "a";
    });
    add([](EventFilter& f) { f.actions = {"read", "delete", "read"}; });
    add([](EventFilter& f) {
        f.actions = {"rename"};
        f.label = "a";
    });
    add([](EventFilter& f) {
        f.label = "a";
        f.since_ns = 250;
    });
    add([](EventFilter& f) { f.unexpected_only = true; });
    add([](EventFilter& f) { f.since_ns = 299; });
    add([](EventFilter& f) {
        f.path = "/srv/a/f2";
        f.uid = 0;
        f.actions = {"modify", "rename"};
    });
    add([](EventFilter& f) {
        f.under = "/srv/a";
        f.uid = 1;
        f.actions = {"open", "read"};
        f.unexpected_only = false;
    });
    for (const auto& f : filters) {
        std::vector<std::int64_t> want;
        std::vector<const Row*> hits;
        for (const auto& r : rows)
            if (matches(r, f)) hits.push_back(&r);
        std::sort(hits.begin(), hits.end(), [&](const Row* a, const Row* b) {
            const auto ka = std::make_pair(a->e.time_ns, a->id);
            const auto kb = std::make_pair(b->e.time_ns, b->id);
            return f.oldest_first ? ka < kb : ka > kb;
        });
        for (const Row* r : hits) want.push_back(r->id);
        if (f.limit && want.size() > static_cast<std::size_t>(*f.limit))
            want.resize(static_cast<std::size_t>(*f.limit));
        std::vector<std::int64_t> got;
        REQUIRE(for_each_event(db.value(), f, [&](const EventView& v) {
            got.push_back(v.id);
            return true;
        }));
        auto plan = explain_event_query(db.value(), f);
        REQUIRE(plan);
        std::string all;
        for (const auto& line : plan.value()) all += line + "\n";
        INFO(all);
        CHECK(got == want);
    }
}
