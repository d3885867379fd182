// A bounded MPSC queue between threads. Producers that must never wait (the kernel
// reader) use try_push and count what did not fit; the consumer takes batches. Bounded
// by a count and, when given a cost function, by the bytes its items hold: a burst of
// small events may queue deep, a few huge ones may not.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <mutex>
#include <vector>

namespace vigil::agent {

struct QueueStats {
    std::size_t depth = 0;
    std::size_t max_depth = 0;
    std::uint64_t dropped = 0;
    std::size_t bytes = 0;
    std::size_t max_bytes = 0;
};

template <class T>
class BoundedQueue {
public:
    using Cost = std::size_t (*)(const T&);
    explicit BoundedQueue(std::size_t capacity, Cost cost = nullptr, std::size_t byte_capacity = SIZE_MAX)
        : capacity_(capacity), cost_(cost), byte_capacity_(byte_capacity) {}

    void set_byte_capacity(std::size_t bytes) {
        const std::scoped_lock lock(mu_);
        byte_capacity_ = bytes;
    }

    // Never waits. On false the item was not queued (full or closed), is counted, and is
    // left untouched in the caller's hands: it is moved from only when it was queued.
    [[nodiscard]] bool try_push(T&& item) {
        const std::size_t cost = cost_ != nullptr ? cost_(item) : 0;
        {
            const std::scoped_lock lock(mu_);
            if (closed_ || items_.size() >= capacity_ || bytes_ + cost > byte_capacity_) {
                ++dropped_;
                return false;
            }
            items_.push_back(std::move(item));
            bytes_ += cost;
            max_depth_ = std::max(max_depth_, items_.size());
            max_bytes_ = std::max(max_bytes_, bytes_);
        }
        cv_.notify_one();
        return true;
    }

    // Waits up to `wait` for an item, then moves up to `max` items into `out`.
    std::size_t pop_batch(std::vector<T>& out, std::size_t max, std::chrono::milliseconds wait) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, wait, [&] { return closed_ || !items_.empty(); });
        const auto n = static_cast<std::ptrdiff_t>(std::min(max, items_.size()));
        if (cost_ != nullptr)
            for (auto it = items_.begin(); it != items_.begin() + n; ++it) bytes_ -= std::min(bytes_, cost_(*it));
        std::move(items_.begin(), items_.begin() + n, std::back_inserter(out));
        items_.erase(items_.begin(), items_.begin() + n);
        return static_cast<std::size_t>(n);
    }

    void close() {
        {
            const std::scoped_lock lock(mu_);
            closed_ = true;
        }
        cv_.notify_all();
    }

    // Accept items again after close() (the hasher is restarted on a policy reload).
    void reopen() {
        const std::scoped_lock lock(mu_);
        closed_ = false;
    }

    bool closed_and_empty() const {
        const std::scoped_lock lock(mu_);
        return closed_ && items_.empty();
    }

    QueueStats stats() const {
        const std::scoped_lock lock(mu_);
        return {items_.size(), max_depth_, dropped_, bytes_, max_bytes_};
    }

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<T> items_;
    std::size_t capacity_;
    Cost cost_;
    std::size_t byte_capacity_;
    std::size_t bytes_ = 0;
    std::size_t max_bytes_ = 0;
    std::size_t max_depth_ = 0;
    std::uint64_t dropped_ = 0;
    bool closed_ = false;
};

}  // namespace vigil::agent
