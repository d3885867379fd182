// The stateful half of alerts (agent/leak_detector.h) with time under the test's control:
// one alert per crossing, a quiet window after it, a sliding window, rate-limited hours
// alerts, and memory that stays bounded whatever the traffic.
#include "agent/leak_detector.h"

#include <catch2/catch.hpp>

#include <string>

using vigil::AlertRule;
using vigil::BulkReadAlert;
using vigil::agent::LeakDetector;

namespace {

constexpr std::int64_t kSec = 1'000'000'000;
constexpr int kNoon = 12 * 60;

AlertRule bulk(std::uint32_t files, std::int64_t window_s) {
    AlertRule r;
    r.bulk_read = BulkReadAlert{files, window_s * kSec, std::to_string(window_s) + "s"};
    return r;
}

std::string file(int i) { return "/srv/customers/transactions/" + std::to_string(i) + ".csv"; }

}  // namespace

TEST_CASE("300 distinct files read by one user raise exactly one bulk_read alert", "[unit][leak]") {
    LeakDetector d;
    const AlertRule rule = bulk(100, 60);
    std::vector<LeakDetector::Signal> all;
    for (int i = 0; i < 300; ++i) {
        // Each file opened and read: two events, one file.
        for (int twice = 0; twice < 2; ++twice)
            for (auto& s : d.observe(1001, "transactions", file(i), rule, i * kSec / 10, kNoon)) all.push_back(s);
        if (i == 99) CHECK(all.empty());  // 100 files is not more than 100
        if (i == 100) REQUIRE(all.size() == 1);
    }
    REQUIRE(all.size() == 1);
    CHECK(all[0].kind == LeakDetector::Signal::Kind::BulkRead);
    CHECK(all[0].files == 101);
    REQUIRE(all[0].sample_paths.size() == LeakDetector::kSamplePaths);
    CHECK(all[0].sample_paths.back() == file(100));
    // After the quiet window the pair counts afresh and may alert again.
    const std::int64_t later = 30 * kSec + 61 * kSec;
    std::size_t again = 0;
    for (int i = 0; i < 101; ++i) again += d.observe(1001, "transactions", file(1000 + i), rule, later, kNoon).size();
    CHECK(again == 1);
}

TEST_CASE("bulk_read counts per user and per label, within a sliding window", "[unit][leak]") {
    LeakDetector d;
    const AlertRule rule = bulk(10, 60);
    std::size_t alerts = 0;
    // Two users and two labels, 10 files each: nobody crosses.
    for (int i = 0; i < 10; ++i) {
        alerts += d.observe(1001, "transactions", file(i), rule, 0, kNoon).size();
        alerts += d.observe(1002, "transactions", file(i), rule, 0, kNoon).size();
        alerts += d.observe(1001, "contacts", file(i), rule, 0, kNoon).size();
        alerts += d.observe(std::nullopt, "contacts", file(i), rule, 0, kNoon).size();
    }
    CHECK(alerts == 0);
    CHECK(d.pairs() == 4);
    // Re-reading the same files adds nothing.
    for (int i = 0; i < 10; ++i) alerts += d.observe(1001, "transactions", file(i), rule, kSec, kNoon).size();
    CHECK(alerts == 0);
    // 61 s later the first ten have left the window: ten new ones still do not cross.
    for (int i = 10; i < 20; ++i) alerts += d.observe(1001, "transactions", file(i), rule, 61 * kSec, kNoon).size();
    CHECK(alerts == 0);
    // One more within the window does.
    alerts += d.observe(1001, "transactions", file(20), rule, 62 * kSec, kNoon).size();
    CHECK(alerts == 1);
}

TEST_CASE("reads outside hours alert once an hour per user and label", "[unit][leak]") {
    LeakDetector d;
    AlertRule rule;
    rule.hours = vigil::parse_hours("07:00-20:00").value();
    CHECK(d.observe(1001, "transactions", file(1), rule, 0, kNoon).empty());  // inside: nothing, nothing kept
    CHECK(d.pairs() == 0);
    const int three_am = 3 * 60;
    auto first = d.observe(1001, "transactions", file(1), rule, 0, three_am);
    REQUIRE(first.size() == 1);
    CHECK(first[0].kind == LeakDetector::Signal::Kind::Hours);
    for (int i = 2; i < 50; ++i) CHECK(d.observe(1001, "transactions", file(i), rule, i * kSec, three_am).empty());
    CHECK(d.observe(1002, "transactions", file(1), rule, kSec, three_am).size() == 1);  // another user
    CHECK(d.observe(1001, "contacts", file(1), rule, kSec, three_am).size() == 1);      // another label
    CHECK(d.observe(1001, "transactions", file(1), rule, LeakDetector::kHoursQuietNs, three_am).size() == 1);
    CHECK(d.observe(1001, "transactions", file(1), rule, 2 * LeakDetector::kHoursQuietNs, -1).empty());  // no clock
}

TEST_CASE("leak state stays bounded under many users and files", "[unit][leak]") {
    LeakDetector d(LeakDetector::Limits{64, 1000});
    const AlertRule rule = bulk(100'000, 3600);
    for (int uid = 0; uid < 500; ++uid)
        for (int i = 0; i < 50; ++i) (void)d.observe(uid, "transactions", file(i), rule, uid, kNoon);
    CHECK(d.pairs() <= 64);
    CHECK(d.tracked_files() <= 1000);
    // One pair alone past the file bound trims its own oldest files.
    LeakDetector one(LeakDetector::Limits{64, 100});
    for (int i = 0; i < 5000; ++i) (void)one.observe(7, "transactions", file(i), rule, i, kNoon);
    CHECK(one.tracked_files() <= 100);
}
