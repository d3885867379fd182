// The parallel walker: turns a policy into FileRecords of everything it covers.
//
// Owns: its worker threads and every directory fd it opens (closed before walk_policy
// returns). Safety: every open is openat() relative to a directory fd with O_NOFOLLOW, so
// a symlink is recorded as a link and never followed; FIFOs, sockets and devices are
// never opened; excludes are applied before a directory is opened, and a directory on
// another filesystem is recorded but not entered unless the rule says one_filesystem:false.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/file_record.h"
#include "common/policy.h"
#include "common/result.h"

namespace vigil {

// Receives records in batches as the walk finds them: from the worker threads, one call
// at a time, in no particular order. The batch may be moved from.
using WalkSink = std::function<void(std::vector<FileRecord>& batch)>;

struct WalkOptions {
    unsigned threads = 0;  // 0: one per core
    // When set, records go here instead of into WalkResult::records (which stays empty):
    // a caller that keeps only part of each record (the agent's rescan: path and hash)
    // never holds the whole tree's records at once.
    WalkSink sink = nullptr;
};

// Live counters, readable from another thread (the progress line).
struct WalkProgress {
    std::atomic<std::uint64_t> entries{0};
    std::atomic<std::uint64_t> files_hashed{0};
    std::atomic<std::uint64_t> bytes_hashed{0};
    std::atomic<std::uint64_t> errors{0};
};

struct WalkResult {
    std::vector<FileRecord> records;    // sorted by path, one per path
    std::vector<std::string> warnings;  // already escaped, for stderr and reports
};

WalkResult walk_policy(const Policy& policy, const WalkOptions& options, WalkProgress* progress = nullptr);

// Concrete roots of a rule whose path has glob components ("/home/*/.ssh"), expanded
// without following symlinks; a plain path gives itself.
std::vector<std::string> expand_rule_roots(const std::string& rule_path);

std::string join_path(const std::string& dir, std::string_view name);

}  // namespace vigil
