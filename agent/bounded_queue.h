// A bounded MPSC queue between threads. Producers that must never wait (the kernel
// reader) use try_push and count what did not fit; the consumer takes batches. Bounded
// by a count and, when given a cost function, by the bytes its items hold: a burst of
// small events may queue deep, a few huge ones may not.
//
// A producer that needs time to complete an item (the hasher, for a write's row) reserves
// its place first: the item is filled in later from any thread, and the consumer never
// takes anything past a place not yet filled. Rows keep the order their events happened
// in even when some of them wait for work on another thread. One place may also take a
// stream of items (a rescan's findings): they are taken as they come, and what follows
// the place waits until its owner is done, without a placeholder per item.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <utility>
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

    // How far past the byte bound a streaming place that is next in line may queue its own
    // items (Slot::add). With 0 it queues one at a time there, so the consumer takes one
    // item per batch: a rescan's 200,000 findings written one per transaction. A little
    // slack lets them go in batches.
    void set_next_in_line_slack(std::size_t bytes) {
        const std::scoped_lock lock(mu_);
        next_in_line_slack_ = bytes;
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
            items_.push_back(Entry{std::move(item), State::Ready});
            bytes_ += cost;
            max_depth_ = std::max(max_depth_, items_.size());
            max_bytes_ = std::max(max_bytes_, bytes_);
        }
        cv_.notify_one();
        return true;
    }

    // A place in the queue, filled or cancelled exactly once; dropped unfilled, it is
    // cancelled, so the consumer never waits for an owner that has gone.
    class Slot {
    public:
        Slot() = default;
        Slot(Slot&& other) noexcept : queue_(std::exchange(other.queue_, nullptr)), id_(other.id_) {}
        Slot& operator=(Slot&& other) noexcept {
            if (this != &other) {
                cancel();
                queue_ = std::exchange(other.queue_, nullptr);
                id_ = other.id_;
            }
            return *this;
        }
        Slot(const Slot&) = delete;
        Slot& operator=(const Slot&) = delete;
        ~Slot() { cancel(); }

        bool reserved() const { return queue_ != nullptr; }
        // Never fails. Waits while the queue holds its byte bound, unless this place is the
        // next one the consumer takes (then nothing else could make room) or the queue is
        // closed: the bound holds, and filling in place order can never wait on itself.
        void fill(T&& item) {
            if (queue_ != nullptr) std::exchange(queue_, nullptr)->complete(id_, &item);
        }
        void cancel() {
            if (queue_ != nullptr) std::exchange(queue_, nullptr)->complete(id_, nullptr);
        }
        // Never fails; the place stays reserved. Queues an item at this place, after those
        // added before and before the one fill() puts: the consumer takes it once every
        // place before this one is done. Waits for room in the byte bound as fill() does.
        void add(T&& item) {
            if (queue_ != nullptr) queue_->add_at(id_, std::move(item));
        }

    private:
        friend class BoundedQueue;
        Slot(BoundedQueue* queue, std::uint64_t id) : queue_(queue), id_(id) {}
        BoundedQueue* queue_ = nullptr;
        std::uint64_t id_ = 0;
    };

    // Never waits. An unreserved Slot when full or closed (counted as dropped, as try_push);
    // `beyond_bounds`: only when closed (for what must not be lost and is bounded otherwise).
    [[nodiscard]] Slot reserve(bool beyond_bounds = false) {
        const std::scoped_lock lock(mu_);
        if (closed_ || (!beyond_bounds && (items_.size() >= capacity_ || bytes_ > byte_capacity_))) {
            ++dropped_;
            return {};
        }
        items_.push_back(Entry{T{}, State::Reserved});
        max_depth_ = std::max(max_depth_, items_.size());
        return Slot(this, head_id_ + items_.size() - 1);
    }

    // Waits up to `wait` for an item, then moves up to `max` items into `out`.
    // Stops at the first place reserved and not yet filled: what follows it waits.
    std::size_t pop_batch(std::vector<T>& out, std::size_t max, std::chrono::milliseconds wait) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, wait, [&] {
            return (closed_ && items_.empty()) ||
                   (!items_.empty() && (items_.front().state != State::Reserved || added_.count(head_id_) != 0));
        });
        std::size_t taken = 0;
        auto it = items_.begin();
        for (; it != items_.end() && taken < max; ++it) {
            const std::uint64_t id = head_id_ + static_cast<std::uint64_t>(it - items_.begin());
            if (!added_.empty()) {
                if (auto added = added_.find(id); added != added_.end()) {
                    std::deque<T>& stream = added->second.items;
                    for (; !stream.empty() && taken < max; stream.pop_front(), ++taken) {
                        const std::size_t cost = cost_ != nullptr ? cost_(stream.front()) : 0;
                        bytes_ -= std::min(bytes_, cost);
                        added->second.bytes -= std::min(added->second.bytes, cost);
                        out.push_back(std::move(stream.front()));
                    }
                    if (!stream.empty()) break;
                    added_.erase(added);
                    if (taken == max) break;
                }
            }
            if (it->state == State::Reserved) break;
            if (it->state == State::Cancelled) continue;
            if (cost_ != nullptr) bytes_ -= std::min(bytes_, cost_(it->item));
            out.push_back(std::move(it->item));
            ++taken;
        }
        const auto consumed = it - items_.begin();
        head_id_ += static_cast<std::uint64_t>(consumed);
        items_.erase(items_.begin(), it);
        if (consumed > 0 || taken > 0) room_cv_.notify_all();  // a filler may have room, or be next
        return taken;
    }

    void close() {
        {
            const std::scoped_lock lock(mu_);
            closed_ = true;
        }
        cv_.notify_all();
        room_cv_.notify_all();
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
    enum class State : std::uint8_t { Ready, Reserved, Cancelled };
    struct Entry {
        T item;
        State state;
    };

    void complete(std::uint64_t id, T* item) {
        bool front = false;
        {
            std::unique_lock lock(mu_);
            const std::size_t cost = item != nullptr && cost_ != nullptr ? cost_(*item) : 0;
            if (cost > 0)
                room_cv_.wait(lock, [&] { return closed_ || id == head_id_ || bytes_ + cost <= byte_capacity_; });
            Entry& entry = items_[static_cast<std::size_t>(id - head_id_)];
            if (item != nullptr) {
                entry.item = std::move(*item);
                entry.state = State::Ready;
                bytes_ += cost;
                max_bytes_ = std::max(max_bytes_, bytes_);
            } else {
                entry.state = State::Cancelled;
            }
            front = id == head_id_;
        }
        if (front) cv_.notify_one();
    }

    void add_at(std::uint64_t id, T&& item) {
        bool front = false;
        {
            std::unique_lock lock(mu_);
            const std::size_t cost = cost_ != nullptr ? cost_(item) : 0;
            // Next in line, nothing else could make room: within the slack, or one item.
            room_cv_.wait(lock, [&] {
                if (closed_ || bytes_ + cost <= byte_capacity_) return true;
                if (id != head_id_) return false;
                const auto own = added_.find(id);
                const std::size_t queued = own == added_.end() ? 0 : own->second.bytes;
                return queued == 0 || queued + cost <= next_in_line_slack_;
            });
            Added& own = added_[id];
            own.items.push_back(std::move(item));
            own.bytes += cost;
            bytes_ += cost;
            max_bytes_ = std::max(max_bytes_, bytes_);
            front = id == head_id_;
        }
        if (front) cv_.notify_one();
    }

    mutable std::mutex mu_;
    std::condition_variable cv_;       // the consumer waits for an item
    std::condition_variable room_cv_;  // fillers of reserved places wait for room
    std::deque<Entry> items_;
    struct Added {
        std::deque<T> items;
        std::size_t bytes = 0;
    };
    std::map<std::uint64_t, Added> added_;  // Slot::add's items, by the id of their place
    std::size_t next_in_line_slack_ = 0;
    std::uint64_t head_id_ = 0;  // the id of items_.front(); ids count every place ever queued
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
