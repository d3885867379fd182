#include "agent/background_hasher.h"

#include <chrono>
#include <thread>

#include "agent/thread_priority.h"

namespace vigil::agent {

Result<FdDigest> hash_fd_settled(int fd, std::string_view what, const std::atomic<bool>* cancel) {
    auto digest = hash_fd(fd, what, nullptr, cancel);
    for (int retry = 0; retry < 3 && !digest && digest.error().code == HashErrc::changed_while_hashing; ++retry)
        digest = hash_fd(fd, what, nullptr, cancel);
    return digest;
}

BackgroundHasher::BackgroundHasher(Done done, int test_only_stall_ms)
    : done_(std::move(done)), test_only_stall_ms_(test_only_stall_ms) {}

BackgroundHasher::~BackgroundHasher() { stop(); }

void BackgroundHasher::start() {
    thread_ = std::thread([this] { run(); });
}

bool BackgroundHasher::submit(Job job) {
    {
        const std::scoped_lock lock(mu_);
        if (stopping_) return false;
        for (auto& waiting : jobs_) {
            if (waiting.event.path != job.event.path) continue;
            job.superseded = waiting.superseded + 1;
            waiting = std::move(job);  // keeps its place in line: a busy file cannot starve the rest
            return true;
        }
        if (jobs_.size() >= kMaxPending) return false;
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
}

std::size_t BackgroundHasher::stop() {
    std::size_t abandoned = 0;
    {
        const std::scoped_lock lock(mu_);
        stopping_ = true;
        abandoned = jobs_.size() + (hashing_ ? 1 : 0);
        jobs_.clear();
    }
    cancel_ = true;
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return abandoned;
}

std::size_t BackgroundHasher::pending() const {
    const std::scoped_lock lock(mu_);
    return jobs_.size();
}

void BackgroundHasher::run() {
    lower_this_thread_priority("background hasher", 19);
    make_this_thread_io_idle("background hasher");
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
            hashing_ = true;
        }
        if (test_only_stall_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(test_only_stall_ms_));
        auto digest = hash_fd_settled(job.fd.get(), job.event.path.value_or(""), &cancel_);
        {
            const std::scoped_lock lock(mu_);
            hashing_ = false;
        }
        if (digest || digest.error().code != make_error_code(HashErrc::cancelled))
            done_(std::move(job), std::move(digest));
    }
}

}  // namespace vigil::agent
