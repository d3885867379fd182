// The agent: policy -> watcher marks; kernel events -> attributed, rule-labelled Events ->
// hashers (close-after-write) -> the writer. One instance per process, run from main().
//
// Threads: main (poll loop: watcher fd, signalfd; all attribution happens here, while the
// process behind an event most likely still exists), one hasher, one writer.
// Shutdown order (and why): 1) stop reading the kernel, 2) close the hash queue and join
// the hasher (its results go to the writer queue), 3) queue agent_stop, 4) stop the writer,
// which commits everything queued before it returns.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "agent/attribution.h"
#include "agent/audit_join.h"
#include "agent/audit_source.h"
#include "agent/background_hasher.h"
#include "agent/bounded_queue.h"
#include "agent/coalescer.h"
#include "agent/event_judge.h"
#include "agent/known_state.h"
#include "agent/raw_event.h"
#include "agent/sealer.h"
#include "agent/watch_source.h"
#include "agent/writer.h"
#include "common/policy.h"
#include "common/rule_match.h"
#include "common/sha256.h"
#include "common/unique_fd.h"

namespace vigil::agent {

struct AgentOptions {
    std::optional<std::string> policy_path;
    std::string db_path;
    std::string watcher = "auto";  // auto | fanotify | inotify
};

class Agent final : public EventSink {
public:
    explicit Agent(AgentOptions options);
    ~Agent() override;
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    // Everything up to "ready": lock, policy, database (baseline if none), marks.
    Result<void> start();
    // The poll loop; returns on SIGTERM/SIGINT after a full flush. Exit code for main().
    int run();

    void on_event(RawEvent&& event) override;
    void on_overflow(Source source, const std::string& what) override;
    void on_watch_names_stale() override;

private:
    struct HashJob {
        Event event;
        RawEvent raw;  // what the watcher needs to reopen the file (handle or path)
        // A file whose content the agent does not know, renamed (see rehash_renamed): its
        // row is recorded only if it is a regular file that could be hashed.
        bool only_if_hashed = false;
        // The row's place among the rows (agent/bounded_queue.h): taken when the event was
        // read, filled by the hasher, so a later rename's or delete's row never lands first.
        BoundedQueue<Event>::Slot slot;
    };
    // Reserves the row's place, then queues its hash. When the hash queue is full the row
    // is recorded unhashed (only_if_hashed: not at all) and a rescan compares content.
    void hash_then_record(Event&& e, RawEvent&& raw, bool only_if_hashed);
    // A row the full writer queue refused: counted, and repaired by the next rescan.
    void refused(const Event& e);
    // A watcher that hashes by name (inotify) cannot hash a file renamed before its turn:
    // after a rename, each file under the new name whose content is unknown is hashed
    // again, and a scan row records its content. Runs on the main thread.
    void rehash_renamed(const std::string& to, std::optional<std::uint32_t> rule);
    static std::size_t hash_job_bytes(const HashJob& job);
    // The writes waiting for the hasher may hold a quarter of limits.queue_memory_mb on top
    // of the events waiting for the writer: a write that does not fit is recorded unhashed
    // and the next rescan compares its content.
    void apply_queue_limits();

    Result<void> open_database();
    Result<std::unique_ptr<WatchSource>> make_source() const;
    Result<void> place_marks(WatchSource& source, const Policy& policy);
    DirWatch dir_scope(const std::string& dir) const;  // which events in `dir` matter to the policy
    // Watches `root` and, unless `root_only`, every directory below it; with
    // `report_before_ns` > 0 what changed below before the watch existed is recorded (scan).
    void mark_tree(WatchSource& source, const std::string& root, std::uint32_t rule, std::int64_t report_before_ns,
                   bool root_only = false);
    void enqueue(Event event);
    // An event past every filter: judged against the policy's expectations and alerts
    // (judge_), then to the hasher (a write) or the writer. Every file event, whatever its
    // source (fanotify, inotify, audit `denied`), comes through here on the main thread.
    // `may_wait`: an event without actor may first wait (bounded) for its audit record
    // (agent_audit.cpp), and is judged once it has it.
    void record(Event&& e, RawEvent&& raw, bool may_wait = true);
    void record_folded(Coalescer::Folded&& folded);
    void hash_loop();
    void hash_job(HashJob& job);  // on the hasher's thread: fills or cancels the job's slot
    // A file over limits.inline_hash_mb: its row now (hash_pending), its hash later.
    void defer_hash(HashJob& job, UniqueFd fd, std::uint64_t size);
    void on_background_hashed(BackgroundHasher::Job&& job, Result<FdDigest>&& digest);
    // The hash columns and detail of a row whose file was hashed (or could not be), and
    // known_'s content for its path while the path is known.
    void fill_hash(Event& e, const std::optional<Sha256Digest>& after, const std::string& problem);
    void reload_policy();
    void publish_status(const char* state);
    // `reason` goes into the rescan row's detail: a restart, or events lost.
    void rescan(const char* reason);
    // The audit source (agent_audit.cpp): started after the marks, drained by run()'s poll
    // loop, stopped (rules removed, daemon role given back) before agent_stop is written.
    void start_audit();
    std::vector<AuditRoot> audit_roots() const;
    bool wait_for_audit(Event& e, RawEvent& raw);  // true: held by the join
    void drain_audit(bool final);
    void record_denied(const AuditRecord& r);
    void audit_status(nlohmann::json& j) const;
    std::uint64_t unattributed() const;  // fanotify events neither /proc nor audit could name
    Event base_event(const RawEvent& raw, std::optional<std::uint32_t> rule) const;
    Event agent_event(Action action, std::optional<std::string> detail = std::nullopt) const;
    // A change found by a scan (new directory, rescan): no actor, the rule's label/severity.
    Event scan_event(Action action, const std::string& path, std::optional<std::uint32_t> rule) const;

    AgentOptions options_;
    std::unique_ptr<Policy> policy_;
    std::unique_ptr<RuleMatcher> matcher_;
    std::unique_ptr<WatchSource> source_;
    std::set<std::string> watched_roots_;  // every rule root, globs expanded (main thread)
    std::set<std::string> root_parents_;   // their parent directories
    UniqueFd lock_;                        // DB.agent.lock, held while we run
    std::int64_t started_ns_ = 0;
    std::uint64_t overflows_ = 0;  // guarded by known_mu_
    std::int64_t last_overflow_ns_ = 0;

    // Bounded by memory (policy limits.queue_memory_mb), not by a count: a burst of
    // small events may queue deep while the writer catches up.
    BoundedQueue<Event> events_{SIZE_MAX, &approx_bytes};
    BoundedQueue<HashJob> hash_jobs_{50'000, &hash_job_bytes};
    std::unique_ptr<Writer> writer_;
    Sealer* sealer_ = nullptr;  // owned by writer_
    std::thread hasher_;
    std::atomic<std::uint64_t> inline_hash_bytes_{64ULL << 20U};  // policy limits.inline_hash_mb
    std::unique_ptr<BackgroundHasher> big_hasher_;
    Attributor attributor_;
    Coalescer coalescer_{100};            // main thread
    EventJudge judge_;                    // main thread: expectations and alerts (issue 8)
    std::unique_ptr<AuditSource> audit_;  // null when off or unavailable (audit_state_ says why)
    std::string audit_state_ = "off";
    AuditJoin audit_join_;      // main thread
    std::uint64_t denied_ = 0;  // main thread
    // Events handed to on_event (main thread); a drain that brings kBurstEvents or more
    // is followed by kBurstPause before the next poll (see Agent::run).
    std::uint64_t raw_events_ = 0;
    static constexpr std::uint64_t kBurstEvents = 32;
    static constexpr std::chrono::milliseconds kBurstPause{2};
    int test_only_stall_ms_ = 0;       // VIGIL_TEST_ONLY_STALL_MS: see run()
    int test_only_hash_stall_ms_ = 0;  // VIGIL_TEST_ONLY_HASH_STALL_MS: the hasher waits before each batch

    std::mutex known_mu_;
    KnownState known_;  // last known content per path
    // While a rescan walks: the paths whose known_ entry events changed meanwhile. Their
    // rows are newer than the walk, so the rescan neither reports nor overwrites them
    // (a storm's later write must not be undone by a walk that read the file before it).
    std::optional<std::set<std::string, std::less<>>> touched_during_rescan_;
    void note_touched(const std::string& path) {  // known_mu_ held
        if (touched_during_rescan_) touched_during_rescan_->insert(path);
    }
    // Meanwhile too: directories renamed (both names). The walk may have read such a
    // subtree under either name, or partly under each: nothing below them is the walk's to
    // say, and where it disagrees with the events another walk settles it.
    std::set<std::string, std::less<>> moved_during_rescan_;  // known_mu_; cleared with the above
    // Paths whose row was refused by the full queue. known_ already holds what that row
    // said, so comparing the walk with known_ alone would find nothing to repair: the
    // rescan reports each of these from the walk (present: its content; absent: deleted).
    // Bounded by the tree: one entry per distinct path, whatever the storm.
    std::set<std::string> unrecorded_;
    void note_unrecorded(const Event& e);  // known_mu_ held
    std::uint64_t lost_ = 0;               // events that did not fit in the queue since the last overflow row
    std::int64_t first_lost_ns_ = 0;       // when the first and the last of them were refused
    std::int64_t last_lost_ns_ = 0;
    bool rescan_pending_ = false;
    // Set when the database already had a baseline: the first rescan, right after start,
    // reports what changed while no agent was watching (known_ is the baseline plus the
    // record's changes since, so what the record already says is not reported again).
    bool startup_rescan_ = false;  // main thread
    std::atomic<bool> rescan_running_{false};
    bool reload_pending_ = false;  // SIGHUP seen; applied when no rescan runs
};

}  // namespace vigil::agent
