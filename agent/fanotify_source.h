// The fanotify watcher: FAN_CLASS_NOTIF with FID + DFID/name (+ target FID, + pidfd where
// the kernel has them). Directory handles map to paths, so each event arrives with its
// full path; object handles let the hasher reopen exactly the inode that was written
// (never a path that may meanwhile be a symlink).
//
// Marks: one filesystem mark (FAN_MARK_FILESYSTEM) per filesystem holding a watched tree,
// for creates, deletes, renames, attribute changes and close-after-write. Unlike marks on
// directories it covers a directory from the moment it exists, so `mkdir d; echo x > d/f`
// loses nothing however fast it runs. Events in directories outside the policy are
// dropped in user space, and the directory then gets an evictable ignore mark so the
// kernel stops queueing them; renames are never ignored, so a tree moved in is seen.
// Where the kernel refuses a filesystem mark (btrfs subvolumes, some FUSE), that
// filesystem falls back to inode marks on every watched directory. Opens and reads join
// the filesystem mark only for `watch: access` directory trees (whose new directories
// must be seen at once too); directories that want changes only then get an ignore mark
// for them at their first. A single file watched for access (/etc/shadow) needs no more
// than an inode mark on its directory, so reads elsewhere never reach us for it.
//
// Owns: the fanotify fd, one fd per filesystem for open_by_handle_at, the handle->path map.
// Thread: everything here runs on the agent's main thread, except open_object (hashers),
// which only reads the per-filesystem fds (fixed after marks are placed) under a lock.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "agent/fanotify_records.h"
#include "agent/raw_event.h"
#include "agent/watch_source.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace vigil::agent {

class FanotifySource final : public WatchSource {
public:
    // Probes the kernel's features, dropping optional ones it refuses (pidfd, target FID).
    // `queue_events`: the depth of the group's kernel queue (see kernel_queue_depth.h).
    static Result<std::unique_ptr<FanotifySource>> create(std::uint32_t queue_events);

    std::string_view name() const override { return "fanotify"; }
    int fd() const override { return fd_.get(); }
    bool has_pidfd() const override { return pidfd_; }

    // Marks the directory `dirfd` (path `path`); `access` adds open/read events.
    Result<void> watch_dir(int dirfd, const std::string& path, bool access) override;
    // A watched directory was renamed: its handle now maps (with everything below) to `to`.
    void rename_dir(const std::string& from, const std::string& to) override;

    // Reads until the queue is empty (the fd is non-blocking).
    Result<void> drain(EventSink& sink) override;

    // Opens the object of an event by handle: exactly the inode the event was about.
    // `quiet`: through the filesystem's quiet mount (below), so that the open and the
    // reads that follow are not reported back to us.
    Result<UniqueFd> open_object(const std::string& object, int flags, bool quiet = false) const;
    Result<UniqueFd> open_for_hash(const RawEvent& event) const override {
        return open_object(event.object, O_RDONLY | O_NONBLOCK | O_NOATIME, true);
    }

    std::size_t marks() const override { return marks_; }
    std::string object_at(int dirfd, const char* name) const override;
    bool sees_inside_new_dirs(const RawEvent& create) const override;
    void set_scope(DirScope scope) override { scope_ = std::move(scope); }
    std::uint64_t own_events_dropped() const override { return own_events_; }

private:
    FanotifySource() = default;
    // The path of a directory by handle: known, or resolved through the kernel and
    // checked against the scope (an out-of-scope directory is remembered and ignored).
    // `any_scope`: resolve even an out-of-scope directory (a rename's destination).
    std::string path_of(const std::string& dir_key, bool any_scope = false);
    // One sound event from drain(): path resolution, directory bookkeeping, RawEvents.
    // `pidfd` is borrowed (drain() closes it after this returns).
    void handle(const FanotifyRecord& rec, int pidfd, std::int64_t now, std::int64_t boot, EventSink& sink);
    DirWatch scope_of(const std::string& path) const { return scope_ ? scope_(path) : DirWatch::Modify; }
    void ignore_dir(int dirfd, const std::string& key);
    // Opens and reads reach us filesystem-wide: a directory that only wants changes
    // stops sending them after its first one.
    void ignore_accesses(const std::string& key);
    struct KnownDir;
    KnownDir& learn_dir(const std::string& key, const std::string& path, DirWatch watch);
    void forget_tree(const std::string& path);
    void mark_filesystem(int dirfd, const std::string& fsid, const std::string& path);
    bool mark_filesystem_accesses(int dirfd, const std::string& fsid);

    UniqueFd fd_;
    bool pidfd_ = false;
    bool target_fid_ = false;
    pid_t self_ = 0;
    std::size_t marks_ = 0;
    struct KnownDir {
        std::string path;
        DirWatch watch = DirWatch::Modify;
        bool inode_access = false;      // an inode mark for opens and reads (never ignore them)
        bool accesses_ignored = false;  // an ignore mark for opens and reads
    };
    std::unordered_map<std::string, KnownDir> dirs_;  // handle key -> directory in scope
    std::unordered_set<std::string> out_of_scope_;    // handle keys of ignored directories
    std::unordered_set<std::string> fs_marked_;       // fsids with a filesystem mark
    std::unordered_set<std::string> fs_access_;       // ... that includes opens and reads
    std::unordered_set<std::string> fs_refused_;      // fsids on inode marks instead
    DirScope scope_;
    mutable std::mutex mount_mu_;
    std::unordered_map<std::string, UniqueFd> mount_fds_;  // fsid (8 bytes) -> fd on that filesystem
    // fsid -> a private, detached clone of a mount of that filesystem carrying an ignore
    // mark for opens and reads: the hasher opens files through it, and the kernel drops
    // those events at the source instead of queueing them for the reader to read and
    // discard (one more event per hashed write, each with its pidfd). Missing when the
    // kernel refuses (open_tree needs Linux >= 5.2): the reader drops them by pid then.
    std::unordered_map<std::string, UniqueFd> quiet_mount_fds_;
    std::uint64_t own_events_ = 0;  // main thread
};

}  // namespace vigil::agent
