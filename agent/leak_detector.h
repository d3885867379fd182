// LeakDetector: the stateful half of a rule's "alert" (docs/policy.md): per (user, label)
// it counts the distinct files read within the bulk_read window, and notices reads at a
// local hour outside the "hours" window. It says when to raise an alert; the caller
// (agent/event_judge.h) makes the `alert` event.
//
// Who counts as "one user": the event's real uid (an unattributed read counts under the
// unknown user, so a bulk read nobody could attribute is still noticed). A file counts
// once per window from its first read; after a bulk_read alert the (user, label) pair is
// quiet for one window and starts counting afresh; an hours alert is raised at most once
// an hour per pair. Time here is CLOCK_BOOTTIME (monotonic), so a wall-clock step neither
// fires nor silences an alert; only the hour of day comes from the wall clock.
//
// Memory is bounded: a pair tracks at most files+1 path hashes (the threshold is at most
// 100,000), at most 4096 pairs and 262,144 hashes in all are kept; past either, the least
// recently active pair is forgotten (so it may alert again sooner). Thread: main only.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/expectation.h"

namespace vigil::agent {

class LeakDetector {
public:
    struct Limits {
        std::size_t max_pairs = 4096;
        std::size_t max_tracked_files = 262'144;
    };
    LeakDetector() : LeakDetector(Limits{}) {}
    explicit LeakDetector(Limits limits) : limits_(limits) {}

    struct Signal {
        enum class Kind : std::uint8_t { BulkRead, Hours };
        Kind kind = Kind::BulkRead;
        std::uint32_t files = 0;                // BulkRead: distinct files in the window
        std::vector<std::string> sample_paths;  // BulkRead: the latest few of them
    };

    static constexpr std::size_t kSamplePaths = 5;
    static constexpr std::int64_t kHoursQuietNs = 3600LL * 1'000'000'000;

    // One read of `path` (a file under a rule with `alert`), by `uid` (nullopt: unknown),
    // in `scope` (the label, or the rule path when it has none). `mono_ns`: CLOCK_BOOTTIME
    // now; `local_minute`: minutes since local midnight of the read.
    std::vector<Signal> observe(std::optional<std::int64_t> uid, const std::string& scope, std::string_view path,
                                const AlertRule& rule, std::int64_t mono_ns, int local_minute);

    std::size_t pairs() const { return pairs_.size(); }
    std::size_t tracked_files() const { return tracked_files_; }

private:
    using Key = std::pair<std::int64_t, std::string>;  // uid (-1: unknown), scope
    struct State {
        std::deque<std::pair<std::int64_t, std::uint64_t>> order;  // (first read, path hash), oldest first
        std::unordered_set<std::uint64_t> seen;
        std::deque<std::string> samples;
        std::int64_t bulk_quiet_until = INT64_MIN;
        std::int64_t hours_quiet_until = INT64_MIN;
        std::list<Key>::iterator lru;
    };
    void forget_files(State& s);
    void evict_beyond_limits(const Key& keep);

    Limits limits_;
    std::map<Key, State> pairs_;
    std::list<Key> lru_;  // least recently active first
    std::size_t tracked_files_ = 0;
};

}  // namespace vigil::agent
