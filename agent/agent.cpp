#include "agent/agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "agent/fanotify_source.h"
#include "agent/inotify_source.h"
#include "agent/log.h"
#include "agent/systemd_notify.h"
#include "agent/thread_priority.h"
#include "common/agent_status.h"
#include "common/baseline_store.h"
#include "common/escape.h"
#include "common/event_chain.h"
#include "common/seal_state.h"
#include "common/sys.h"
#include "common/time_format.h"
#include "common/walker.h"

namespace vigil::agent {
namespace {

std::int64_t ns_of(const timespec& ts) { return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec; }

// Checkpoints name the binary that sealed them, so a swapped agent is itself evident.
std::string own_binary_sha256() {
    const int raw = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (raw < 0) return "unknown: " + errno_text(errno);
    const UniqueFd fd(raw);
    auto digest = hash_fd(fd.get(), "/proc/self/exe");
    return digest ? digest_hex(digest->digest) : "unknown: " + digest.error().message();
}

}  // namespace

Agent::Agent(AgentOptions options) : options_(std::move(options)) {}

Agent::~Agent() {
    hash_jobs_.close();
    if (hasher_.joinable()) hasher_.join();
    if (big_hasher_) big_hasher_->stop();
    if (writer_) writer_->stop();
}

std::size_t Agent::hash_job_bytes(const HashJob& job) {
    auto heap = [](const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
    return approx_bytes(job.event) + sizeof(RawEvent) + heap(job.raw.path) + heap(job.raw.object) +
           (job.raw.old_path ? heap(*job.raw.old_path) : 0);
}

namespace {

// Stalls that tests use to hold a thread back (see agent.h); 0 when unset.
int test_only_ms(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? static_cast<int>(std::strtol(value, nullptr, 10)) : 0;
}

}  // namespace

void Agent::apply_queue_limits() {
    const std::size_t bytes = std::size_t{policy_->queue_memory_mb} << 20;
    events_.set_byte_capacity(bytes);
    // A rescan's rows in batches of ~100 (the storm test allows 64 KiB past the bound).
    events_.set_next_in_line_slack(std::size_t{48} << 10);
    hash_jobs_.set_byte_capacity(bytes / 4);
}

Result<void> Agent::start() {
    auto policy = load_policy(options_.policy_path);
    if (!policy) return policy.error();
    policy_ = std::make_unique<Policy>(std::move(policy.value()));
    matcher_ = std::make_unique<RuleMatcher>(*policy_);
    apply_queue_limits();
    coalescer_.set_limit(policy_->path_events_per_second);
    inline_hash_bytes_ = std::uint64_t{policy_->inline_hash_mb} << 20U;
    judge_.set_policy(*policy_);
    test_only_stall_ms_ = test_only_ms("VIGIL_TEST_ONLY_STALL_MS");
    test_only_hash_stall_ms_ = test_only_ms("VIGIL_TEST_ONLY_HASH_STALL_MS");

    const std::string dir = dir_of(options_.db_path);
    if (auto r = make_private_dirs(dir); !r) return r.error();
    auto lock = take_agent_lock(options_.db_path);
    if (!lock) return lock.error();
    lock_ = std::move(lock.value());
    if (auto r = open_database(); !r) return r.error();

    auto source = make_source();
    if (!source) return source.error();
    source_ = std::move(source.value());
    if (auto r = place_marks(*source_, *policy_); !r) return r.error();

    start_audit();

    sealer_->set_facts({policy_->sha256_hex, own_binary_sha256(), std::string(source_->name())});
    big_hasher_ = std::make_unique<BackgroundHasher>(
        [this](BackgroundHasher::Job&& job, Result<FdDigest>&& d) {
            on_background_hashed(std::move(job), std::move(d));
        },
        test_only_ms("VIGIL_TEST_ONLY_BACKGROUND_HASH_STALL_MS"));
    big_hasher_->start();
    hasher_ = std::thread([this] { hash_loop(); });
    writer_->configure_outputs(policy_->output);
    writer_->start();
    started_ns_ = realtime_now_ns();
    nlohmann::json detail{{"watcher", source_->name()},
                          {"marks", source_->marks()},
                          {"pidfd", source_->has_pidfd()},
                          {"policy", escape_bytes(policy_->source)},
                          {"policy_sha256", policy_->sha256_hex},
                          {"version", VIGIL_VERSION},
                          {"audit", audit_state_}};
    enqueue(agent_event(Action::AgentStart, detail.dump()));
    if (startup_rescan_) {
        const std::scoped_lock pending(known_mu_);
        rescan_pending_ = true;
    }
    log_info("ready: watching " + std::to_string(source_->marks()) + " directories with " +
             std::string(source_->name()) + (source_->has_pidfd() ? " (pidfd attribution)" : "") + ", database " +
             escape_bytes(options_.db_path));
    notify_systemd_ready();
    return {};
}

Result<std::unique_ptr<WatchSource>> Agent::make_source() const {
    auto inotify = []() -> Result<std::unique_ptr<WatchSource>> {
        auto ino = InotifySource::create();
        if (!ino) return ino.error();
        return std::unique_ptr<WatchSource>(std::move(ino.value()));
    };
    if (options_.watcher == "inotify") return inotify();
    auto fan = FanotifySource::create(policy_->kernel_queue_events);
    if (fan) return std::unique_ptr<WatchSource>(std::move(fan.value()));
    if (options_.watcher == "fanotify") return fan.error();
    // auto: inotify still sees every change, only without the actor; say why once, loudly.
    log_warning("fanotify is not available (" + fan.error().message() +
                "); falling back to inotify: changes are recorded without who made them");
    return inotify();
}

Result<void> Agent::open_database() {
    auto db = db::Database::open(options_.db_path, db::OpenMode::Create);
    if (!db) return db.error();
    auto latest = latest_baseline(db.value());
    if (!latest) return latest.error();
    if (!latest->has_value()) {
        log_info("no baseline in " + escape_bytes(options_.db_path) + ": building it first");
        const auto started = realtime_now_ns();
        auto walk = walk_policy(*policy_, WalkOptions{});
        for (const auto& w : walk.warnings) log_warning(w);
        BaselineInfo info;
        const Actor self = self_actor();
        info.created_ns = started;
        info.kind = "init";
        info.policy_source = policy_->source;
        info.policy_sha256 = policy_->sha256_hex;
        info.policy_text = policy_->text;
        info.uid = self.uid;
        info.auid = self.auid;
        info.user = self.user;
        info.login_user = self.login_user;
        info.hostname = host_name();
        auto txn = db::WriteTxn::begin(db.value());
        if (!txn) return txn.error();
        auto fresh = start_sealing_if_unsealed(db.value(), options_.db_path, policy_->seal_epoch_seconds);
        if (!fresh) return fresh.error();
        const std::optional<NewSealing>& sealing = fresh.value();
        const SealKey* seal = sealing ? &sealing->k0 : nullptr;
        if (auto id = write_baseline(db.value(), walk.records, info, seal); !id) return id.error();
        if (auto r = txn->commit(); !r) return r;
        log_info("baseline written: " + std::to_string(walk.records.size()) + " entries");
        if (sealing) {
            if (auto r = evolve_key_file(options_.db_path, sealing->k0); !r) return r.error();
            // The key itself never goes to a log: the file holds it.
            log_warning("sealing started: the verification key is in " + escape_bytes(sealing->verification_key_file) +
                        "; keep a copy offline and remove it from this host (`vigil verify --key-file`)");
        }
    }
    auto records = load_baseline(db.value());
    if (!records) return records.error();
    for (auto& r : records.value()) known_.emplace(std::move(r.path), r.sha256);
    if (latest->has_value()) {
        // What the record says since that baseline, so that the first rescan reports only
        // what changed while no agent was watching.
        auto replayed =
            replay_recorded_changes(db.value(), latest->value().created_ns, known_,
                                    [this](const std::string& p) { return matcher_->rule_for(p).has_value(); });
        if (!replayed) return replayed.error();
        startup_rescan_ = true;
    }
    // Every insert touches each index of events near its newest entries: a page cache
    // that holds those hot pages (64 MiB, against SQLite's default 2 MiB) keeps the
    // writer from re-reading them from the OS for every batch.
    if (auto r = db->exec("PRAGMA cache_size = -65536"); !r) return r;
    auto sealer = Sealer::prepare(db.value(), options_.db_path, policy_->seal_epoch_seconds);
    if (!sealer) return sealer.error();
    if (sealer.value()->new_sealing())
        log_warning("sealing started on a database made before sealing existed: the verification key is in " +
                    escape_bytes(sealer.value()->new_sealing()->verification_key_file) + "; keep a copy offline");
    sealer_ = sealer.value().get();
    writer_ = std::make_unique<Writer>(std::move(db.value()), events_, std::move(sealer.value()));
    writer_->set_retention_days(policy_->retention_days);
    return {};
}

DirWatch Agent::dir_scope(const std::string& dir) const {
    const auto rule = matcher_->rule_for(dir);
    DirWatch own = DirWatch::None;
    if (rule) {
        const Rule& r = policy_->rules[*rule];
        if (r.watch != WatchMode::None && (r.recursive || watched_roots_.count(dir) != 0))
            own = r.watch == WatchMode::Access ? DirWatch::Access : DirWatch::Modify;
    }
    // A root's parent: the root's own create, delete and rename happen there.
    if (own == DirWatch::None && root_parents_.count(dir) != 0) return DirWatch::Modify;
    return own;
}

Result<void> Agent::place_marks(WatchSource& source, const Policy& policy) {
    watched_roots_.clear();
    root_parents_.clear();
    for (const Rule& rule : policy.rules) {
        if (rule.watch == WatchMode::None) continue;
        for (const auto& root : expand_rule_roots(rule.path)) {
            watched_roots_.insert(root);
            root_parents_.insert(dir_of(root));
        }
    }
    source.set_scope([this](const std::string& dir) { return dir_scope(dir); });
    for (std::uint32_t i = 0; i < policy.rules.size(); ++i) {
        const Rule& rule = policy.rules[i];
        if (rule.watch == WatchMode::None) continue;
        const auto roots = expand_rule_roots(rule.path);
        if (roots.empty())
            log_warning("rule " + std::to_string(i + 1) + " (" + escape_bytes(rule.path) +
                        "): does not exist; not watched");
        for (const auto& root : roots) {
            struct stat st {};
            if (::lstat(root.c_str(), &st) < 0) continue;
            if (S_ISDIR(st.st_mode)) {
                mark_tree(source, root, i, 0);
                continue;
            }
            // A single file: its directory's events, filtered by rule, tell us about it.
            const std::string parent = dir_of(root);
            auto fd = open_at(AT_FDCWD, parent.c_str(), O_RDONLY | O_DIRECTORY, parent);
            if (!fd) {
                log_warning(fd.error().message());
                continue;
            }
            if (auto r = source.watch_dir(fd->get(), parent, rule.watch == WatchMode::Access); !r)
                log_warning(r.error().message());
        }
    }
    if (source.marks() == 0) return Error::msg("nothing to watch: no rule path exists or every rule has watch:none");
    return {};
}

void Agent::mark_tree(WatchSource& source, const std::string& root, std::uint32_t rule_index,
                      std::int64_t report_before_ns, bool root_only) {
    const Rule& rule = policy_->rules[rule_index];
    auto root_fd = open_at(AT_FDCWD, root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, root);
    if (!root_fd) {
        // Gone before it could be watched (created and removed at once): its delete event
        // follows, so a line for each would be noise in a flood (RELIABILITY.md B3 #28).
        if (root_fd.error().code != std::errc::no_such_file_or_directory)
            log_warning("cannot watch " + root_fd.error().message());
        return;
    }
    struct stat root_st {};
    if (::fstat(root_fd->get(), &root_st) < 0) return;
    std::vector<std::string> pending{""};  // paths relative to root; "" is the root itself
    std::set<std::pair<dev_t, ino_t>> visited;
    while (!pending.empty()) {
        const std::string rel = std::move(pending.back());
        pending.pop_back();
        const std::string path = rel.empty() ? root : join_path(root, rel);
        // Never through a link: a directory swapped for one after its event stays unwatched.
        auto opened = open_dir_beneath(root_fd->get(), rel, O_RDONLY);
        if (!opened) continue;  // vanished or replaced by a link meanwhile
        UniqueFd fd = std::move(opened.value());
        // A directory met twice (bind mounts with one_filesystem:false) keeps its first
        // name and is not walked again: a mount of the tree inside itself is a loop.
        struct stat dir_st {};
        if (::fstat(fd.get(), &dir_st) < 0 || !visited.emplace(dir_st.st_dev, dir_st.st_ino).second) continue;
        if (auto r = source.watch_dir(fd.get(), path, rule.watch == WatchMode::Access); !r) {
            log_warning(r.error().message());
            continue;
        }
        // Entries changed up to the moment this watch existed may have no kernel event:
        // the cut-off is when the watch was placed, not when the event that led here was read.
        const std::int64_t cutoff = report_before_ns > 0 ? std::max(report_before_ns, realtime_now_ns()) : 0;
        if (root_only || (!rule.recursive && !rel.empty())) continue;
        const int list_fd = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
        if (list_fd < 0) continue;
        std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(list_fd), &::closedir);
        if (!dir) {
            ::close(list_fd);
            continue;
        }
        while (const dirent* ent = ::readdir(dir.get())) {
            const std::string_view name = ent->d_name;
            if (name == "." || name == "..") continue;
            const std::string child = join_path(path, name);
            if (matcher_->rule_for(child) != rule_index) continue;  // excluded, or another rule's
            struct stat st {};
            if (::fstatat(fd.get(), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
            if (cutoff > 0 && ns_of(st.st_ctim) <= cutoff) {
                // Created before our mark existed: the kernel never told us; the scan does.
                Event e = scan_event(Action::Create, child, rule_index);
                e.detail = R"({"reason":"present in a new directory before it was watched"})";
                {
                    const std::scoped_lock lock(known_mu_);  // as for the kernel's creates (on_event)
                    if (known_.emplace(child, std::nullopt).second) note_touched(child);
                }
                enqueue(std::move(e));
                if (S_ISREG(st.st_mode) && st.st_size > 0 && ns_of(st.st_mtim) <= cutoff) {
                    // Its content was written unseen too: the hasher records it from the
                    // scan (no actor) so a change is never undetected, off the reading thread.
                    Event written = scan_event(Action::Modify, child, rule_index);
                    written.detail = R"({"reason":"written in a new directory before it was watched"})";
                    RawEvent raw;
                    raw.path = child;
                    raw.object = source.object_at(fd.get(), ent->d_name);
                    hash_then_record(std::move(written), std::move(raw), false);
                }
            }
            // Not into another filesystem, nor into a bind mount of this one (the walk's rule:
            // what it shows lives elsewhere, maybe the tree itself), unless the rule says so.
            if (S_ISDIR(st.st_mode) && rule.recursive &&
                (!rule.one_filesystem || (st.st_dev == root_st.st_dev && !is_mount_root(fd.get(), ent->d_name))))
                pending.push_back(rel.empty() ? std::string(name) : rel + "/" + std::string(name));
        }
    }
}

Event Agent::base_event(const RawEvent& raw, std::optional<std::uint32_t> rule) const {
    Event e;
    e.time_ns = raw.time_ns;
    e.action = raw.action;
    e.source = raw.source;
    if (!raw.path.empty()) e.path = raw.path;
    if (raw.old_path && !raw.old_path->empty()) e.old_path = raw.old_path;
    if (rule) {
        const Rule& r = policy_->rules[*rule];
        if (!r.label.empty()) e.label = r.label;
        e.severity = std::string(severity_name(r.severity));
    }
    return e;
}

Event Agent::scan_event(Action action, const std::string& path, std::optional<std::uint32_t> rule) const {
    Event e;
    e.time_ns = realtime_now_ns();
    e.action = action;
    e.source = Source::Scan;
    e.path = path;
    if (rule) {
        const Rule& r = policy_->rules[*rule];
        if (!r.label.empty()) e.label = r.label;
        e.severity = std::string(severity_name(r.severity));
    }
    return e;
}

Event Agent::agent_event(Action action, std::optional<std::string> detail) const {
    Event e;
    e.time_ns = realtime_now_ns();
    e.action = action;
    e.source = Source::Scan;
    e.actor = self_actor();
    e.detail = std::move(detail);
    return e;
}

void Agent::note_unrecorded(const Event& e) {
    if (e.path) unrecorded_.insert(*e.path);
    if (!e.old_path) return;
    unrecorded_.insert(*e.old_path);
    if (!e.path) return;
    // A directory's rename moved everything under it: each entry's new name and old one.
    for_each_below(known_, *e.path, [&](const std::string& path, const auto&) {
        unrecorded_.insert(path);
        unrecorded_.insert(*e.old_path + path.substr(e.path->size()));
    });
}

void Agent::enqueue(Event event) {
    if (!events_.try_push(std::move(event))) refused(event);  // NOLINT(bugprone-use-after-move): moved only on success
}

void Agent::refused(const Event& e) {
    const std::int64_t now = realtime_now_ns();
    const std::scoped_lock lock(known_mu_);
    note_unrecorded(e);
    if (lost_ == 0) first_lost_ns_ = now;
    last_lost_ns_ = now;
    ++lost_;
    rescan_pending_ = true;
}

void Agent::hash_then_record(Event&& e, RawEvent&& raw, bool only_if_hashed) {
    if (rescan_running_.load() && e.path) {
        // Its row will be newer than the walk whatever the queue's order: the rescan must
        // not queue a finding for the path behind it (see rescan).
        const std::scoped_lock lock(known_mu_);
        note_touched(*e.path);
    }
    auto slot = events_.reserve();
    if (!slot.reserved()) {
        if (!only_if_hashed) {
            refused(e);
            return;
        }
        const std::scoped_lock lock(known_mu_);
        rescan_pending_ = true;  // the rescan compares content instead
        return;
    }
    HashJob job{std::move(e), std::move(raw), only_if_hashed, std::move(slot)};
    if (hash_jobs_.try_push(std::move(job))) return;
    // NOLINTBEGIN(bugprone-use-after-move): try_push moves only on success
    if (!job.only_if_hashed) {
        Event& unhashed = job.event;
        nlohmann::json detail =
            unhashed.detail ? nlohmann::json::parse(*unhashed.detail, nullptr, false) : nlohmann::json::object();
        if (!detail.is_object()) detail = nlohmann::json::object();
        detail["hash"] = "skipped: hash queue full; the next rescan compares content";
        unhashed.detail = detail.dump();
        job.slot.fill(std::move(unhashed));
    }
    job.slot.cancel();
    // NOLINTEND(bugprone-use-after-move)
    const std::scoped_lock lock(known_mu_);
    rescan_pending_ = true;
}

void Agent::on_event(RawEvent&& raw) {
    ++raw_events_;
    std::optional<std::uint32_t> rule = raw.path.empty() ? std::nullopt : matcher_->rule_for(raw.path);
    if (!rule && raw.old_path && !raw.old_path->empty()) rule = matcher_->rule_for(*raw.old_path);
    if (!rule) return;
    const Rule& r = policy_->rules[*rule];
    if (r.watch == WatchMode::None) return;
    if ((raw.action == Action::Open || raw.action == Action::Read) && r.watch != WatchMode::Access) return;

    Event e = base_event(raw, rule);
    e.actor = attributor_.resolve(raw.pid, raw.pidfd, raw.boot_ns);
    raw.pidfd = -1;  // borrowed for attribution only (see RawEvent)

    if (raw.action == Action::Rename && raw.is_dir && raw.old_path && !raw.old_path->empty() && !raw.path.empty())
        source_->rename_dir(*raw.old_path, raw.path);
    // A directory renamed within the watched trees keeps its watches (they follow the
    // inode); only one that is new to us, created or moved in, needs marks and a scan.
    const bool moved_within = raw.action == Action::Rename && raw.old_path && !raw.old_path->empty() &&
                              matcher_->rule_for(*raw.old_path).has_value();
    const bool new_dir = raw.is_dir && (raw.action == Action::Create || raw.action == Action::Rename) &&
                         !moved_within && !raw.path.empty() && matcher_->rule_for(raw.path) == rule;
    bool rename_unknown = false;
    {
        const std::scoped_lock lock(known_mu_);
        if (raw.action == Action::Delete) {
            auto it = known_.find(raw.path);
            if (it != known_.end()) {
                if (it->second) e.sha256_before = std::string(digest_bytes(*it->second));
                known_.erase(it);
            }
            note_touched(raw.path);
        } else if (raw.action == Action::Rename && e.old_path) {
            // Everything under a renamed directory moves with it.
            // Moved out of every tree: no longer known (a rescan would call it deleted).
            const bool stays = !raw.path.empty() && matcher_->rule_for(raw.path).has_value();
            if (raw.is_dir && touched_during_rescan_) {
                moved_during_rescan_.insert(*e.old_path);
                if (stays) moved_during_rescan_.insert(raw.path);
            }
            rename_known(known_, *e.old_path, raw.path, stays, [this](const std::string& p) { note_touched(p); });
            if (stays && source_->hashes_by_name()) rename_unknown = true;
        } else if (raw.action == Action::Create) {
            known_.emplace(raw.path, std::nullopt);
            note_touched(raw.path);
        } else if (raw.action == Action::Modify || raw.action == Action::Attrib) {
            // Its row says the path exists (a create we never saw): so must known_, in the
            // order of the rows, or no rescan would report its later delete. Its content
            // follows from the hasher, only while the path is still known then.
            if (auto it = known_.lower_bound(raw.path); it == known_.end() || it->first != raw.path) {
                known_.emplace_hint(it, raw.path, std::nullopt);
                note_touched(raw.path);
            }
        }
    }
    if (new_dir) {
        // Under a filesystem mark a created directory is watched from its first instant:
        // nothing inside it can have been missed, so only access marks are placed (no scan),
        // on it alone: a directory created inside it since brings its own create event.
        // One moved in was filled elsewhere: everything in it is reported by the scan.
        if (raw.action != Action::Create || !source_->sees_inside_new_dirs(raw)) {
            mark_tree(*source_, raw.path, *rule, raw.time_ns);
        } else if (r.watch == WatchMode::Access) {
            mark_tree(*source_, raw.path, *rule, 0, /*root_only=*/true);
        }
    }

    // The rename's row first: a rehash is recorded under the new name, and a row for it
    // ahead of the rename would be moved back to unknown content by the rename's replay.
    const std::string renamed_to = rename_unknown ? raw.path : std::string();
    if (coalescer_.admit(e, raw)) record(std::move(e), std::move(raw));  // else folded into its second's row
    if (rename_unknown) rehash_renamed(renamed_to, rule);
}

void Agent::rehash_renamed(const std::string& to, std::optional<std::uint32_t> rule) {
    std::vector<std::string> unknown;
    {
        const std::scoped_lock lock(known_mu_);
        if (auto self = known_.find(to); self != known_.end() && !self->second) unknown.push_back(to);
        for_each_below(known_, to, [&](const std::string& path, const std::optional<Sha256Digest>& digest) {
            if (!digest) unknown.push_back(path);  // directories too: skipped by the hasher
        });
    }
    for (auto& path : unknown) {
        const auto own_rule = matcher_->rule_for(path);
        Event e = scan_event(Action::Modify, path, own_rule ? own_rule : rule);
        e.detail = R"({"reason":"renamed before its content could be hashed by name: hashed under the new name"})";
        RawEvent raw;
        raw.path = std::move(path);
        hash_then_record(std::move(e), std::move(raw), true);
    }
}

void Agent::record_folded(Coalescer::Folded&& folded) {
    Event& e = folded.event;
    nlohmann::json detail = e.detail ? nlohmann::json::parse(*e.detail, nullptr, false) : nlohmann::json::object();
    if (!detail.is_object()) detail = nlohmann::json::object();
    detail["coalesced"] = folded.count;
    detail["first_coalesced"] = format_rfc3339_ns(folded.first_ns);
    e.detail = detail.dump();
    record(std::move(e), std::move(folded.raw));
}

void Agent::record(Event&& e, RawEvent&& raw, bool may_wait) {
    // An event without actor may first wait (bounded) for its audit record: judged after.
    if (may_wait && wait_for_audit(e, raw)) return;
    // Expectations and leak signs, for every event recorded (agent/event_judge.h).
    std::vector<Event> alerts = judge_.judge(e, *policy_, *matcher_, boottime_now_ns());
    if (raw.action == Action::Modify && !raw.is_dir) {
        hash_then_record(std::move(e), std::move(raw), false);
    } else {
        enqueue(std::move(e));
    }
    for (auto& alert : alerts) enqueue(std::move(alert));
}

void Agent::on_overflow(Source source, const std::string& what) {
    Event e = agent_event(Action::Overflow, nlohmann::json{{"source", source_name(source)}, {"reason", what}}.dump());
    e.source = source;
    const auto when = e.time_ns;
    enqueue(std::move(e));
    const std::scoped_lock lock(known_mu_);
    rescan_pending_ = true;
    ++overflows_;
    last_overflow_ns_ = when;
}

void Agent::hash_loop() {
    lower_this_thread_priority("hasher", kBackgroundNice);
    std::vector<HashJob> jobs;
    for (;;) {
        jobs.clear();
        if (test_only_hash_stall_ms_ > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(test_only_hash_stall_ms_));
        hash_jobs_.pop_batch(jobs, 64, std::chrono::milliseconds(100));
        if (jobs.empty()) {
            if (hash_jobs_.closed_and_empty()) return;
            continue;
        }
        for (auto& job : jobs) {
            hash_job(job);
            job.slot.cancel();  // a job left unrecorded frees its place now
        }
    }
}

void Agent::hash_job(HashJob& job) {
    Event& e = job.event;
    const std::string path = e.path.value_or("");
    auto fd = source_->open_for_hash(job.raw);
    std::optional<Sha256Digest> after;
    std::string problem;
    if (job.only_if_hashed) {
        // Gone or renamed again (the next rename retries), or not a regular file.
        struct stat st {};
        if (!fd || ::fstat(fd->get(), &st) < 0 || !S_ISREG(st.st_mode)) return;
    }
    if (fd) {
        struct stat st {};
        if (::fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<std::uint64_t>(st.st_size) > inline_hash_bytes_.load()) {
            defer_hash(job, std::move(fd.value()), static_cast<std::uint64_t>(st.st_size));
            return;
        }
        auto digest = hash_fd_settled(fd->get(), path);
        if (digest) {
            after = digest->digest;
        } else if (job.only_if_hashed) {
            return;
        } else {
            problem = digest.error().message();
        }
    } else {
        problem = fd.error().code.value() == ESTALE ? "deleted before it could be hashed" : fd.error().message();
    }
    fill_hash(e, after, problem);
    job.slot.fill(std::move(e));
}

void Agent::fill_hash(Event& e, const std::optional<Sha256Digest>& after, const std::string& problem) {
    const std::string path = e.path.value_or("");
    std::optional<Sha256Digest> before;
    {
        const std::scoped_lock lock(known_mu_);
        auto it = known_.find(path);
        if (it != known_.end()) before = it->second;
        // The write made the path known (on_event, mark_tree): gone from known_ since, it
        // was renamed or deleted after the write, and putting the name back would be stale.
        // Not a touch for a running rescan: the write is older than the rescan's place in
        // the queue (a write read during the rescan was noted when read, hash_then_record),
        // and may be older than a loss the walk repairs (renamed away unseen: the walk's
        // delete must stand).
        if (after && it != known_.end()) it->second = after;
    }
    if (before) e.sha256_before = std::string(digest_bytes(*before));
    if (after) e.sha256_after = std::string(digest_bytes(*after));
    nlohmann::json detail = e.detail ? nlohmann::json::parse(*e.detail, nullptr, false) : nlohmann::json::object();
    if (!detail.is_object()) detail = nlohmann::json::object();
    if (after && before) detail["content_changed"] = *after != *before;
    if (!problem.empty()) detail["hash_error"] = problem;
    if (!detail.empty()) e.detail = detail.dump();
}

void Agent::defer_hash(HashJob& hash_job, UniqueFd fd, std::uint64_t size) {
    Event& e = hash_job.event;
    BackgroundHasher::Job job{e, std::move(fd), realtime_now_ns(), 0};
    const bool queued = big_hasher_->submit(std::move(job));
    nlohmann::json detail = e.detail ? nlohmann::json::parse(*e.detail, nullptr, false) : nlohmann::json::object();
    if (!detail.is_object()) detail = nlohmann::json::object();
    detail["size"] = size;
    if (queued) {
        detail["hash_pending"] =
            "over limits.inline_hash_mb: hashed in the background, the hash follows in its own row";
    } else {
        detail["hash"] = "skipped: background hash queue full; the next rescan compares content";
        const std::scoped_lock lock(known_mu_);
        rescan_pending_ = true;
    }
    e.detail = detail.dump();
    hash_job.slot.fill(std::move(e));
}

// On the background hasher's thread. The result is a row of its own, dated when the hash
// was taken (the write's row is long sealed), pointing back at the write it follows.
void Agent::on_background_hashed(BackgroundHasher::Job&& job, Result<FdDigest>&& digest) {
    Event e = std::move(job.event);
    nlohmann::json detail = e.detail ? nlohmann::json::parse(*e.detail, nullptr, false) : nlohmann::json::object();
    if (!detail.is_object()) detail = nlohmann::json::object();
    const std::int64_t now = realtime_now_ns();
    detail["background_hash"] = true;
    detail["write_observed"] = format_rfc3339_ns(e.time_ns);
    detail["hash_seconds"] = static_cast<double>(now - job.queued_ns) / 1e9;
    if (job.superseded) detail["superseded_writes"] = job.superseded;
    e.detail = detail.dump();
    e.time_ns = now;
    std::optional<Sha256Digest> after;
    std::string problem;
    if (digest) {
        after = digest->digest;
    } else {
        problem = digest.error().message();
    }
    BoundedQueue<Event>::Slot place;
    {
        const std::scoped_lock lock(known_mu_);
        if (known_.find(e.path.value_or("")) == known_.end()) {
            // Renamed or deleted since the write (known_ follows the rows): a row under the
            // old name would put it back in the record. The rescan compares the content
            // under the name it has now, or finds it gone.
            rescan_pending_ = true;
            return;
        }
        // Taken under the lock: a rename read from here on is recorded after this row.
        place = events_.reserve();
    }
    fill_hash(e, after, problem);
    if (place.reserved()) {
        place.fill(std::move(e));
    } else {
        refused(e);
    }
}

void Agent::on_watch_names_stale() {
    // Placing a mark again on a directory already marked renames it to where it is now.
    if (auto r = place_marks(*source_, *policy_); !r) log_warning("after the overflow: " + r.error().message());
}

void Agent::rescan(const char* reason) {
    log_warning(std::string(reason) + ": rescanning every rule against the last known state");
    std::set<std::string> unrecorded;
    {
        // From here on, paths the event stream changes are newer than the walk: the
        // comparison leaves them to their own rows (see touched_during_rescan_). Rows
        // refused from here on are this walk's too late: the next rescan reports them.
        const std::scoped_lock lock(known_mu_);
        touched_during_rescan_.emplace();
        unrecorded.swap(unrecorded_);
    }
    // Only path and hash of each entry are kept: the walk's full records of a large tree
    // would be the agent's biggest allocation (RELIABILITY: memory stays bounded in a storm).
    std::map<std::string, std::optional<Sha256Digest>> fresh;
    WalkOptions walk_options;
    walk_options.sink = [&fresh](std::vector<FileRecord>& batch) {
        for (auto& r : batch) fresh.emplace(std::move(r.path), r.sha256);
    };
    (void)walk_policy(*policy_, walk_options);
    const std::size_t entries = fresh.size();
    struct Change {
        Action action;
        std::string path;
        std::optional<Sha256Digest> before, after;
        bool row_refused = false;  // from unrecorded_: the event's own row never made it
    };
    std::vector<Change> changes;
    std::uint64_t created = 0;
    std::uint64_t modified = 0;
    std::uint64_t deleted = 0;
    bool unsettled = false;           // the walk and the events disagree under a path that changed meanwhile
    BoundedQueue<Event>::Slot place;  // of every row of this rescan, among the others
    {
        const std::scoped_lock lock(known_mu_);
        const auto& touched = *touched_during_rescan_;
        // Below a directory renamed since the walk began (see moved_during_rescan_).
        auto below_moved = [&](std::string_view path) {
            if (moved_during_rescan_.empty()) return false;
            for (auto slash = path.rfind('/'); slash != std::string_view::npos && slash > 0;
                 slash = path.rfind('/', slash - 1)) {
                if (moved_during_rescan_.count(path.substr(0, slash)) != 0) return true;
            }
            return false;
        };
        // A path the events changed since the walk began (touched itself, or below a moved
        // directory) is theirs to say, not the walk's.
        // Rows refused by the full queue: the record lacks what known_ already says, so
        // the walk's finding is reported even where it agrees with known_. Compared first,
        // while known_ is still the record's word; the loops below then settle known_ in
        // place (a second map of the whole tree would be the rescan's biggest allocation).
        for (const auto& path : unrecorded) {
            const bool touched_itself = touched.count(path) != 0;
            if (touched_itself || below_moved(path)) {
                if (!touched_itself) {
                    unrecorded_.insert(path);  // not settled by an event of its own: next time
                    unsettled = true;
                }
                continue;
            }
            const auto found = fresh.find(path);
            const auto was = known_.find(path);
            const bool reported = found != fresh.end()
                                      ? was == known_.end() || (found->second && was->second != found->second)
                                      : was != known_.end();
            if (reported) continue;  // a change the loops below find
            if (found != fresh.end()) {
                changes.push_back({Action::Modify, path, std::nullopt, found->second, true});
                ++modified;
            } else {
                changes.push_back({Action::Delete, path, std::nullopt, std::nullopt, true});
                ++deleted;
            }
        }
        // Known but not walked: deleted, unless the events' word stands (below).
        for (auto it = known_.begin(); it != known_.end();) {
            const auto& [path, digest] = *it;
            const bool touched_itself = touched.count(path) != 0;
            if (touched_itself || below_moved(path)) {
                unsettled = unsettled || (!touched_itself && fresh.count(path) == 0);
                ++it;  // the events' word stands, for now
                continue;
            }
            if (fresh.count(path) != 0) {
                ++it;
                continue;
            }
            changes.push_back({Action::Delete, path, digest, std::nullopt});
            ++deleted;
            it = known_.erase(it);
        }
        for (auto& [path, digest] : fresh) {
            const bool touched_itself = touched.count(path) != 0;
            auto it = known_.find(path);
            if (touched_itself || below_moved(path)) {
                // Below a moved directory, where the two disagree neither is sure: the walk
                // may be older than the events, the events may lack what was lost. Another
                // walk settles it. (A path with an event of its own is the event's.)
                if (!touched_itself && (it == known_.end() || (digest && it->second != digest))) unsettled = true;
                continue;
            }
            if (it == known_.end()) {
                changes.push_back({Action::Create, path, std::nullopt, digest});
                ++created;
                known_.emplace_hint(it, path, digest);
            } else {
                if (it->second != digest && digest) {
                    changes.push_back({Action::Modify, path, it->second, digest});
                    ++modified;
                }
                it->second = digest;
            }
        }
        touched_during_rescan_.reset();
        moved_during_rescan_.clear();
        if (unsettled) rescan_pending_ = true;
        // The rows of this rescan take their place in the queue now, under the lock: each
        // event read from here on is newer than the walk and is recorded after it, so the
        // record replays to what known_ says. The place is taken whatever the queue's bound
        // (what a rescan finds is the repair of a loss and must not be lost itself); its rows
        // are streamed into it within the bound, so a large finding costs no placeholders.
        place = events_.reserve(true);
    }
    Event summary = agent_event(Action::Rescan, nlohmann::json{{"reason", reason},
                                                               {"entries", entries},
                                                               {"created", created},
                                                               {"modified", modified},
                                                               {"deleted", deleted},
                                                               {"unsettled", unsettled}}
                                                    .dump());
    place.add(std::move(summary));
    for (const Change& c : changes) {
        Event e = scan_event(c.action, c.path, matcher_->rule_for(c.path));
        if (c.before) e.sha256_before = std::string(digest_bytes(*c.before));
        if (c.after) e.sha256_after = std::string(digest_bytes(*c.after));
        if (c.row_refused)
            e.detail = R"j({"reason":"the event's own row was refused by the full queue (see the overflow row)"})j";
        place.add(std::move(e));
    }
    place.cancel();  // nothing more: what follows the place may go
    if (unsettled)
        log_warning(
            "rescan: entries changed under the walk, and the walk and the events disagree on some: rescanning "
            "again");
}

void Agent::reload_policy() {
    auto fresh = load_policy(options_.policy_path);
    if (!fresh) {
        log_error("SIGHUP: new policy refused, the old one stays active: " + fresh.error().message());
        return;
    }
    auto policy = std::make_unique<Policy>(std::move(fresh.value()));
    auto matcher = std::make_unique<RuleMatcher>(*policy);
    auto fresh_source = make_source();
    if (!fresh_source) {
        log_error("SIGHUP: cannot start a new watcher, the old policy stays active: " + fresh_source.error().message());
        return;
    }
    // The new watcher's marks go in before the old watcher is read for the last time, so
    // an event in between reaches one of them or both (then twice), never neither: marking
    // after the last drain lost what happened in between (the SIGHUP storm test in
    // tests/agent/reliability_agent_test.cpp). The hasher touches neither policy nor
    // matcher, so they change under it; it finishes the old watcher's jobs (it opens files
    // through the current source) before the sources are swapped and it is restarted.
    std::swap(policy_, policy);
    std::swap(matcher_, matcher);
    if (auto r = place_marks(*fresh_source.value(), *policy_); !r) log_error("SIGHUP: " + r.error().message());
    if (auto r = source_->drain(*this); !r) log_error(r.error().message());
    hash_jobs_.close();
    if (hasher_.joinable()) hasher_.join();
    const std::unique_ptr<WatchSource> old_source = std::move(source_);
    source_ = std::move(fresh_source.value());
    apply_queue_limits();
    coalescer_.set_limit(policy_->path_events_per_second);
    writer_->set_retention_days(policy_->retention_days);
    inline_hash_bytes_ = std::uint64_t{policy_->inline_hash_mb} << 20U;
    judge_.set_policy(*policy_);
    if (audit_) {
        if (auto r = audit_->replace_roots(audit_roots()); !r) log_error("SIGHUP: audit rules: " + r.error().message());
    }
    hash_jobs_.reopen();
    hasher_ = std::thread([this] { hash_loop(); });
    sealer_->set_facts({policy_->sha256_hex, own_binary_sha256(), std::string(source_->name())});
    log_info("policy reloaded from " + escape_bytes(policy_->source) + ": " + std::to_string(source_->marks()) +
             " directories watched");
}

void Agent::publish_status(const char* state) {
    const auto q = events_.stats();
    const auto h = hash_jobs_.stats();
    nlohmann::json j{{"state", state},
                     {"pid", ::getpid()},
                     {"watcher", source_->name()},
                     {"marks", source_->marks()},
                     {"pidfd", source_->has_pidfd()},
                     {"own_events_dropped", source_->own_events_dropped()},
                     {"started", format_rfc3339_ns(started_ns_)},
                     {"updated", format_rfc3339_ns(realtime_now_ns())},
                     {"events_written", writer_->written()},
                     {"queue_depth", q.depth},
                     {"queue_max_depth", q.max_depth},
                     {"queue_bytes", q.bytes},
                     {"queue_max_bytes", q.max_bytes},
                     {"queue_limit_bytes", std::size_t{policy_->queue_memory_mb} << 20},
                     {"hash_queue_depth", h.depth},
                     {"hash_queue_bytes", h.bytes},
                     {"hash_queue_max_bytes", h.max_bytes},
                     {"hash_queue_refused", h.dropped},
                     {"rescan_running", rescan_running_.load()},
                     {"coalesced", coalescer_.folded_total()},
                     {"attributed", attributor_.resolved() + audit_join_.completed()},
                     {"attributed_by_proc", attributor_.resolved()},
                     {"attributed_by_audit", audit_join_.completed()},
                     {"unattributed", unattributed()},
                     {"unexpected", judge_.unexpected()},
                     {"not_evaluated", judge_.not_evaluated()},
                     {"alerts", judge_.alerts()},
                     {"last_alert", judge_.last_alert_ns() ? nlohmann::json(format_rfc3339_ns(judge_.last_alert_ns()))
                                                           : nlohmann::json()},
                     {"policy", escape_bytes(policy_->source)},
                     {"outputs", writer_->output_status()}};
    audit_status(j);
    {
        const std::scoped_lock lock(known_mu_);
        j["overflows"] = overflows_;
        j["rescan_pending"] = rescan_pending_;
        j["lost_unrecorded"] = lost_;  // refused by the full queue, not yet in an overflow row
        j["last_overflow"] =
            last_overflow_ns_ ? nlohmann::json(format_rfc3339_ns(last_overflow_ns_)) : nlohmann::json();
    }
    if (auto r = write_agent_status(options_.db_path, j.dump(2) + "\n"); !r) log_warning(r.error().message());
}

int Agent::run() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    const UniqueFd sfd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!sfd) {
        log_error("signalfd: " + errno_text(errno));
        return 1;
    }
    bool stop = false;
    std::thread rescanner;
    auto last_status = std::chrono::steady_clock::time_point{};
    while (!stop) {
        if (std::chrono::steady_clock::now() - last_status > std::chrono::seconds(1)) {
            publish_status("running");
            last_status = std::chrono::steady_clock::now();
        }
        pollfd fds[3] = {
            {source_->fd(), POLLIN, 0}, {sfd.get(), POLLIN, 0}, {audit_ ? audit_->wake_fd() : -1, POLLIN, 0}};
        const int n = ::poll(fds, 3, 200);
        if (n < 0 && errno != EINTR) {
            log_error("poll: " + errno_text(errno));
            break;
        }
        if (n > 0 && (fds[1].revents & POLLIN) != 0) {
            signalfd_siginfo si{};
            while (::read(sfd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                if (si.ssi_signo == SIGHUP) {
                    reload_pending_ = true;  // applied below, never while a rescan uses the policy
                } else {
                    log_info(std::string("signal ") + (si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT") +
                             ": stopping after every queued event is written");
                    notify_systemd_stopping();
                    stop = true;
                }
            }
        }
        if (reload_pending_ && !rescan_running_.load()) {
            reload_pending_ = false;
            log_info("SIGHUP: reloading the policy");
            reload_policy();
            // Even when the new policy was refused: reopen the JSON-lines file (logrotate).
            writer_->configure_outputs(policy_->output);
        }
        if (!stop && n > 0 && (fds[0].revents & POLLIN) != 0) {
            // Test-only (tests/agent/audit_test.cpp): stall before reading events, so the
            // short-lived process behind them is gone and /proc cannot name it.
            if (test_only_stall_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(test_only_stall_ms_));
            const std::uint64_t before = raw_events_;
            if (auto r = source_->drain(*this); !r) log_error(r.error().message());
            // Under a burst, let events gather in the kernel's queue for a moment before
            // reading again. A reader that sleeps in poll() is woken for every event, and
            // each wake-up is paid by the process writing the files (an inter-processor
            // interrupt, a VM exit on a virtual machine): bench/RESULTS.md measured a
            // minimal fanotify reader at 1.52x the bare workload when woken per event and
            // 1.32x when pausing 2 ms between reads. A quiet source is still read at
            // once, so a short-lived process is there to be named.
            if (raw_events_ - before >= kBurstEvents) std::this_thread::sleep_for(kBurstPause);
        }
        drain_audit(false);
        for (auto& folded : coalescer_.due(realtime_now_ns())) record_folded(std::move(folded));
        bool start_rescan = false;
        std::uint64_t lost = 0;
        std::int64_t first_lost = 0;
        std::int64_t last_lost = 0;
        {
            const std::scoped_lock lock(known_mu_);
            lost = lost_;
            first_lost = first_lost_ns_;
            last_lost = last_lost_ns_;
            if (rescan_pending_ && !rescan_running_.load()) {
                start_rescan = true;
                rescan_pending_ = false;
            }
        }
        if (lost > 0) {
            Event e =
                agent_event(Action::Overflow, nlohmann::json{{"source", "queue"},
                                                             {"reason", "event queue full (limits.queue_memory_mb)"},
                                                             {"lost", lost},
                                                             {"first_lost", format_rfc3339_ns(first_lost)},
                                                             {"last_lost", format_rfc3339_ns(last_lost)}}
                                                  .dump());
            if (events_.try_push(std::move(e))) {
                const std::scoped_lock lock(known_mu_);
                lost_ -= lost;
                first_lost_ns_ = last_lost_ns_;  // any lost since belong to the next row
            }
        }
        if (start_rescan) {
            if (rescanner.joinable()) rescanner.join();  // the previous one has finished
            // A directory created while events were lost was never marked: its own create
            // was among them. Mark every tree again first (directories already marked keep
            // their mark), then walk: what changes after the marks the watcher sees, what
            // changed before them the walk finds. Here, on the main thread, as marks must be.
            if (auto r = place_marks(*source_, *policy_); !r) log_warning("rescan: " + r.error().message());
            rescan_running_ = true;
            const char* reason = std::exchange(startup_rescan_, false)
                                     ? "agent start: looking for changes made while no agent was watching"
                                     : "events may have been lost";
            rescanner = std::thread([this, reason] {
                lower_this_thread_priority("rescan", kBackgroundNice);
                rescan(reason);
                ::malloc_trim(0);  // the walk's maps are gone: give their pages back
                rescan_running_ = false;
            });
        }
    }
    // Events the kernel queued before the signal are part of what we were asked to flush.
    if (auto r = source_->drain(*this); !r) log_error(r.error().message());
    for (auto& folded : coalescer_.due(INT64_MAX)) record_folded(std::move(folded));
    drain_audit(true);  // held events recorded, our audit rules removed
    if (rescanner.joinable()) rescanner.join();
    hash_jobs_.close();
    if (hasher_.joinable()) hasher_.join();
    // A background hash of a huge file is cancelled, not waited for: its write's row is
    // recorded (hash_pending), and the next check or rescan compares the content.
    if (const std::size_t abandoned = big_hasher_->stop())
        log_warning(std::to_string(abandoned) +
                    " background hashes of large files were abandoned at stop; their rows say hash_pending");
    nlohmann::json detail{{"attributed", attributor_.resolved() + audit_join_.completed()},
                          {"attributed_by_audit", audit_join_.completed()},
                          {"unattributed", unattributed()},
                          {"denied", denied_},
                          {"queue_max_depth", events_.stats().max_depth}};
    // agent_stop must not be dropped: wait for room if the queue is full.
    Event stop_event = agent_event(Action::AgentStop, detail.dump());
    // try_push moves only on success, so a refused stop_event is still whole.
    while (!events_.try_push(std::move(stop_event)))  // NOLINT(bugprone-use-after-move)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    writer_->stop();
    publish_status("stopped");
    log_info("stopped: " + std::to_string(writer_->written()) + " events written");
    return 0;
}

}  // namespace vigil::agent
