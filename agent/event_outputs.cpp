#include "agent/event_outputs.h"

#include <unistd.h>

#include <algorithm>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

#include "agent/log.h"
#include "common/baseline_store.h"
#include "common/escape.h"
#include "common/event_query.h"

namespace vigil::agent {
namespace {

constexpr std::int64_t kRowsPerCall = 4096;
// A file further behind the database than this at start (its output was off for a
// while) starts at the tail instead of replaying history into the pipeline.
constexpr std::int64_t kMaxResumeRows = 100'000;
constexpr auto kMaxBackoff = std::chrono::seconds(30);

}  // namespace

nlohmann::json OutputCounters::to_json() const {
    nlohmann::json j = nlohmann::json::object();
    j["jsonl"] = jsonl_enabled.load() ? nlohmann::json{{"lines", jsonl_lines.load()},
                                                       {"behind", jsonl_behind.load()},
                                                       {"failures", jsonl_failures.load()},
                                                       {"rotations", jsonl_rotations.load()}}
                                      : nlohmann::json();
    j["syslog"] = syslog_enabled.load() ? nlohmann::json{{"sent", syslog_sent.load()},
                                                         {"dropped", syslog_dropped.load()},
                                                         {"behind", syslog_behind.load()},
                                                         {"filtered", syslog_filtered.load()}}
                                        : nlohmann::json();
    return j;
}

void FailureLog::failed(const std::string& why) {
    const auto now = std::chrono::steady_clock::now();
    ++unreported_;
    failing_ = true;
    // A flapping output (a receiver that drains in bursts) says so once a minute, not per flap.
    if (last_logged_ != std::chrono::steady_clock::time_point{} && now - last_logged_ < std::chrono::minutes(1)) return;
    log_error(
        what_ + " failing: " + why +
        (unreported_ > 1 ? " (" + std::to_string(unreported_) + " failures since the last report)" : std::string()) +
        "; the database keeps every event");
    unreported_ = 0;
    last_logged_ = now;
    announced_ = true;
}

void FailureLog::recovered() {
    if (!failing_) return;
    failing_ = false;
    if (!announced_) return;  // its failure was not reported either
    log_info(what_ + " works again");
    announced_ = false;
}

std::unique_ptr<EventOutputs> EventOutputs::create(const OutputConfig& config, db::Database& db, std::int64_t tail,
                                                   const EventOutputs* previous, OutputCounters& counters) {
    std::unique_ptr<EventOutputs> out(new EventOutputs(counters));
    counters.jsonl_enabled = config.jsonl.has_value();
    counters.syslog_enabled = config.syslog.has_value();
    counters.jsonl_behind = 0;
    if (!config.jsonl && !config.syslog) return out;
    auto st = db.prepare(std::string("SELECT ") + kEventColumns +
                         " FROM events e WHERE e.id > :from AND e.id <= :to ORDER BY e.id LIMIT " +
                         std::to_string(kRowsPerCall));
    if (!st) {
        log_error("outputs disabled: cannot prepare reading events back: " + st.error().message());
        return out;
    }
    out->select_ = std::move(st.value());

    if (config.syslog) {
        out->syslog_ = std::make_unique<SyslogSink>(*config.syslog);
        out->syslog_cursor_ = previous && previous->syslog_ ? previous->syslog_cursor_ : tail;
        out->identity_.facility = config.syslog->facility;
        out->identity_.hostname = host_name().value_or("");
        out->identity_.procid = ::getpid();
    }
    if (config.jsonl) {
        out->jsonl_config_ = config.jsonl;
        auto sink = JsonlSink::open(*config.jsonl);
        if (sink) {
            out->jsonl_ = std::move(sink.value());
        } else {
            out->jsonl_log_.failed(sink.error().message());
            out->jsonl_retry_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        }
        if (previous && previous->jsonl_config_ && previous->jsonl_config_->path == config.jsonl->path) {
            out->jsonl_cursor_ = previous->jsonl_cursor_;  // SIGHUP: same file, reopened
        } else {
            out->jsonl_cursor_ = tail;
            const auto last = out->jsonl_ ? out->jsonl_->last_id() : std::nullopt;
            if (last && *last <= tail && tail - *last <= kMaxResumeRows) {
                out->jsonl_cursor_ = *last;  // restart: after the file's last line
            } else if (last && *last > tail) {
                log_warning("JSON-lines output " + escape_bytes(config.jsonl->path) + " ends at id " +
                            std::to_string(*last) + ", past this database's last row " + std::to_string(tail) +
                            " (another database's file?): appending from the database's tail");
            }
        }
        counters.jsonl_behind = tail - out->jsonl_cursor_;
    }
    return out;
}

void EventOutputs::emit(std::int64_t tail) {
    if (!select_) return;
    const auto now = std::chrono::steady_clock::now();
    bool to_file = jsonl_config_ && jsonl_cursor_ < tail && now >= jsonl_retry_at_;
    if (syslog_ && tail - syslog_cursor_ > syslog_->config().max_backlog) {
        const std::int64_t skip = tail - syslog_->config().max_backlog - syslog_cursor_;
        counters_.syslog_dropped += static_cast<std::uint64_t>(skip);
        syslog_cursor_ += skip;
        syslog_log_.failed("the receiver is more than " + std::to_string(syslog_->config().max_backlog) +
                           " events behind: the oldest " + std::to_string(skip) + " were dropped (" +
                           std::to_string(counters_.syslog_dropped.load()) + " so far)");
    }
    const bool to_syslog = syslog_ && syslog_cursor_ < tail && now >= syslog_retry_at_;
    if (to_file && !jsonl_) {
        auto sink = JsonlSink::open(*jsonl_config_);
        if (sink) {
            jsonl_ = std::move(sink.value());
        } else {
            ++counters_.jsonl_failures;
            jsonl_log_.failed(sink.error().message());
            jsonl_backoff_ =
                std::clamp(jsonl_backoff_ * 2, std::chrono::milliseconds(1000), std::chrono::milliseconds(kMaxBackoff));
            jsonl_retry_at_ = now + jsonl_backoff_;
            to_file = false;
        }
    }
    if (to_file || to_syslog) {
        if (auto r = emit_rows(tail, to_file, to_syslog); !r) {
            read_log_.failed(r.error().message());
        } else {
            read_log_.recovered();
        }
    }
    if (jsonl_config_) counters_.jsonl_behind = tail - jsonl_cursor_;
    if (syslog_) counters_.syslog_behind = tail - syslog_cursor_;
}

bool EventOutputs::send_syslog(const EventView& v) {
    if (effective_severity(v) < syslog_->config().min_severity) {
        ++counters_.syslog_filtered;
        syslog_cursor_ = v.id;
        return true;
    }
    scratch_ = format_rfc5424(v, identity_, syslog_->config().max_bytes);
    auto r = syslog_->send(scratch_);
    if (r) {
        ++counters_.syslog_sent;
        syslog_cursor_ = v.id;
        syslog_log_.recovered();
        return true;
    }
    const auto& code = r.error().code;
    if (code == std::errc::resource_unavailable_try_again || code == std::errc::no_buffer_space) {
        // The receiver's queue is full: the next round (within 10 ms) sends it again.
        return false;
    }
    // No receiver (not started, restarting): try again in a second, the rows wait.
    syslog_retry_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    syslog_log_.failed(r.error().message() + " (" + std::to_string(counters_.syslog_behind.load() + 1) +
                       " events waiting, at most " + std::to_string(syslog_->config().max_backlog) + ")");
    return false;
}

void EventOutputs::finish(std::int64_t tail, std::chrono::milliseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    for (;;) {
        emit(tail);
        const bool behind = (syslog_ && syslog_cursor_ < tail) || (jsonl_config_ && jsonl_cursor_ < tail);
        if (!behind) return;
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (syslog_ && syslog_cursor_ < tail)
        log_warning("stopping with " + std::to_string(tail - syslog_cursor_) +
                    " events not taken by the syslog receiver; they are in the database only");
    if (jsonl_config_ && jsonl_cursor_ < tail)
        log_warning("stopping with " + std::to_string(tail - jsonl_cursor_) +
                    " events not yet in the JSON-lines file; the next start writes them");
}

Result<void> EventOutputs::emit_rows(std::int64_t tail, bool to_file, bool to_syslog) {
    constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::max();
    const std::int64_t from = std::min(to_file ? jsonl_cursor_ : kNone, to_syslog ? syslog_cursor_ : kNone);
    db::Stmt& st = *select_;
    st.reset();
    VIGIL_TRY(st.bind_int(":from", from));
    VIGIL_TRY(st.bind_int(":to", tail));
    std::string lines;
    std::vector<std::pair<std::size_t, std::int64_t>> line_ends;  // end offset in `lines`, id
    std::int64_t last = tail;  // every row up to the tail read, unless the limit stopped us
    std::int64_t rows = 0;
    bool syslog_waits = false;  // the socket took no more this round
    for (;;) {
        auto row = st.step();
        if (!row) {
            st.reset();
            return row.error();
        }
        if (!row.value()) break;
        const EventView v = event_row(st);
        ++rows;
        if (rows == kRowsPerCall) last = v.id;
        if (to_file && v.id > jsonl_cursor_) {
            jsonl_format_->row(lines, v);
            line_ends.emplace_back(lines.size(), v.id);
        }
        if (to_syslog && !syslog_waits && v.id > syslog_cursor_) syslog_waits = !send_syslog(v);
        if (syslog_waits && !to_file) break;
    }
    st.reset();
    if (to_syslog && !syslog_waits) syslog_cursor_ = std::max(syslog_cursor_, last);
    if (!to_file) return {};
    if (line_ends.empty()) {
        jsonl_cursor_ = std::max(jsonl_cursor_, last);  // rows pruned meanwhile: nothing to write
        return {};
    }
    std::string_view rest = lines;
    const std::uint64_t rotations_before = jsonl_->rotations();
    auto r = jsonl_->append(rest);
    counters_.jsonl_rotations += jsonl_->rotations() - rotations_before;
    const std::size_t written = lines.size() - rest.size();
    std::uint64_t written_lines = 0;
    for (const auto& [end, id] : line_ends) {
        if (end > written) break;
        jsonl_cursor_ = id;
        ++written_lines;
    }
    counters_.jsonl_lines += written_lines;
    if (rows < kRowsPerCall) jsonl_cursor_ = r ? std::max(jsonl_cursor_, last) : jsonl_cursor_;
    if (!r) {
        ++counters_.jsonl_failures;
        jsonl_log_.failed(r.error().message() + " (" + std::to_string(tail - jsonl_cursor_) +
                          " events waiting; retried with backoff)");
        jsonl_backoff_ =
            std::clamp(jsonl_backoff_ * 2, std::chrono::milliseconds(1000), std::chrono::milliseconds(kMaxBackoff));
        jsonl_retry_at_ = std::chrono::steady_clock::now() + jsonl_backoff_;
    } else {
        jsonl_log_.recovered();
        jsonl_backoff_ = std::chrono::milliseconds(0);
    }
    return {};
}

}  // namespace vigil::agent
