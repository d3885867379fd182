#include "agent/writer.h"

#include <nlohmann/json.hpp>
#include <string>

#include "agent/log.h"
#include "agent/thread_priority.h"
#include "common/baseline_store.h"
#include "common/event_chain.h"
#include "common/time_format.h"

namespace vigil::agent {
namespace {

// A row observed long before its epoch began (a big file's hash took minutes) would look
// backdated to `vigil verify`: it gets the epoch's earliest time and keeps what was observed.
Event redated(const Event& e, std::int64_t time_ns) {
    Event out = e;
    nlohmann::json detail = e.detail ? nlohmann::json::parse(*e.detail, nullptr, false) : nlohmann::json::object();
    if (!detail.is_object()) detail = nlohmann::json{{"original_detail", *e.detail}};
    detail["observed_time"] = format_rfc3339_ns(e.time_ns);
    out.detail = detail.dump();
    out.time_ns = time_ns;
    return out;
}

}  // namespace

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

void Writer::configure_outputs(const OutputConfig& config) {
    const std::scoped_lock lock(outputs_mu_);
    pending_outputs_ = config;
}

void Writer::apply_output_config(std::int64_t tail) {
    std::optional<OutputConfig> config;
    {
        const std::scoped_lock lock(outputs_mu_);
        config.swap(pending_outputs_);
    }
    if (config) outputs_ = EventOutputs::create(*config, db_, tail, outputs_.get(), output_counters_);
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
    // Outputs see only what is committed; the chain's own tail runs ahead in a failed batch.
    std::int64_t committed_tail = chain->tail().seq;
    for (;;) {
        if (batch.size() < 1024) queue_.pop_batch(batch, 1024 - batch.size(), std::chrono::milliseconds(10));
        apply_output_config(committed_tail);
        if (outputs_) outputs_->emit(committed_tail);  // retries and catch-up
        const std::int64_t now = realtime_now_ns();
        if (batch.empty() && !sealer_->due(now)) {
            if (queue_.closed_and_empty()) {
                if (outputs_) outputs_->finish(committed_tail, std::chrono::seconds(2));
                // The last row (agent_stop) goes to the log too: a cut after a clean stop
                // is then provable against it.
                sealer_->announce_tail(chain->tail());
                return;
            }
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
                if (e.time_ns < sealer_->earliest_time_ns()) {
                    if (auto r = chain->append(redated(e, sealer_->earliest_time_ns()), "{}"); !r) return r.error();
                } else if (auto r = chain->append(e, "{}"); !r) {
                    return r.error();
                }
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
        committed_tail = chain->tail().seq;
        if (outputs_) outputs_->emit(committed_tail);
        written_ += batch.size();
        batch.clear();
        backoff_ms = 10;
    }
}

}  // namespace vigil::agent
