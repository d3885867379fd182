#include "agent/writer.h"

#include <string>

#include "agent/log.h"
#include "agent/thread_priority.h"
#include "common/baseline_store.h"
#include "common/event_chain.h"

namespace vigil::agent {

Writer::Writer(db::Database db, BoundedQueue<Event>& queue, std::unique_ptr<Sealer> sealer)
    : db_(std::move(db)), queue_(queue), sealer_(std::move(sealer)) {}

Writer::~Writer() {
    if (thread_.joinable()) {
        queue_.close();
        thread_.join();
    }
}

void Writer::start() {
    thread_ = std::thread([this] { run(); });
}

void Writer::stop() {
    queue_.close();
    if (thread_.joinable()) thread_.join();
}

void Writer::run() {
    lower_this_thread_priority("writer", kBackgroundNice);
    auto chain = EventChain::open(db_, sealer_->key());
    if (!chain) {
        // Cannot happen with a migrated schema; if it does, say so loudly and keep the
        // queue draining so the agent is never blocked forever.
        log_error("cannot prepare the event insert, events are being lost: " + chain.error().message());
        std::vector<Event> dropped;
        while (!queue_.closed_and_empty()) {
            dropped.clear();
            queue_.pop_batch(dropped, 1024, std::chrono::milliseconds(100));
        }
        return;
    }
    std::vector<Event> batch;
    int backoff_ms = 10;
    for (;;) {
        if (batch.size() < 1024) queue_.pop_batch(batch, 1024 - batch.size(), std::chrono::milliseconds(10));
        const std::int64_t now = realtime_now_ns();
        if (batch.empty() && !sealer_->due(now)) {
            if (queue_.closed_and_empty()) return;
            continue;
        }
        Sealer::BatchSeal seal;
        auto commit = [&]() -> Result<void> {
            auto txn = db::WriteTxn::begin(db_);
            if (!txn) return txn.error();
            // Another writer (`vigil update`) may have appended since our last batch.
            VIGIL_TRY(chain->reload_tail());
            auto s = sealer_->before_batch(chain.value(), now);
            if (!s) return s.error();
            seal = std::move(s.value());
            for (const auto& e : batch) {
                if (auto r = chain->append(e, "{}"); !r) return r.error();
            }
            return txn->commit();
        };
        if (auto r = commit(); !r) {
            // Keep the batch: retry until the database takes it (lock released, space back).
            log_error("cannot write " + std::to_string(batch.size()) + " events, retrying: " + r.error().message());
            std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
            backoff_ms = std::min(backoff_ms * 2, 5000);
            continue;
        }
        sealer_->committed(seal);
        written_ += batch.size();
        batch.clear();
        backoff_ms = 10;
    }
}

}  // namespace vigil::agent
