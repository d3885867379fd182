// What check, update and report share: a timed walk with its progress line, and the
// comparison of that walk with the stored baseline.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/baseline_store.h"
#include "common/check_report.h"
#include "common/diff.h"
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

// Everything check, update and report do before they differ: the policy, the database,
// the walk and its diff against the baseline. Heap-held: `diff` points into `cmp`.
struct CheckRun {
    Policy policy;
    db::Database db;
    Comparison cmp;
    DiffResult diff;
};

// On failure prints the reason and returns the exit code (17 policy, 18 database) instead.
// `probe_write_lock`: fail on a locked database before walking (update writes afterwards).
std::variant<std::unique_ptr<CheckRun>, int> run_comparison(const std::optional<std::string>& policy_path,
                                                            const std::string& db_path, db::OpenMode mode,
                                                            unsigned threads, bool probe_write_lock = false);

}  // namespace vigil::cli
