// The agent's outputs besides the database: each committed event row as one JSON line
// (agent/jsonl_sink.h) and as one RFC 5424 datagram (agent/syslog_sink.h). See
// docs/log-pipeline.md.
//
// Rows are read back from the database after their transaction committed, so a line
// carries exactly what was stored (its id, a re-dated time, the checkpoints sealing added)
// and is byte for byte a line of `vigil query --format jsonl` (the same EventWriter).
// Each output keeps a cursor, the last id it took. The file's cursor only moves when its
// write succeeded: after a failure (disk full) it is retried with backoff and catches up
// from the database; after a restart it resumes after the id of the file's last line.
// The syslog cursor moves with each datagram the socket took: a receiver that does not
// keep up (the kernel queues only net.unix.max_dgram_qlen datagrams, 10 by default) or
// is gone makes the output wait and resend from the database, up to max_backlog events
// behind; past that the oldest are skipped and counted as dropped. Failures are loud in
// the log (rate limited), in the status file and `vigil status`.
//
// Thread: the writer thread (emit); counters are read by the main thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "agent/jsonl_sink.h"
#include "agent/syslog_sink.h"
#include "common/db/sqlite.h"
#include "common/event_format.h"
#include "common/policy.h"
#include "common/rfc5424.h"

namespace vigil::agent {

// Totals since the agent started, across reloads.
struct OutputCounters {
    std::atomic<bool> jsonl_enabled{false};
    std::atomic<std::uint64_t> jsonl_lines{0};
    std::atomic<std::uint64_t> jsonl_failures{0};
    std::atomic<std::uint64_t> jsonl_rotations{0};
    std::atomic<std::int64_t> jsonl_behind{0};  // rows committed but not yet in the file
    std::atomic<bool> syslog_enabled{false};
    std::atomic<std::uint64_t> syslog_sent{0};
    std::atomic<std::uint64_t> syslog_dropped{0};
    std::atomic<std::int64_t> syslog_behind{0};
    std::atomic<std::uint64_t> syslog_filtered{0};  // below min_severity

    nlohmann::json to_json() const;
};

// Says a failure at once, then at most once a minute with how often it recurred since,
// and "works again" after a failure it reported.
class FailureLog {
public:
    explicit FailureLog(std::string what) : what_(std::move(what)) {}
    void failed(const std::string& why);
    void recovered();

private:
    std::string what_;
    bool failing_ = false;
    bool announced_ = false;  // the current failure was logged
    std::uint64_t unreported_ = 0;
    std::chrono::steady_clock::time_point last_logged_{};
};

class EventOutputs {
public:
    // `tail`: the last id in the database now. `previous`: the outputs this replaces
    // (SIGHUP), whose cursors carry over where the same file or socket stays configured.
    static std::unique_ptr<EventOutputs> create(const OutputConfig& config, db::Database& db, std::int64_t tail,
                                                const EventOutputs* previous, OutputCounters& counters);

    // Sends what the database holds up to `tail` and an output has not taken yet (at
    // most a few thousand rows a call: a long catch-up never stalls the writer). Cheap
    // when there is nothing to do: the writer calls it after every commit and when idle.
    void emit(std::int64_t tail);
    // At a clean stop: gives outputs that are behind up to `budget` to take the rest, then
    // says what is left (the file resumes at the next start; syslog does not).
    void finish(std::int64_t tail, std::chrono::milliseconds budget);

private:
    explicit EventOutputs(OutputCounters& counters) : counters_(counters) {}
    Result<void> emit_rows(std::int64_t tail, bool to_file, bool to_syslog);
    bool send_syslog(const EventView& v);  // false: not taken, try again later

    OutputCounters& counters_;
    std::optional<db::Stmt> select_;  // on the writer's connection, which outlives us
    std::unique_ptr<EventWriter> jsonl_format_ = make_event_writer("jsonl", 0, false, "");

    std::unique_ptr<JsonlSink> jsonl_;
    std::optional<JsonlOutput> jsonl_config_;  // configured, though the file may not be open
    std::int64_t jsonl_cursor_ = 0;
    std::chrono::steady_clock::time_point jsonl_retry_at_{};
    std::chrono::milliseconds jsonl_backoff_{0};
    FailureLog jsonl_log_{"JSON-lines output"};

    std::unique_ptr<SyslogSink> syslog_;
    std::int64_t syslog_cursor_ = 0;
    std::chrono::steady_clock::time_point syslog_retry_at_{};
    SyslogIdentity identity_;
    FailureLog syslog_log_{"syslog output"};
    FailureLog read_log_{"reading committed events back for the outputs"};
    std::string scratch_;
};

}  // namespace vigil::agent
