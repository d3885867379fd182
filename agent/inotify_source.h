// The inotify watcher: the fallback when fanotify is refused (not root, an old kernel, a
// filesystem without FID support), or forced with --watcher inotify. One watch per
// directory (inotify is not recursive), placed by the agent's mark_tree on every directory
// of a rule, and on each new directory as it appears. inotify reports no process, so every
// event leaves here with pid 0: the agent records it unattributed and never guesses.
//
// What inotify does not do for us, and this class does:
//  - names: events carry a watch descriptor and a name; wd -> directory path is kept here
//    and follows directory renames;
//  - renames: IN_MOVED_FROM and IN_MOVED_TO are two events sharing a cookie; they become
//    one Rename. A MOVED_FROM with no partner moved out of the watched tree (Delete), a
//    MOVED_TO with none moved in (Create, and the agent scans and watches what came in);
//  - its own reads: the hasher's open/read of an access-watched file would look like anyone
//    else's, so open_for_hash announces them and drain() drops exactly those.
//
// Owns: the inotify fd and the wd <-> path maps.
// Does not own: the directory fds passed to watch_dir (the caller closes them), the sink.
// Thread: everything runs on the agent's main thread except open_for_hash (the hasher),
// which reads the maps and announces its opens under mu_.
#pragma once

#include <sys/inotify.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "agent/raw_event.h"
#include "agent/watch_source.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace vigil::agent {

class InotifySource final : public WatchSource {
public:
    // inotify_init1(IN_NONBLOCK | IN_CLOEXEC). Out of instances: says which sysctl to raise.
    static Result<std::unique_ptr<InotifySource>> create();

    std::string_view name() const override { return "inotify"; }
    int fd() const override { return fd_.get(); }
    bool has_pidfd() const override { return false; }

    // Watches exactly the directory `dirfd` (through /proc/self/fd, so no path is resolved
    // again), recorded as `path`. Watching the same directory again returns the same wd: the
    // path is updated and the masks are merged (two rules may share a directory). A full
    // watch table gives an error naming fs.inotify.max_user_watches and its current value.
    Result<void> watch_dir(int dirfd, const std::string& path, bool access) override;
    // Every watch at or below `from` now lives below `to`. drain() already does this itself
    // for renames it pairs, so the agent's call after such a Rename finds nothing left to do.
    void rename_dir(const std::string& from, const std::string& to) override;

    // Reads until the queue is empty. A MOVED_FROM still waiting for its MOVED_TO makes it
    // wait up to kMovePairWait for more events before reporting it as a Delete.
    Result<void> drain(EventSink& sink) override;

    // Opens the event's file by path without crossing any symlink: its directory with
    // openat2(RESOLVE_NO_SYMLINKS) (or a component walk with O_NOFOLLOW on kernels without
    // openat2), then the name with O_NOFOLLOW. Only regular files are opened.
    Result<UniqueFd> open_for_hash(const RawEvent& event) const override;
    bool hashes_by_name() const override { return true; }

    std::size_t marks() const override;
    std::string object_at(int, const char*) const override { return {}; }  // reopened by path

    // How long an unpaired MOVED_FROM waits for its MOVED_TO. The kernel queues both inside
    // one rename(2), so only a read that returned between the two can split them.
    static constexpr std::chrono::milliseconds kMovePairWait{10};

private:
    using Clock = std::chrono::steady_clock;

    struct Watch {
        std::string path;
        bool access = false;  // IN_OPEN | IN_ACCESS requested
    };
    // A MOVED_FROM waiting for the MOVED_TO with the same cookie; `event` is the Delete it
    // becomes when none comes.
    struct PendingMove {
        std::uint32_t cookie = 0;
        RawEvent event;
        Clock::time_point deadline;
    };
    // The hasher's own accesses to one path: opens announced (and not yet seen), opens seen
    // (whose reads are ours until their IN_CLOSE_NOWRITE).
    struct SelfAccess {
        int announced = 0;
        int open = 0;
        Clock::time_point expires;
    };

    InotifySource() = default;

    void handle(const inotify_event& ev, std::string_view name, std::int64_t now_ns, std::int64_t boot_ns,
                EventSink& sink);
    bool is_self_access(std::uint32_t mask, const std::string& path);
    void flush_moves(EventSink& sink, Clock::time_point now, bool all);
    void flush_moves_at(EventSink& sink, const std::string& path);
    void emit_move_out(EventSink& sink, PendingMove&& move);
    void forget_tree(const std::string& path);  // rm every watch at or below `path`
    void forget_wd(int wd);
    void rename_tree_locked(const std::string& from, const std::string& to);
    bool parent_watched_locked(const std::string& path) const;

    // After an overflow the events still queued name directories by a map that lost its
    // renames: every event up to a marker is dropped (the agent's rescan, which walks after
    // the marker, reports what they changed). The marker is a write to a private pipe this
    // instance watches: its IN_MODIFY is queued behind everything before it.
    void start_resync(EventSink& sink);
    UniqueFd fd_;
    long max_queued_events_ = -1;  // at create(): this instance's queue length, for messages
    UniqueFd marker_read_, marker_write_;
    int marker_wd_ = -1;                // -1: no marker (then nothing is dropped after an overflow)
    bool resyncing_ = false;            // main thread: dropping events until the marker
    std::uint64_t resync_dropped_ = 0;  // main thread: events dropped by the current resync

    mutable std::mutex mu_;  // guards watches_, by_path_, self_ (the hasher reads them)
    std::unordered_map<int, Watch> watches_;
    std::map<std::string, int> by_path_;  // ordered: a subtree is one contiguous range
    mutable std::unordered_map<std::string, SelfAccess> self_;
    Clock::time_point next_sweep_{};  // guarded by mu_

    std::deque<PendingMove> moves_;  // main thread only
};

}  // namespace vigil::agent
