// The inotify watcher (see inotify_source.h for what it owns and why it exists).
//
//   kernel inotify fd -> drain(): records -> handle(): wd -> path, MOVED_FROM/TO pairing,
//   self-access filter -> RawEvent (pid 0) -> EventSink (the agent)
//
// Record format (inotify(7)): struct inotify_event {wd, mask, cookie, len} followed by
// `len` bytes of name, NUL-padded; the name is empty for events about the watched
// directory itself. A read returns whole records only.
#include "agent/inotify_source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "agent/attribution.h"
#include "agent/inotify_records.h"
#include "agent/log.h"
#include "common/escape.h"
#include "common/event.h"
#include "common/rule_match.h"
#include "common/sha256.h"
#include "common/sys.h"
#include "common/walker.h"

namespace vigil::agent {
namespace {

// What a `watch: modify` rule records, plus the directory's own removal or move (the
// parent's watch reports those with the name, except for a rule's root, which has none).
constexpr std::uint32_t kModifyMask =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF;
// `watch: access` adds opens and reads. IN_CLOSE_NOWRITE is never recorded: it ends the
// span in which reads of a file the hasher opened are the hasher's (is_self_access).
constexpr std::uint32_t kAccessMask = IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE;
// IN_ONLYDIR: refuse anything but a directory. IN_EXCL_UNLINK: no events for children
// after they are unlinked (a deleted temp file still open is no longer in the tree).
// IN_MASK_ADD: a directory watched for two rules (a single-file rule's parent) keeps the
// union of both masks instead of whichever came last.
constexpr std::uint32_t kWatchFlags = IN_ONLYDIR | IN_EXCL_UNLINK | IN_MASK_ADD;

// An announced self-open whose IN_OPEN never comes (the directory was renamed meanwhile)
// must not hide someone else's open forever; a span of our own reads is renewed by each
// read event, so only a span whose close was lost ends this way.
constexpr auto kSelfAccessTtl = std::chrono::seconds(10);

constexpr const char* kMaxWatches = "/proc/sys/fs/inotify/max_user_watches";
constexpr const char* kMaxInstances = "/proc/sys/fs/inotify/max_user_instances";
constexpr const char* kMaxQueued = "/proc/sys/fs/inotify/max_queued_events";

std::optional<long> read_sysctl(const char* path) {
    const int raw = ::open(path, O_RDONLY | O_CLOEXEC);
    if (raw < 0) return std::nullopt;
    const UniqueFd fd(raw);
    char buf[32] = {};
    const ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf - 1); });
    if (n <= 0) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(buf, &end, 10);
    if (end == buf || errno != 0) return std::nullopt;
    return value;
}

std::string sysctl_text(const char* path) {
    const auto value = read_sysctl(path);
    return value ? std::to_string(*value) : std::string("unknown");
}

// The directory of an event, opened O_PATH (no open event of its own) without crossing a
// symlink anywhere on the way: a directory swapped for a link after the event must not
// lead the hasher elsewhere.
Result<UniqueFd> open_dir_no_symlinks(const std::string& dir) {
    if (dir.empty() || dir.front() != '/') return Error::msg("not an absolute path: '" + escape_bytes(dir) + "'");
    auto root = open_at(AT_FDCWD, "/", O_PATH | O_DIRECTORY, "/");
    if (!root) return root.error();
    return open_dir_beneath(root->get(), std::string_view(dir).substr(1), O_PATH);
}

}  // namespace

Result<std::unique_ptr<InotifySource>> InotifySource::create() {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == EMFILE)
            return Error::msg(
                "inotify_init1: too many inotify instances for this user (fs.inotify.max_user_instances = " +
                sysctl_text(kMaxInstances) +
                ") or too many open files; raise it with `sysctl fs.inotify.max_user_instances=N`");
        return Error::from_errno(err, "inotify_init1");
    }
    std::unique_ptr<InotifySource> src(new InotifySource());
    src->fd_.reset(fd);
    // The queue length is fixed when the instance is created: this is the one we live with.
    src->max_queued_events_ = read_sysctl(kMaxQueued).value_or(-1);
    int marker[2] = {-1, -1};
    if (::pipe2(marker, O_CLOEXEC | O_NONBLOCK) == 0) {
        src->marker_read_.reset(marker[0]);
        src->marker_write_.reset(marker[1]);
        const std::string proc = "/proc/self/fd/" + std::to_string(marker[1]);
        src->marker_wd_ = ::inotify_add_watch(fd, proc.c_str(), IN_MODIFY);
    }
    if (src->marker_wd_ < 0)
        log_warning("inotify: no overflow marker (" + std::string(std::strerror(errno)) +
                    "): after a queue overflow, events named by stale directory paths may be recorded until the "
                    "rescan corrects them");
    return src;
}

Result<void> InotifySource::watch_dir(int dirfd, const std::string& path, bool access) {
    // The magic link names exactly the inode `dirfd` holds: the directory the caller opened
    // (beneath its root, without symlinks) is the one watched, even if `path` changed since.
    const std::string proc = "/proc/self/fd/" + std::to_string(dirfd);
    const std::uint32_t mask = kModifyMask | kWatchFlags | (access ? kAccessMask : 0U);
    const int wd = ::inotify_add_watch(fd_.get(), proc.c_str(), mask);
    if (wd < 0) {
        const int err = errno;
        if (err == ENOSPC) {
            // The limit counts the watches of every process of this user, so name the sysctl
            // and its value, not just "no space left on device".
            const auto limit = read_sysctl(kMaxWatches);
            const long suggested = std::max(limit.value_or(0) * 2, 524288L);
            const std::string limit_text = limit ? std::to_string(*limit) : std::string("unknown");
            return Error::msg("cannot watch '" + escape_bytes(path) +
                              "': the inotify watch limit is exhausted (fs.inotify.max_user_watches = " + limit_text +
                              ", shared by every process of this user; this agent holds " + std::to_string(marks()) +
                              "); raise it with `sysctl fs.inotify.max_user_watches=" + std::to_string(suggested) +
                              "` (and in /etc/sysctl.d/ to keep it; in a container, user.max_inotify_watches too)");
        }
        return Error::from_errno(err, "inotify_add_watch '" + escape_bytes(path) + "'");
    }
    const std::scoped_lock lock(mu_);
    Watch& watch = watches_[wd];
    if (!watch.path.empty() && watch.path != path) {
        // The same directory under a new name (renamed, or reached again by a rescan).
        const auto old = by_path_.find(watch.path);
        if (old != by_path_.end() && old->second == wd) by_path_.erase(old);
    }
    watch.path = path;
    watch.access = watch.access || access;
    by_path_[path] = wd;
    return {};
}

void InotifySource::rename_dir(const std::string& from, const std::string& to) {
    const std::scoped_lock lock(mu_);
    rename_tree_locked(from, to);
}

void InotifySource::rename_tree_locked(const std::string& from, const std::string& to) {
    std::vector<std::pair<std::string, int>> moved;
    // by_path_ is ordered, so everything that starts with `from` is one range; path_is_under
    // then keeps whole components only ("/a/b" moves "/a/b/c", not "/a/bc").
    for (auto it = by_path_.lower_bound(from); it != by_path_.end() && it->first.compare(0, from.size(), from) == 0;) {
        if (!path_is_under(it->first, from)) {
            ++it;
            continue;
        }
        moved.emplace_back(to + it->first.substr(from.size()), it->second);
        it = by_path_.erase(it);
    }
    for (auto& [path, wd] : moved) {
        watches_[wd].path = path;
        by_path_[path] = wd;
    }
}

void InotifySource::forget_tree(const std::string& path) {
    const std::scoped_lock lock(mu_);
    for (auto it = by_path_.lower_bound(path); it != by_path_.end() && it->first.compare(0, path.size(), path) == 0;) {
        if (!path_is_under(it->first, path)) {
            ++it;
            continue;
        }
        // The kernel answers with IN_IGNORED for each; by then the wd is unknown and skipped.
        ::inotify_rm_watch(fd_.get(), it->second);
        watches_.erase(it->second);
        it = by_path_.erase(it);
    }
}

void InotifySource::forget_wd(int wd) {
    const std::scoped_lock lock(mu_);
    const auto it = watches_.find(wd);
    if (it == watches_.end()) return;
    const auto by_path = by_path_.find(it->second.path);
    if (by_path != by_path_.end() && by_path->second == wd) by_path_.erase(by_path);
    watches_.erase(it);
}

bool InotifySource::parent_watched_locked(const std::string& path) const {
    return path != "/" && by_path_.count(dir_of(path)) != 0;
}

std::size_t InotifySource::marks() const {
    const std::scoped_lock lock(mu_);
    return watches_.size();
}

Result<UniqueFd> InotifySource::open_for_hash(const RawEvent& event) const {
    const std::string& path = event.path;
    const auto slash = path.rfind('/');
    if (slash == std::string::npos || slash + 1 >= path.size())
        return Error::msg("no file name in '" + escape_bytes(path) + "'");
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    const std::string name = path.substr(slash + 1);
    auto dirfd = open_dir_no_symlinks(dir);
    if (!dirfd) return dirfd.error();
    // Look before opening: opening a device or a FIFO can have effects of its own. The
    // hasher checks S_ISREG again on the fd it reads.
    struct stat st {};
    if (::fstatat(dirfd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return Error::from_errno(errno, "stat '" + escape_bytes(path) + "'");
    if (S_ISLNK(st.st_mode)) return Error::msg("'" + escape_bytes(path) + "' is a symbolic link: not followed");
    if (!S_ISREG(st.st_mode)) return Error{make_error_code(HashErrc::not_regular_file), escape_bytes(path)};

    // In an access-watched directory our open and reads come back as IN_OPEN/IN_ACCESS
    // with no pid to tell them from anyone else's: announce the open before making it, so
    // drain() can drop exactly one IN_OPEN of this path and the reads up to its close.
    bool announced = false;
    {
        const std::scoped_lock lock(mu_);
        const auto by_path = by_path_.find(dir);
        const auto watch = by_path == by_path_.end() ? watches_.end() : watches_.find(by_path->second);
        if (watch != watches_.end() && watch->second.access) {
            SelfAccess& self = self_[path];
            ++self.announced;
            self.expires = Clock::now() + kSelfAccessTtl;
            announced = true;
        }
    }
    constexpr int kFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
    // O_NOATIME needs ownership or CAP_FOWNER; without it, read as any reader would.
    auto fd = open_at(dirfd->get(), name.c_str(), kFlags | O_NOATIME, escape_bytes(path));
    if (!fd && fd.error().code == std::errc::operation_not_permitted)
        fd = open_at(dirfd->get(), name.c_str(), kFlags, escape_bytes(path));
    if (!fd && announced) {
        // No open, no IN_OPEN: withdraw the announcement.
        const std::scoped_lock lock(mu_);
        const auto it = self_.find(path);
        if (it != self_.end() && it->second.announced > 0 && --it->second.announced == 0 && it->second.open == 0)
            self_.erase(it);
    }
    return fd;
}

bool InotifySource::is_self_access(std::uint32_t mask, const std::string& path) {
    const std::scoped_lock lock(mu_);
    if (self_.empty()) return false;
    const auto now = Clock::now();
    // Sweep expired announcements at most every 100 ms: sweeping on every event made a
    // burst of hashes quadratic (the realtime benchmark's reader fell to 2.4k events/s).
    if (now >= next_sweep_) {
        for (auto it = self_.begin(); it != self_.end();)
            it = it->second.expires < now ? self_.erase(it) : std::next(it);
        next_sweep_ = now + std::chrono::milliseconds(100);
    }
    const auto it = self_.find(path);
    if (it == self_.end()) return false;
    if (it->second.expires < now) {  // expired, not swept yet
        self_.erase(it);
        return false;
    }
    // Counts, not identities: with no pid, an open by someone else racing ours may be the
    // one dropped, but as many opens are recorded as others made.
    SelfAccess& self = it->second;
    bool ours = false;
    if ((mask & IN_OPEN) != 0 && self.announced > 0) {
        --self.announced;
        ++self.open;
        ours = true;
    } else if ((mask & IN_ACCESS) != 0 && self.open > 0) {
        ours = true;
    } else if ((mask & IN_CLOSE_NOWRITE) != 0 && self.open > 0) {
        --self.open;
        ours = true;
    }
    if (ours) self.expires = now + kSelfAccessTtl;
    if (self.announced == 0 && self.open == 0) self_.erase(it);
    return ours;
}

Result<void> InotifySource::drain(EventSink& sink) {
    // 64 KiB holds at least 200 records of the longest name; a read never splits a record.
    alignas(inotify_event) std::byte buf[64 * 1024];
    for (;;) {
        const ssize_t n = retry_eintr([&] { return ::read(fd_.get(), buf, sizeof buf); });
        if (n < 0) {
            if (errno != EAGAIN) return Error::from_errno(errno, "read inotify");
            if (moves_.empty()) return {};
            // Drained, but a MOVED_FROM still waits for its MOVED_TO: the kernel queues the two
            // within one rename(2), so if it comes at all it comes within kMovePairWait.
            // Waiting here (not until some later drain) bounds the wait even when no other
            // event ever wakes the agent again.
            const auto now = Clock::now();
            const auto first = moves_.front().deadline;  // arrival order: earliest deadline first
            if (now >= first) {
                flush_moves(sink, now, false);
                continue;
            }
            pollfd pfd{fd_.get(), POLLIN, 0};
            const auto wait = std::chrono::ceil<std::chrono::milliseconds>(first - now);
            if (retry_eintr([&] { return ::poll(&pfd, 1, static_cast<int>(wait.count())); }) < 0)
                return Error::from_errno(errno, "poll inotify");
            continue;  // more to read, or the deadline has passed
        }
        const std::int64_t now_ns = realtime_now_ns();
        const std::int64_t boot_ns = boottime_now_ns();
        const auto bytes = std::span<const std::byte>(buf, static_cast<std::size_t>(n));
        const auto stats = parse_inotify_buffer(
            bytes, [&](const inotify_event& ev, std::string_view name) { handle(ev, name, now_ns, boot_ns, sink); });
        if (stats.rejected != 0) {
            // Never silent (R1): what the records said is unknown, so it is an overflow —
            // a stored, counted event, and the rescan that finds what they were about.
            sink.on_overflow(Source::Inotify, "inotify: " + std::to_string(stats.rejected) +
                                                  " malformed event record(s) rejected (" + stats.first_problem + ")");
        }
    }
}

void InotifySource::flush_moves(EventSink& sink, Clock::time_point now, bool all) {
    while (!moves_.empty() && (all || moves_.front().deadline <= now)) {
        PendingMove move = std::move(moves_.front());
        moves_.pop_front();
        emit_move_out(sink, std::move(move));
    }
}

void InotifySource::flush_moves_at(EventSink& sink, const std::string& path) {
    for (auto it = moves_.begin(); it != moves_.end();) {
        if (!path_is_under(path, it->event.path)) {
            ++it;
            continue;
        }
        PendingMove move = std::move(*it);
        it = moves_.erase(it);
        emit_move_out(sink, std::move(move));
    }
}

void InotifySource::emit_move_out(EventSink& sink, PendingMove&& move) {
    // Moved out of everything we watch: gone from the tree. A directory keeps its watches
    // in the kernel wherever it went, and they would go on reporting under the old path.
    if (move.event.is_dir) forget_tree(move.event.path);
    sink.on_event(std::move(move.event));
}

void InotifySource::start_resync(EventSink& sink) {
    if (marker_wd_ < 0) return;
    // The marker first, then the marks: a directory created while they are placed is either
    // marked by them or announced after the marker; never dropped unmarked.
    if (::write(marker_write_.get(), "m", 1) != 1) {
        log_warning("inotify: cannot queue the overflow marker (" + std::string(std::strerror(errno)) +
                    "); events are not dropped, the rescan corrects what stale paths name");
        return;
    }
    resyncing_ = true;
    resync_dropped_ = 0;
    sink.on_watch_names_stale();
}

void InotifySource::handle(const inotify_event& ev, std::string_view name, std::int64_t now_ns, std::int64_t boot_ns,
                           EventSink& sink) {
    if ((ev.mask & IN_Q_OVERFLOW) != 0) {
        // The partner of a held MOVED_FROM, and the closes of our own reads, may be among the
        // events lost: settle what we hold; the agent's rescan corrects the rest.
        flush_moves(sink, Clock::time_point::max(), true);
        {
            const std::scoped_lock lock(mu_);
            self_.clear();
        }
        sink.on_overflow(
            Source::Inotify,
            "inotify queue overflow: more than " +
                (max_queued_events_ >= 0 ? std::to_string(max_queued_events_) : std::string("the limit of")) +
                " events waiting (sysctl fs.inotify.max_queued_events); events were lost");
        start_resync(sink);
        return;
    }
    if ((ev.mask & IN_IGNORED) != 0) {  // watch gone: directory removed, unmounted, or rm_watch
        forget_wd(ev.wd);
        return;
    }
    if (ev.wd == marker_wd_ && marker_wd_ >= 0) {
        char drained[64];
        while (::read(marker_read_.get(), drained, sizeof drained) > 0) {
        }
        if (resyncing_)
            log_warning("inotify: " + std::to_string(resync_dropped_) +
                        " events queued after the overflow were dropped (named by stale paths); the rescan reports "
                        "what they changed");
        resyncing_ = false;
        return;
    }
    if (resyncing_) {
        ++resync_dropped_;
        return;
    }

    std::string dir;
    {
        const std::scoped_lock lock(mu_);
        const auto it = watches_.find(ev.wd);
        if (it == watches_.end()) return;  // a watch we dropped: whatever it reports has a stale path
        dir = it->second.path;
    }
    const bool is_dir = (ev.mask & IN_ISDIR) != 0;
    const std::string path = name.empty() ? dir : join_path(dir, name);
    auto make = [&](Action action, const std::string& event_path) {
        RawEvent e;
        e.time_ns = now_ns;
        e.boot_ns = boot_ns;
        e.action = action;
        e.source = Source::Inotify;
        e.path = event_path;
        e.is_dir = is_dir;
        e.pid = 0;  // inotify never says who: unknown, not invented
        return e;
    };

    std::optional<PendingMove> partner;
    if ((ev.mask & IN_MOVED_TO) != 0 && ev.cookie != 0) {
        const auto it =
            std::find_if(moves_.begin(), moves_.end(), [&](const PendingMove& m) { return m.cookie == ev.cookie; });
        if (it != moves_.end()) {
            partner = std::move(*it);
            moves_.erase(it);
        }
    }
    // A MOVED_FROM still held for this path (or a directory above it) is over: something
    // new is at its place, or its directory reports from elsewhere. Report it first, so the
    // agent sees the old object leave before the new one arrives.
    flush_moves_at(sink, path);
    bool watched = false;
    bool top = false;  // no watched parent: nothing else reports this directory itself
    {
        const std::scoped_lock lock(mu_);
        watched = watches_.count(ev.wd) != 0;
        top = name.empty() && !parent_watched_locked(dir);
    }
    if (!watched) {
        // The flush dropped the watch this came through (it was inside what moved out).
        if (partner) emit_move_out(sink, std::move(*partner));
        return;
    }

    if (partner) {
        RawEvent e = make(Action::Rename, path);
        e.old_path = std::move(partner->event.path);
        if (is_dir) {
            // Follow the move now, before any later record of this read names the new path.
            const std::scoped_lock lock(mu_);
            rename_tree_locked(*e.old_path, path);
        }
        sink.on_event(std::move(e));
        return;
    }
    if ((ev.mask & IN_MOVED_FROM) != 0) {
        PendingMove move;
        move.cookie = ev.cookie;
        move.event = make(Action::Delete, path);
        move.deadline = Clock::now() + kMovePairWait;
        moves_.push_back(std::move(move));
        return;
    }
    if ((ev.mask & IN_MOVED_TO) != 0) {  // from outside the watched tree: new here
        sink.on_event(make(Action::Create, path));
        return;
    }
    if ((ev.mask & (IN_MOVE_SELF | IN_DELETE_SELF)) != 0) {
        // A watched parent reports this with the name (IN_MOVED_FROM, IN_DELETE). A rule's
        // root has none: report it here, and stop watching a tree that moved away, whose
        // watches would go on naming paths it no longer has.
        if (!top) return;
        if ((ev.mask & IN_MOVE_SELF) != 0) forget_tree(dir);
        RawEvent e = make(Action::Delete, dir);
        e.is_dir = true;
        sink.on_event(std::move(e));
        return;
    }
    if ((ev.mask & kAccessMask) != 0) {
        // Directory listings are not recorded: the agent lists directories itself (marking
        // new ones, rescans) and inotify cannot tell its listings from anyone else's.
        if (is_dir || name.empty()) return;
        if (is_self_access(ev.mask, path)) return;
        if ((ev.mask & IN_CLOSE_NOWRITE) != 0) return;
    }
    // The watched directory itself (a chmod of it): its parent's watch reported the same
    // change with the name, unless it has no watched parent.
    if (name.empty() && !top) return;

    static constexpr std::pair<std::uint32_t, Action> kOrder[] = {
        {IN_CREATE, Action::Create}, {IN_OPEN, Action::Open},          {IN_ACCESS, Action::Read},
        {IN_ATTRIB, Action::Attrib}, {IN_CLOSE_WRITE, Action::Modify}, {IN_DELETE, Action::Delete},
    };
    for (const auto& [bit, action] : kOrder) {
        if ((ev.mask & bit) != 0) sink.on_event(make(action, path));
    }
}

}  // namespace vigil::agent
