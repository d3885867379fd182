// What the agent needs from a watcher (fanotify or inotify). Implementations run on the
// agent's main thread, except open_for_hash, which the hasher calls.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "agent/raw_event.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace vigil::agent {

// What a directory's events are wanted for: none (outside every tree, or excluded),
// changes only, or changes and accesses (a `watch: access` tree).
enum class DirWatch { None, Modify, Access };

class WatchSource {
public:
    virtual ~WatchSource() = default;
    virtual std::string_view name() const = 0;  // "fanotify" | "inotify"
    virtual int fd() const = 0;                 // pollable, non-blocking
    virtual bool has_pidfd() const = 0;
    // Watches the directory `dirfd` (at `path`) and events on its children; `access` adds
    // opens and reads. Errors name the path; a full watch table says which sysctl to raise.
    virtual Result<void> watch_dir(int dirfd, const std::string& path, bool access) = 0;
    // A watched directory was renamed: it and everything below it now live under `to`.
    virtual void rename_dir(const std::string& from, const std::string& to) = 0;
    // Reads until the kernel queue is empty, handing each event to the sink.
    virtual Result<void> drain(EventSink& sink) = 0;
    // Opens what an event was about, for hashing, without ever following a symlink:
    // fanotify by the object's handle, inotify by path relative to a directory fd.
    virtual Result<UniqueFd> open_for_hash(const RawEvent& event) const = 0;
    virtual std::size_t marks() const = 0;
    // What open_for_hash needs, besides the path, to reopen `name` in `dirfd` later:
    // fanotify its file handle, inotify nothing (it reopens by path).
    virtual std::string object_at(int dirfd, const char* name) const = 0;
    // Whether events inside a directory created after the marks reach us from its first
    // moment (a filesystem-wide mark), so the agent need not scan it for what it missed.
    virtual bool sees_inside_new_dirs(const RawEvent& /*create*/) const { return false; }
    // Whether open_for_hash finds the file by its name (inotify) rather than by identity
    // (fanotify's handle): a file renamed before its hash was taken is then not found.
    virtual bool hashes_by_name() const { return false; }
    // Decides, for a directory the watcher has not met (a filesystem-wide mark reports the
    // whole filesystem), which events in it can matter to the policy.
    using DirScope = std::function<DirWatch(const std::string& dir_path)>;
    virtual void set_scope(DirScope /*scope*/) {}
    // Events the kernel reported that the agent itself caused (its hashing, its walks),
    // read and dropped; main thread. For `vigil status` and the tests.
    virtual std::uint64_t own_events_dropped() const { return 0; }
};

}  // namespace vigil::agent
