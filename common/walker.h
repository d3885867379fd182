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
#include <string>
#include <vector>

#include "common/file_record.h"
#include "common/policy.h"
#include "common/result.h"

namespace vigil {

struct WalkOptions {
    unsigned threads = 0;  // 0: one per core
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
