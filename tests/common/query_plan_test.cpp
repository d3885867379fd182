// Every filter of `vigil query` must be served by an index: EXPLAIN QUERY PLAN may search
// `events`, never scan it whole (a year of events would make an auditor wait minutes).
// And SQLite must never sort (no temp B-tree): rows come out of their indexes in time
// order, so the first are printed at once and --limit stops the search. A subtree
// (--under) reads its keys by one seek per path in the covering path index, bounded by
// the window, and vigil sorts those keys itself.
#include <catch2/catch.hpp>

#include "common/baseline_store.h"
#include "common/event_query.h"
#include "tests/support/temp_dir.h"

using namespace vigil;

TEST_CASE("no query filter becomes a full scan of events", "[kernel][query][plan]") {
    test::TempDir dir;
    auto db = db::Database::open(dir / "vigil.db", db::OpenMode::Create);
    REQUIRE(db);
    {
        auto txn = db::WriteTxn::begin(db.value());
        auto appender = EventAppender::prepare(db.value());
        REQUIRE(appender);
        for (int i = 0; i < 2000; ++i) {
            Event e;
            e.time_ns = i;
            e.action = i % 3 == 0 ? Action::Read : Action::Modify;
            e.path = "/srv/d" + std::to_string(i % 50) + "/f" + std::to_string(i);
            e.actor.uid = i % 7;
            e.actor.user = "u" + std::to_string(i % 7);
            e.label = i % 2 ? "a" : "b";
            REQUIRE(appender->append(e));
        }
        REQUIRE(txn->commit());
    }
    // No ANALYZE: Vigil never runs it, so this is the planner auditors' databases get.

    struct Case {
        const char* name;
        EventFilter filter;
    };
    std::vector<Case> cases;
    auto add = [&](const char* name, auto set) {
        EventFilter f;
        set(f);
        cases.push_back({name, f});
    };
    add("path", [](EventFilter& f) { f.path = "/srv/d1/f1"; });
    add("under", [](EventFilter& f) { f.under = "/srv/d1"; });
    add("uid", [](EventFilter& f) { f.uid = 3; });
    add("user name", [](EventFilter& f) {
        f.uid = 3;
        f.user = "u3";
    });
    add("action", [](EventFilter& f) { f.actions = {"read", "delete"}; });
    add("label", [](EventFilter& f) { f.label = "a"; });
    add("unexpected", [](EventFilter& f) { f.unexpected_only = true; });
    add("since", [](EventFilter& f) { f.since_ns = 1990; });
    add("under and user", [](EventFilter& f) {
        f.under = "/srv/d1";
        f.uid = 3;
    });
    add("path, user and actions", [](EventFilter& f) {
        f.path = "/srv/d1/f1";
        f.uid = 3;
        f.actions = {"read", "modify"};
    });
    add("user name only", [](EventFilter& f) { f.user = "u3"; });
    add("label since", [](EventFilter& f) {
        f.label = "a";
        f.since_ns = 1000;
    });
    add("under since", [](EventFilter& f) {
        f.under = "/srv/d1";
        f.since_ns = 1000;
    });
    add("under label", [](EventFilter& f) {
        f.under = "/srv/d1";
        f.label = "a";
    });
    add("action since until", [](EventFilter& f) {
        f.actions = {"read"};
        f.since_ns = 1000;
        f.until_ns = 1500;
    });
    for (auto c : cases) {
        for (const bool reverse : {false, true}) {
            for (const bool limited : {false, true}) {
                c.filter.oldest_first = reverse;
                if (limited) c.filter.limit = 20;
                auto plan = explain_event_query(db.value(), c.filter);
                REQUIRE(plan);
                std::string all;
                bool scans = false;
                bool sorts_rows = false;
                bool subtree_ids = false;
                for (const auto& line : plan.value()) {
                    all += line + "\n";
                    // A scan of the partial index of unexpected events reads only matching
                    // rows; "SCAN m" reads the sorted ids of a subtree. Rows are `e`.
                    const bool partial = line.find("events_unexpected_time") != std::string::npos;
                    scans = scans ||
                            ((line.rfind("SCAN e ", 0) == 0 || line == "SCAN e" || line.rfind("SCAN events", 0) == 0) &&
                             !partial);
                    sorts_rows = sorts_rows || line.find("TEMP B-TREE") != std::string::npos;
                    subtree_ids = subtree_ids || line.find("COVERING INDEX events_path_time") != std::string::npos;
                }
                INFO(c.name << (reverse ? ", oldest first" : "") << (limited ? ", limit" : "") << ":\n" << all);
                CHECK_FALSE(scans);
                CHECK_FALSE(sorts_rows);
                if (c.filter.under && !c.filter.path && !c.filter.uid && !c.filter.user && c.filter.actions.size() < 2)
                    CHECK(subtree_ids);
            }
        }
    }
}
