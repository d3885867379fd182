#include "agent/fanotify_source.h"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "agent/attribution.h"
#include "agent/fanotify_records.h"
#include "agent/kernel_queue_depth.h"
#include "agent/log.h"
#include "common/escape.h"
#include "common/rule_match.h"
#include "common/sys.h"
#include "common/walker.h"

namespace vigil::agent {
namespace {

constexpr std::uint64_t kModifyMask =
    FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_RENAME | FAN_ONDIR | FAN_EVENT_ON_CHILD;
constexpr std::uint64_t kAccessMask = FAN_OPEN | FAN_ACCESS;
// Filesystem marks: no FAN_EVENT_ON_CHILD (the whole filesystem is reported anyway).
constexpr std::uint64_t kFilesystemMask =
    FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_RENAME | FAN_ONDIR;
// What an out-of-scope directory stops sending us; FAN_RENAME stays (see the header).
constexpr std::uint64_t kIgnoreMask =
    FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_ONDIR | FAN_EVENT_ON_CHILD;

std::int64_t realtime_ns() { return realtime_now_ns(); }

// linux/mount.h (not included: it clashes with glibc's sys/mount.h on Debian 12).
constexpr unsigned kOpenTreeClone = 1;
constexpr unsigned kOpenTreeCloexec = O_CLOEXEC;

// A directory fd on a detached clone of the mount `dirfd` is on, with opens and reads
// through that clone ignored by the group `fan_fd`; empty if the kernel refuses a step.
// open_tree gives an O_PATH fd, which fanotify_mark takes only as a directory to look up
// "." in, and open_by_handle_at not at all: hence the directory opened through it, which
// also keeps the clone (and its mark) alive after the O_PATH fd is closed.
UniqueFd quiet_mount(int fan_fd, int dirfd) {
    const long m = ::syscall(SYS_open_tree, dirfd, "", kOpenTreeClone | kOpenTreeCloexec | AT_EMPTY_PATH);
    if (m < 0) return UniqueFd();
    const UniqueFd clone(static_cast<int>(m));
    if (::fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_MOUNT | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY,
                        kAccessMask, clone.get(), ".") < 0)
        return UniqueFd();
    return UniqueFd(::openat(clone.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

}  // namespace

Result<std::unique_ptr<FanotifySource>> FanotifySource::create(std::uint32_t queue_events) {
    std::unique_ptr<FanotifySource> src(new FanotifySource());
    const KernelQueueDepth depth(queue_events);  // for the fanotify_init calls below
    src->self_ = ::getpid();
    const unsigned base = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID;
    struct Try {
        unsigned extra;
        bool pidfd;
        bool target;
    };
    // Optional features first; fall back on EINVAL as fapolicyd does (never by version).
    const Try tries[] = {{FAN_REPORT_TARGET_FID | FAN_REPORT_PIDFD, true, true},
                         {FAN_REPORT_PIDFD, true, false},
                         {FAN_REPORT_TARGET_FID, false, true},
                         {0, false, false}};
    int last_errno = 0;
    for (const auto& t : tries) {
        const int fd = ::fanotify_init(base | t.extra, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
        if (fd >= 0) {
            src->fd_.reset(fd);
            src->pidfd_ = t.pidfd;
            src->target_fid_ = t.target;
            return src;
        }
        last_errno = errno;
        if (last_errno != EINVAL) break;
    }
    return Error::from_errno(last_errno, "fanotify_init (needs root and Linux >= 5.9 with FID reporting)");
}

void FanotifySource::mark_filesystem(int dirfd, const std::string& fsid, const std::string& path) {
    const bool forced_inode_marks = std::getenv("VIGIL_FANOTIFY_INODE_MARKS") != nullptr;
    if (!forced_inode_marks &&
        ::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kFilesystemMask, dirfd, nullptr) == 0) {
        fs_marked_.insert(fsid);
        return;
    }
    const int err = errno;
    fs_refused_.insert(fsid);
    if (!forced_inode_marks)
        log_warning("fanotify: no filesystem mark for the filesystem of '" + escape_bytes(path) + "' (" +
                    errno_text(err) +
                    "): marking each directory instead; what is written in a directory in the instant "
                    "after its creation is then found by a scan, without its actor");
}

bool FanotifySource::mark_filesystem_accesses(int dirfd, const std::string& fsid) {
    if (fs_access_.count(fsid) != 0) return true;
    if (::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kAccessMask, dirfd, nullptr) < 0) return false;
    fs_access_.insert(fsid);
    return true;
}

Result<void> FanotifySource::watch_dir(int dirfd, const std::string& path, bool access) {
    struct statfs sf {};
    if (::fstatfs(dirfd, &sf) < 0) return Error::from_errno(errno, "fstatfs '" + escape_bytes(path) + "'");
    std::vector<char> buf(sizeof(file_handle) + MAX_HANDLE_SZ);
    auto* fh = reinterpret_cast<file_handle*>(buf.data());
    fh->handle_bytes = MAX_HANDLE_SZ;
    int mount_id = 0;
    if (::name_to_handle_at(dirfd, "", fh, &mount_id, AT_EMPTY_PATH) < 0)
        return Error::from_errno(errno, "name_to_handle_at '" + escape_bytes(path) + "'");
    const std::string fsid(reinterpret_cast<const char*>(&sf.f_fsid), 8);
    {
        const std::scoped_lock lock(mount_mu_);
        if (mount_fds_.count(fsid) == 0) {
            const int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
            if (dup < 0) return Error::from_errno(errno, "dup '" + escape_bytes(path) + "'");
            mount_fds_.emplace(fsid, UniqueFd(dup));
            if (UniqueFd quiet = quiet_mount(fd_.get(), dirfd)) quiet_mount_fds_.emplace(fsid, std::move(quiet));
        }
    }
    if (fs_marked_.count(fsid) == 0 && fs_refused_.count(fsid) == 0) mark_filesystem(dirfd, fsid, path);
    const bool filesystem_mark = fs_marked_.count(fsid) != 0;
    const std::string key = fanotify_handle_key(&sf.f_fsid, fh->handle_type, fh->f_handle, fh->handle_bytes);
    const DirWatch watch = scope_of(path);
    // Ignored before (say, outside the tree until it was moved in): lift the ignore.
    const auto known = dirs_.find(key);
    const bool accesses_ignored = known != dirs_.end() && known->second.accesses_ignored;
    if ((out_of_scope_.erase(key) != 0 || (access && accesses_ignored)) && filesystem_mark)
        (void)::fanotify_mark(fd_.get(), FAN_MARK_REMOVE | FAN_MARK_IGNORE, kIgnoreMask | kAccessMask, dirfd, nullptr);
    std::uint64_t mask = filesystem_mark ? 0 : kModifyMask;
    // Directory trees watched for access get opens and reads from the filesystem mark, so
    // a new directory's first reads are seen; anything else from its own inode mark.
    const bool inode_access =
        access && !(filesystem_mark && watch == DirWatch::Access && mark_filesystem_accesses(dirfd, fsid));
    if (inode_access) mask |= kAccessMask | FAN_EVENT_ON_CHILD | FAN_ONDIR;
    if (mask != 0 && ::fanotify_mark(fd_.get(), FAN_MARK_ADD, mask, dirfd, nullptr) < 0)
        return Error::from_errno(errno, "fanotify_mark '" + escape_bytes(path) + "'");
    KnownDir& dir = learn_dir(key, path, watch == DirWatch::None ? DirWatch::Modify : watch);
    if (inode_access) dir.inode_access = true;
    if (access) dir.accesses_ignored = false;
    return {};
}

FanotifySource::KnownDir& FanotifySource::learn_dir(const std::string& key, const std::string& path, DirWatch watch) {
    // Count directories, not calls: a directory marked again (rescan, two rules) is one.
    auto [it, inserted] = dirs_.try_emplace(key);
    if (inserted) ++marks_;
    it->second.path = path;
    it->second.watch = watch;
    return it->second;
}

void FanotifySource::forget_tree(const std::string& path) {
    for (auto it = dirs_.begin(); it != dirs_.end();) {
        if (path_is_under(it->second.path, path)) {
            it = dirs_.erase(it);
            --marks_;
        } else {
            ++it;
        }
    }
}

void FanotifySource::ignore_dir(int dirfd, const std::string& key) {
    // Bounded: past the bound the set starts over and directories are resolved once more.
    if (out_of_scope_.size() >= 100'000) out_of_scope_.clear();
    out_of_scope_.insert(key);
    // Evictable: the kernel may drop it under memory pressure (we then ignore in user
    // space again). Renames stay visible: a directory moved into a tree must be seen.
    const std::string fsid = key.substr(0, 8);
    if (fs_marked_.count(fsid) == 0) return;
    const std::uint64_t mask = kIgnoreMask | (fs_access_.count(fsid) != 0 ? kAccessMask : 0);
    (void)::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_IGNORE_SURV | FAN_MARK_EVICTABLE, mask, dirfd, nullptr);
}

void FanotifySource::ignore_accesses(const std::string& key) {
    const auto it = dirs_.find(key);
    if (it == dirs_.end()) return;
    KnownDir& dir = it->second;
    if (dir.watch == DirWatch::Access || dir.inode_access || dir.accesses_ignored) return;
    if (fs_access_.count(key.substr(0, 8)) == 0) return;
    dir.accesses_ignored = true;  // tried once; the agent filters whatever still arrives
    auto fd = open_object(key, O_RDONLY | O_DIRECTORY);
    if (!fd) return;
    (void)::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_IGNORE_SURV | FAN_MARK_EVICTABLE,
                          kAccessMask | FAN_EVENT_ON_CHILD | FAN_ONDIR, fd->get(), nullptr);
}

bool FanotifySource::sees_inside_new_dirs(const RawEvent& create) const {
    return create.object.size() > 8 && fs_marked_.count(create.object.substr(0, 8)) != 0;
}

std::string FanotifySource::object_at(int dirfd, const char* name) const {
    struct statfs sf {};
    if (::fstatfs(dirfd, &sf) < 0) return {};
    std::vector<char> buf(sizeof(file_handle) + MAX_HANDLE_SZ);
    auto* fh = reinterpret_cast<file_handle*>(buf.data());
    fh->handle_bytes = MAX_HANDLE_SZ;
    int mount_id = 0;
    if (::name_to_handle_at(dirfd, name, fh, &mount_id, 0) < 0) return {};  // 0: never follow a link
    return fanotify_handle_key(&sf.f_fsid, fh->handle_type, fh->f_handle, fh->handle_bytes);
}

void FanotifySource::rename_dir(const std::string& from, const std::string& to) {
    for (auto& [key, dir] : dirs_) {
        if (path_is_under(dir.path, from)) dir.path.replace(0, from.size(), to);
    }
}

std::string FanotifySource::path_of(const std::string& dir_key, bool any_scope) {
    const auto it = dirs_.find(dir_key);
    if (it != dirs_.end()) return it->second.path;
    if (out_of_scope_.count(dir_key) != 0 && !any_scope) return {};
    // A directory we have not met: elsewhere on a marked filesystem, or one that moved in
    // and out quickly. Ask the kernel where it is; gone means it was never in a tree
    // (every directory in one is known), so there is nothing to name it by.
    auto fd = open_object(dir_key, O_RDONLY | O_DIRECTORY);
    if (!fd) return {};
    std::string target(4096, '\0');
    const std::string link = "/proc/self/fd/" + std::to_string(fd->get());
    const ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
    if (n <= 0 || target[0] != '/') return {};
    target.resize(static_cast<std::size_t>(n));
    const DirWatch watch = scope_of(target);
    if (watch != DirWatch::None) {
        learn_dir(dir_key, target, watch);
        return target;
    }
    if (out_of_scope_.count(dir_key) == 0) ignore_dir(fd->get(), dir_key);
    return any_scope ? target : std::string();
}

Result<UniqueFd> FanotifySource::open_object(const std::string& object, int flags, bool quiet) const {
    if (object.size() < 8 + sizeof(int)) return Error::msg("no object handle in the event");
    const std::string fsid = object.substr(0, 8);
    const std::size_t bytes = object.size() - 8 - sizeof(int);
    if (bytes > MAX_HANDLE_SZ) return Error::msg("object handle too long");
    alignas(file_handle) char buf[sizeof(file_handle) + MAX_HANDLE_SZ];
    auto* fh = reinterpret_cast<file_handle*>(buf);
    fh->handle_bytes = static_cast<unsigned>(bytes);
    std::memcpy(&fh->handle_type, object.data() + 8, sizeof(int));
    std::memcpy(fh->f_handle, object.data() + 8 + sizeof(int), bytes);
    int mount_fd = -1;
    {
        const std::scoped_lock lock(mount_mu_);
        const auto it = mount_fds_.find(fsid);
        if (it == mount_fds_.end()) return Error::msg("object on an unwatched filesystem");
        mount_fd = it->second.get();
        if (quiet) {
            const auto q = quiet_mount_fds_.find(fsid);
            if (q != quiet_mount_fds_.end()) mount_fd = q->second.get();
        }
    }
    const int fd = ::open_by_handle_at(mount_fd, fh, flags | O_CLOEXEC);
    if (fd < 0) return Error::from_errno(errno, "open_by_handle_at");
    return UniqueFd(fd);
}

Result<void> FanotifySource::drain(EventSink& sink) {
    alignas(fanotify_event_metadata) static thread_local char buf[256 * 1024];
    for (;;) {
        const ssize_t len = retry_eintr([&] { return ::read(fd_.get(), buf, sizeof buf); });
        if (len < 0) {
            if (errno == EAGAIN) return {};
            return Error::from_errno(errno, "read fanotify");
        }
        if (len == 0) return {};
        const std::int64_t now = realtime_ns();
        const std::int64_t boot = boottime_now_ns();
        const auto bytes = std::as_bytes(std::span<const char>(buf, static_cast<std::size_t>(len)));
        const auto stats = parse_fanotify_buffer(bytes, [&](FanotifyRecord& rec) {
            // The kernel's fds are ours from here, sound record or not: closed either way.
            const UniqueFd object_fd(rec.fd);  // FAN_NOFD in FID mode
            const UniqueFd pidfd(rec.pidfd);
            if (!rec.problem.empty()) return;  // counted by the parser, reported below
            handle(rec, pidfd.get(), now, boot, sink);
        });
        if (stats.wrong_version)
            return Error::msg("fanotify metadata version " + std::to_string(stats.version) + " is not supported");
        if (stats.rejected != 0) {
            // Never silent (R1): what the records said is unknown, so it is an overflow —
            // a stored, counted event, and the rescan that finds what they were about.
            sink.on_overflow(Source::Fanotify, "fanotify: " + std::to_string(stats.rejected) +
                                                   " malformed event record(s) rejected (" + stats.first_problem + ")");
        }
    }
}

void FanotifySource::handle(const FanotifyRecord& rec, int pidfd, std::int64_t now, std::int64_t boot,
                            EventSink& sink) {
    if ((rec.mask & FAN_Q_OVERFLOW) != 0) {
        sink.on_overflow(Source::Fanotify, "fanotify queue overflow");
        // The renames that kept dirs_'s paths true may be among the events lost: forget
        // them all and have every tree marked again, which learns each directory under the
        // name it has now (and lifts the ignore of one moved into a tree meanwhile). A
        // directory moved out meanwhile is no longer named by its old path.
        dirs_.clear();
        out_of_scope_.clear();
        marks_ = 0;
        sink.on_watch_names_stale();
        return;
    }
    const std::string& dir_key = rec.dir_key;
    const std::string& name = rec.name;
    const std::string& object = rec.object;
    const std::string& old_dir_key = rec.old_dir_key;
    const std::string& old_name = rec.old_name;
    const std::string& new_dir_key = rec.new_dir_key;
    const std::string& new_name = rec.new_name;
    if (rec.pid == self_) {  // our own walking (and hashing, where no quiet mount exists)
        ++own_events_;
        return;
    }

    auto make = [&](Action action) {
        RawEvent e;
        e.time_ns = now;
        e.boot_ns = boot;
        e.action = action;
        e.source = Source::Fanotify;
        e.is_dir = (rec.mask & FAN_ONDIR) != 0;
        e.pid = rec.pid;
        e.pidfd = pidfd;
        e.object = object;
        return e;
    };
    auto full_path = [&](const std::string& key, const std::string& entry, bool any_scope = false) {
        std::string dir = path_of(key, any_scope);
        if (dir.empty()) return dir;
        if (entry.empty() || entry == ".") return dir;
        return join_path(dir, entry);
    };
    const std::string path = dir_key.empty() ? std::string() : full_path(dir_key, name);
    const std::uint64_t m = rec.mask;
    const bool on_dir = (m & FAN_ONDIR) != 0;
    if ((m & FAN_RENAME) != 0) {
        RawEvent e = make(Action::Rename);
        e.old_path = full_path(old_dir_key, old_name);
        // Where something went is worth knowing even outside the trees; the agent
        // records it only when the old or the new name is watched.
        e.path = full_path(new_dir_key, new_name, !e.old_path->empty());
        if (on_dir && !object.empty()) {
            // The directory's handle follows it: in scope, under its new name;
            // moved out, it and everything below it are no longer ours.
            const DirWatch watch = e.path.empty() ? DirWatch::None : scope_of(e.path);
            if (watch != DirWatch::None) {
                learn_dir(object, e.path, watch);
            } else if (!e.old_path->empty()) {
                forget_tree(*e.old_path);
            }
        }
        if (!e.path.empty() || !e.old_path->empty()) sink.on_event(std::move(e));
    }
    if (path.empty()) return;  // a directory we never knew: nothing to name it by
    if (on_dir && !object.empty()) {
        // A new directory is known before the next event, which may be inside it.
        if ((m & FAN_CREATE) != 0 && fs_marked_.count(object.substr(0, 8)) != 0) {
            const DirWatch watch = scope_of(path);
            if (watch != DirWatch::None) learn_dir(object, path, watch);
        }
        if ((m & FAN_DELETE) != 0 && dirs_.erase(object) != 0) --marks_;
    }
    if ((m & kAccessMask) != 0) ignore_accesses(dir_key);
    const std::pair<std::uint64_t, Action> order[] = {
        {FAN_CREATE, Action::Create}, {FAN_OPEN, Action::Open},          {FAN_ACCESS, Action::Read},
        {FAN_ATTRIB, Action::Attrib}, {FAN_CLOSE_WRITE, Action::Modify}, {FAN_DELETE, Action::Delete},
    };
    for (const auto& [bit, action] : order) {
        if ((m & bit) == 0) continue;
        RawEvent e = make(action);
        e.path = path;
        sink.on_event(std::move(e));
    }
}

}  // namespace vigil::agent
