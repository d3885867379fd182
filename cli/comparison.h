// What check, update and report share: a timed walk with its progress line, and the
// comparison of that walk with the stored baseline.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/baseline_store.h"
#include "common/check_report.h"
#include "common/walker.h"

namespace vigil::cli {

struct TimedWalk {
    WalkResult result;
    double seconds = 0;
    std::uint64_t files_hashed = 0;
    std::uint64_t bytes_hashed = 0;
};

// Walks the policy with a progress line on a terminal.
TimedWalk timed_walk(const Policy& policy, unsigned threads);

// Entries recorded with an error (unreadable, changed while hashed).
std::vector<const FileRecord*> unreadable(const std::vector<FileRecord>& records);

// check, update and report share everything up to the comparison.
struct Comparison {
    std::optional<BaselineInfo> baseline;
    std::vector<FileRecord> before;
    TimedWalk walk;
    std::int64_t started_ns = 0;
};

// Loads the newest baseline (while the walk runs) and walks the policy.
Result<Comparison> compare_with_baseline(db::Database& db, const Policy& policy, unsigned threads);

CheckContext context_for(const Comparison& c, const Policy& policy, const char* title, bool color);

}  // namespace vigil::cli
