// Hashing of files too large to hash inline (policy limits.inline_hash_mb): a thread at the
// lowest CPU and the idle I/O priority, so a 1 TB sparse file or a busy growing log never
// stalls the hasher that serves every other write. The write's row is recorded at once
// (marked hash_pending); this thread's result becomes a second row carrying the hash.
//
// Bounded: at most kMaxPending files wait (each holds its open fd, opened safely by the
// watcher); a newer write to a file already waiting replaces the older job (its hash would
// be stale anyway) and is counted. Stopping cancels the current hash mid-file.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/event.h"
#include "common/result.h"
#include "common/sha256.h"
#include "common/unique_fd.h"

namespace vigil::agent {

// hash_fd, read again up to three times when the file changed while it was read: a
// rename, chmod or link changes only its ctime, and no write event follows to hash it
// again. A real write meanwhile brings its own event. For both of the agent's hashers.
Result<FdDigest> hash_fd_settled(int fd, std::string_view what, const std::atomic<bool>* cancel = nullptr);

class BackgroundHasher {
public:
    static constexpr std::size_t kMaxPending = 256;

    struct Job {
        Event event;  // the write's row as recorded; the template of the result row
        UniqueFd fd;
        std::int64_t queued_ns = 0;
        std::uint64_t superseded = 0;  // earlier jobs for the same path this one replaced
    };
    // Called on the hasher's thread with each finished job and its digest (or why not).
    using Done = std::function<void(Job&&, Result<FdDigest>&&)>;

    // `test_only_stall_ms`: waits that long before each hash (tests: a file renamed meanwhile).
    explicit BackgroundHasher(Done done, int test_only_stall_ms = 0);
    ~BackgroundHasher();  // stop()s
    BackgroundHasher(const BackgroundHasher&) = delete;
    BackgroundHasher& operator=(const BackgroundHasher&) = delete;

    void start();
    // False when kMaxPending jobs already wait: the caller records that the hash is skipped.
    bool submit(Job job);
    // Cancels the hash in progress, drops what waits; returns how many jobs were abandoned.
    std::size_t stop();
    std::size_t pending() const;

private:
    void run();
    Done done_;
    int test_only_stall_ms_ = 0;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    bool hashing_ = false;  // a job is being hashed (not in jobs_)
    std::atomic<bool> cancel_{false};
    std::thread thread_;
};

}  // namespace vigil::agent
