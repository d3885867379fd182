#include "agent/writer.h"

#include <string>

#include "agent/log.h"
#include "common/baseline_store.h"

namespace vigil::agent {

Writer::Writer(db::Database db, BoundedQueue<Event>& queue) : db_(std::move(db)), queue_(queue) {}

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
    auto appender = EventAppender::prepare(db_);
    if (!appender) {
        // Cannot happen with a migrated schema; if it does, say so loudly and keep the
        // queue draining so the agent is never blocked forever.
        log_error("cannot prepare the event insert, events are being lost: " + appender.error().message());
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
        if (batch.empty()) {
            if (queue_.closed_and_empty()) return;
            continue;
        }
        auto commit = [&]() -> Result<void> {
            auto txn = db::WriteTxn::begin(db_);
            if (!txn) return txn.error();
            for (const auto& e : batch) {
                if (auto r = appender->append(e); !r) return r.error();
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
        written_ += batch.size();
        batch.clear();
        backoff_ms = 10;
    }
}

}  // namespace vigil::agent
