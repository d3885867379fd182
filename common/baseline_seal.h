// Sealing a baseline: each files row gets mac = HMAC(baseline key, previous mac ||
// canonical row), in path order; the baselines row gets seal_mac over its own fields,
// the epoch and the last file mac (docs/tamper-evidence.md). Rows are encoded from the
// exact values stored, so `vigil verify` rebuilds the same bytes from the columns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/baseline_store.h"
#include "common/file_record.h"
#include "common/seal.h"

namespace vigil {

// A files row as stored: what write_baseline binds, what verify reads back.
struct FileRow {
    std::string path;
    std::int64_t rule = 0, type = 0, mode = 0, uid = 0, gid = 0, size = 0, mtime_ns = 0, ctime_ns = 0;
    std::int64_t inode = 0, dev = 0, nlink = 0, rdev = 0;
    std::optional<std::string> sha256;  // 32 bytes; null: not hashed
    std::optional<std::string> target;  // symlinks only
    std::string xattrs;
    std::optional<std::string> error;  // null: complete
};

FileRow file_row_of(const FileRecord& r);
std::string canon_file(const FileRow& row);
std::string canon_baseline(const BaselineInfo& b, std::uint64_t epoch, const Mac32& last_file_mac);

// Chains the files' macs in order; the result's last mac seals the summary.
class FileChain {
public:
    static Result<FileChain> create(const SealKey& key);
    Result<Mac32> next(const FileRow& row);  // the row's mac
    const Mac32& last() const { return prev_; }
    // The baseline's own seal, over its fields (b.id, b.entries, b.errors as stored) and
    // the last file mac.
    Result<Mac32> summary(const BaselineInfo& b, std::uint64_t epoch) const {
        return mac_.mac(canon_baseline(b, epoch, prev_));
    }

private:
    explicit FileChain(Hmac mac) : mac_(std::move(mac)) {}
    Hmac mac_;
    Mac32 prev_{};
};

}  // namespace vigil
