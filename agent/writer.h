// The writer: the one thread that owns the agent's SQLite connection. It takes batches
// from the event queue and commits each batch in one transaction (by count: 1024, or by
// time: 10 ms). A batch that fails to commit (locked, disk full) is kept and retried with
// backoff; nothing accepted is dropped. Every row is sealed into the event chain
// (common/event_chain.h); the Sealer changes epochs between batches.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "agent/bounded_queue.h"
#include "agent/sealer.h"
#include "common/db/sqlite.h"
#include "common/event.h"
#include "common/event_chain.h"

namespace vigil::agent {

class Writer {
public:
    Writer(db::Database db, BoundedQueue<Event>& queue, std::unique_ptr<Sealer> sealer);
    ~Writer();  // joins; call stop() first for a clean flush
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    void start();
    void stop();  // closes the queue, writes what is left, joins
    std::uint64_t written() const { return written_.load(); }
    // Retention from the policy (0: keep everything); any thread, applied at the next prune.
    void set_retention_days(std::uint32_t days) { retention_days_ = days; }

private:
    void run();
    // Daily (and soon after start): removes whole epochs older than the retention, one
    // bounded transaction at a time, each with its sealed prune row. Never blocks events:
    // a failure is logged and tried again an hour later.
    void prune_if_due(EventChain& chain, std::int64_t now_ns);
    db::Database db_;
    BoundedQueue<Event>& queue_;
    std::unique_ptr<Sealer> sealer_;
    std::thread thread_;
    std::atomic<std::uint64_t> written_{0};
    std::atomic<std::uint32_t> retention_days_{0};
    std::int64_t next_prune_ns_ = 0;  // writer thread
};

}  // namespace vigil::agent
