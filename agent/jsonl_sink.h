// The JSON-lines file of the agent's output (policy "output.jsonl"; docs/log-pipeline.md):
// whole lines appended with one write() per chunk, O_APPEND|O_NOFOLLOW, created 0600 in
// a directory created 0700 if missing. Size-based rotation happens only between lines:
// PATH -> PATH.1 -> … -> PATH.keep (the oldest is dropped), then a fresh PATH.
//
// A line is never split: a short write (disk full) is cut back off the file before the
// error is returned, and a torn last line left by a crash is cut off when the file is
// opened. Thread: the writer thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/policy.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace vigil::agent {

class JsonlSink {
public:
    static Result<std::unique_ptr<JsonlSink>> open(const JsonlOutput& config);

    // Appends `lines` (whole lines, each ending in '\n'), rotating between them so no file
    // grows past the size limit (a single longer line gets a file of its own). What was
    // written is removed from the front of `lines`, also when an error is returned: the
    // caller retries exactly the rest.
    Result<void> append(std::string_view& lines);

    // The "id" of the last line of the file (or of PATH.1 when the file is empty): where
    // the output resumes after a restart, so nothing is written twice or left out.
    std::optional<std::int64_t> last_id() const;
    const std::string& path() const { return config_.path; }
    std::uint64_t rotations() const { return rotations_; }

private:
    explicit JsonlSink(JsonlOutput config) : config_(std::move(config)) {}
    Result<void> open_file();
    Result<void> rotate();

    JsonlOutput config_;
    UniqueFd fd_;
    std::uint64_t rotations_ = 0;
};

}  // namespace vigil::agent
