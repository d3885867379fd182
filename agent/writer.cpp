#include "agent/writer.h"

#include <nlohmann/json.hpp>
#include <string>

#include "agent/log.h"
#include "agent/thread_priority.h"
#include "common/baseline_store.h"
#include "common/event_chain.h"
#include "common/event_prune.h"
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
            prune_if_due(chain.value(), now);  // an idle agent prunes too
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
        prune_if_due(chain.value(), now);
    }
}

void Writer::prune_if_due(EventChain& chain, std::int64_t now_ns) {
    const std::uint32_t days = retention_days_.load();
    if (days == 0 || now_ns < next_prune_ns_) return;
    constexpr std::int64_t kHourNs = 3600LL * 1'000'000'000;
    // Small transactions: the write lock is held briefly, and the queue keeps draining
    // between chunks (the next chunk follows the next batch).
    constexpr std::int64_t kRowsPerChunk = 50'000;
    const std::int64_t cutoff = now_ns - std::int64_t{days} * 24 * kHourNs;
    auto prune = [&]() -> Result<std::optional<PrunePlan>> {
        auto txn = db::WriteTxn::begin(db_);
        if (!txn) return txn.error();
        VIGIL_TRY(chain.reload_tail());
        auto plan = plan_prune(db_, cutoff, kRowsPerChunk);
        if (!plan) return plan.error();
        if (!plan->has_value()) return plan;
        Event e;
        e.time_ns = realtime_now_ns();
        e.source = Source::Scan;
        e.actor = self_actor();
        auto id = apply_prune(db_, plan->value(), &chain, e, "{}");
        if (!id) return id.error();
        VIGIL_TRY(txn->commit());
        return plan;
    };
    auto done = prune();
    if (!done) {
        log_error("retention: cannot prune events older than " + std::to_string(days) +
                  " days, trying again in an hour: " + done.error().message());
        next_prune_ns_ = now_ns + kHourNs;
        return;
    }
    if (done->has_value()) {
        const PrunePlan& p = done->value();
        written_ += 1;
        log_info("retention: removed " + std::to_string(p.rows) + " events dated " + format_rfc3339_ns(p.oldest_ns) +
                 " to " + format_rfc3339_ns(p.newest_ns) + " (older than " + std::to_string(days) +
                 " days), recorded in the sealed log");
        next_prune_ns_ = now_ns;  // more may be due: next chunk after the next batch
        return;
    }
    next_prune_ns_ = now_ns + 24 * kHourNs;
}

}  // namespace vigil::agent
