// The fanotify watcher: FAN_CLASS_NOTIF with FID + DFID/name (+ target FID, + pidfd where
// the kernel has them), inode marks on every watched directory (and on the parents of
// single-file rules) with FAN_EVENT_ON_CHILD. Directory handles map to paths, so each
// event arrives with its full path; object handles let the hasher reopen exactly the
// inode that was written (never a path that may meanwhile be a symlink).
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

#include "agent/raw_event.h"
#include "agent/watch_source.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace vigil::agent {

class FanotifySource final : public WatchSource {
public:
    // Probes the kernel's features, dropping optional ones it refuses (pidfd, target FID).
    static Result<std::unique_ptr<FanotifySource>> create();

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
    Result<UniqueFd> open_object(const std::string& object, int flags) const;
    Result<UniqueFd> open_for_hash(const RawEvent& event) const override {
        return open_object(event.object, O_RDONLY | O_NONBLOCK | O_NOATIME);
    }

    std::size_t marks() const override { return marks_; }
    std::string object_at(int dirfd, const char* name) const override;

private:
    FanotifySource() = default;
    std::string path_of(const std::string& dir_key) const;

    UniqueFd fd_;
    bool pidfd_ = false;
    bool target_fid_ = false;
    pid_t self_ = 0;
    std::size_t marks_ = 0;
    std::unordered_map<std::string, std::string> dir_paths_;  // handle key -> path
    mutable std::mutex mount_mu_;
    std::unordered_map<std::string, UniqueFd> mount_fds_;  // fsid (8 bytes) -> fd on that filesystem
};

}  // namespace vigil::agent
