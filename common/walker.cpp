#include "common/walker.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/escape.h"
#include "common/sys.h"
#include "common/xattrs.h"

namespace vigil {
namespace {

constexpr std::size_t kFilesPerTask = 32;  // small enough to balance, large enough to amortise locking
constexpr int kHashAttempts = 3;           // a file rewritten three times while we read it is recorded as such

struct DirRef {
    UniqueFd fd;
    std::string path;
};

struct Scope {  // what a root's walk carries down to every entry beneath it
    std::uint32_t rule = 0;
    dev_t root_dev = 0;
};

struct Task {
    std::shared_ptr<const DirRef> dir;  // the directory holding `names`
    Scope scope;
    bool open_dir = false;  // true: names[0] is a directory to open and list
    bool descend = true;    // open_dir only: list its entries
    std::vector<std::string> names;
    std::string root_path;  // open_dir of a rule's root: its full path (names[0] may be ".")
};

std::int64_t to_ns(const timespec& ts) { return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec; }

void fill_from_stat(FileRecord& r, const struct stat& st) {
    r.type = file_type_from_mode(st.st_mode);
    r.mode = st.st_mode & 07777U;
    r.uid = st.st_uid;
    r.gid = st.st_gid;
    r.size = static_cast<std::uint64_t>(st.st_size);
    r.mtime_ns = to_ns(st.st_mtim);
    r.ctime_ns = to_ns(st.st_ctim);
    r.inode = st.st_ino;
    r.dev = st.st_dev;
    r.nlink = st.st_nlink;
    r.rdev = (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) ? st.st_rdev : 0;
}

void append_error(FileRecord& r, const std::string& what) {
    if (!r.error.empty()) r.error += "; ";
    r.error += what;
}

// Pseudo and remote filesystems whose contents are not files worth hashing (and may hang
// or never end): never entered even with one_filesystem:false.
bool is_pseudo_fs(int fd) {
    struct statfs sf {};
    if (::fstatfs(fd, &sf) < 0) return false;
    switch (static_cast<unsigned long>(sf.f_type)) {
        case PROC_SUPER_MAGIC:
        case SYSFS_MAGIC:
        case DEBUGFS_MAGIC:
        case TRACEFS_MAGIC:
        case SECURITYFS_MAGIC:
        case CGROUP_SUPER_MAGIC:
        case CGROUP2_SUPER_MAGIC:
        case DEVPTS_SUPER_MAGIC:
        case BPF_FS_MAGIC:
        case 0x65735546:  // FUSE
            return true;
        default: return false;
    }
}

class Walker {
public:
    Walker(const Policy& policy, const WalkOptions& options, WalkProgress* progress)
        : policy_(policy), progress_(progress ? progress : &own_progress_), sink_(options.sink) {
        threads_ = options.threads != 0 ? options.threads : std::max(1U, std::thread::hardware_concurrency());
    }

    WalkResult run() {
        std::vector<std::pair<std::string, std::uint32_t>> roots;
        for (std::uint32_t i = 0; i < policy_.rules.size(); ++i) {
            const auto expanded = expand_rule_roots(policy_.rules[i].path);
            if (expanded.empty()) {
                warn("rule " + std::to_string(i + 1) + " (" + escape_bytes(policy_.rules[i].path) +
                     "): no such file or directory; nothing recorded for it");
            }
            for (const auto& root : expanded) {
                // The first rule naming a root owns it (glob rules may overlap plain ones).
                if (root_rule_.emplace(root, i).second) roots.emplace_back(root, i);
            }
        }
        for (const auto& [root, rule] : roots) start_root(root, rule);

        std::vector<std::thread> pool;
        std::vector<std::vector<FileRecord>> per_thread(threads_);
        for (unsigned t = 0; t < threads_; ++t) pool.emplace_back([this, &per_thread, t] { work(per_thread[t]); });
        for (auto& th : pool) th.join();

        WalkResult result;
        if (sink_) {
            if (!root_records_.empty()) sink_(root_records_);
            result.warnings = std::move(warnings_);
            return result;
        }
        std::size_t total = root_records_.size();
        for (const auto& v : per_thread) total += v.size();
        result.records.reserve(total);
        for (auto& r : root_records_) result.records.push_back(std::move(r));
        for (auto& v : per_thread) {
            for (auto& r : v) result.records.push_back(std::move(r));
            std::vector<FileRecord>().swap(v);  // give the memory back before the next one is copied
        }
        std::sort(result.records.begin(), result.records.end(),
                  [](const FileRecord& a, const FileRecord& b) { return a.path < b.path; });
        result.warnings = std::move(warnings_);
        return result;
    }

private:
    void warn(std::string message) {
        const std::scoped_lock lock(warn_mu_);
        warnings_.push_back(std::move(message));
    }

    void push(Task task) {
        {
            const std::scoped_lock lock(mu_);
            queue_.push_back(std::move(task));
        }
        cv_.notify_one();
    }

    void work(std::vector<FileRecord>& out) {
        for (;;) {
            Task task;
            {
                std::unique_lock lock(mu_);
                cv_.wait(lock, [&] { return !queue_.empty() || busy_ == 0; });
                if (queue_.empty()) return;       // nothing queued and nobody can queue more
                task = std::move(queue_.back());  // LIFO: depth first keeps few directory fds open
                queue_.pop_back();
                ++busy_;
            }
            if (task.open_dir) {
                walk_dir(task, out);
            } else {
                for (const auto& name : task.names) record_file(*task.dir, task.scope, name, out);
            }
            if (sink_ && !out.empty()) {
                const std::scoped_lock lock(sink_mu_);
                sink_(out);
                out.clear();
            }
            {
                const std::scoped_lock lock(mu_);
                --busy_;
            }
            cv_.notify_all();
        }
    }

    // A root is looked at from its parent directory, exactly like any entry below it.
    void start_root(const std::string& root, std::uint32_t rule) {
        const Rule& r = policy_.rules[rule];
        std::string parent_path = "/";
        std::string name = ".";
        if (root != "/") {
            const auto slash = root.rfind('/');
            parent_path = slash == 0 ? "/" : root.substr(0, slash);
            name = root.substr(slash + 1);
        }
        auto parent_fd = open_at(AT_FDCWD, parent_path.c_str(), O_PATH | O_DIRECTORY, parent_path);
        if (!parent_fd) {
            warn("rule " + std::to_string(rule + 1) + " (" + escape_bytes(root) + "): " + parent_fd.error().message());
            return;
        }
        auto dir = std::make_shared<DirRef>(DirRef{std::move(parent_fd.value()), parent_path});
        struct stat st {};
        if (::fstatat(dir->fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
            const int err = errno;
            warn("rule " + std::to_string(rule + 1) + " (" + escape_bytes(root) + "): " + errno_text(err) +
                 (err == ENOENT ? "; nothing recorded for it" : ""));
            return;
        }
        const Scope scope{rule, st.st_dev};
        if (S_ISDIR(st.st_mode)) {
            push(Task{dir, scope, true, true, {name}, root});
            return;
        }
        if (S_ISLNK(st.st_mode) && r.recursive) {
            warn("rule " + std::to_string(rule + 1) + " (" + escape_bytes(root) +
                 "): is a symlink; recorded as a link and not followed (list its target as a rule to watch it)");
        }
        FileRecord rec = make_entry(*dir, scope, name, root, st);
        if (rec.type == FileType::Regular && !hash_into(*dir, name, rec)) return;
        progress_->entries.fetch_add(1, std::memory_order_relaxed);
        root_records_.push_back(std::move(rec));
    }

    // Metadata-only record of an entry; regular files get their hash later.
    FileRecord make_entry(const DirRef& dir, const Scope& scope, const std::string& name, const std::string& path,
                          const struct stat& st) {
        FileRecord rec;
        rec.path = path;
        rec.rule = scope.rule;
        fill_from_stat(rec, st);
        if (rec.type == FileType::Symlink) {
            std::string target(256, '\0');
            for (;;) {
                const ssize_t n = ::readlinkat(dir.fd.get(), name.c_str(), target.data(), target.size());
                if (n < 0) {
                    append_error(rec, "readlink: " + errno_text(errno));
                    progress_->errors.fetch_add(1, std::memory_order_relaxed);
                    target.clear();
                    break;
                }
                if (static_cast<std::size_t>(n) < target.size()) {
                    target.resize(static_cast<std::size_t>(n));
                    break;
                }
                if (target.size() >= 65536) {  // PATH_MAX is 4096: a longer target cannot exist
                    append_error(rec, "readlink: target too long");
                    target.clear();
                    break;
                }
                target.resize(target.size() * 2);
            }
            rec.target = std::move(target);
        }
        return rec;
    }

    // Opens, hashes and re-stats a regular file through one fd. Retries when the file
    // changes under us; an entry that stops being a regular file is recorded as what it
    // became, never opened as such (a FIFO swapped in must not block us).
    // Returns false when the file vanished before it could be opened: nothing to record.
    bool hash_into(const DirRef& dir, const std::string& name, FileRecord& rec) {
        for (int attempt = 1;; ++attempt) {
            const int base = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
            auto fd = open_at(dir.fd.get(), name.c_str(), base | O_NOATIME, rec.path);
            if (!fd && fd.error().code == std::errc::operation_not_permitted)
                fd = open_at(dir.fd.get(), name.c_str(), base, rec.path);  // O_NOATIME needs ownership
            if (!fd) {
                const int err = fd.error().code.value();
                struct stat st {};
                if ((err == ELOOP || err == ENXIO) &&
                    ::fstatat(dir.fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
                    rec = make_entry(dir, Scope{rec.rule, 0}, name, rec.path, st);  // replaced: record what is there
                    return true;
                }
                if (err == ENOENT) return false;
                append_error(rec, "open: " + errno_text(err));
                progress_->errors.fetch_add(1, std::memory_order_relaxed);
                return true;
            }
            struct stat st {};
            auto digest = hash_fd(fd->get(), rec.path, &st);
            if (digest) {
                fill_from_stat(rec, st);
                rec.sha256 = digest->digest;
                progress_->files_hashed.fetch_add(1, std::memory_order_relaxed);
                progress_->bytes_hashed.fetch_add(digest->bytes, std::memory_order_relaxed);
                read_xattrs_into(fd->get(), rec);
                return true;
            }
            const auto& code = digest.error().code;
            if (code == HashErrc::not_regular_file && ::fstat(fd->get(), &st) == 0) {
                fill_from_stat(rec, st);
                return true;
            }
            if (code == HashErrc::changed_while_hashing && attempt < kHashAttempts) continue;
            append_error(rec, code == HashErrc::changed_while_hashing ? "file changed while it was hashed"
                                                                      : digest.error().code.message());
            progress_->errors.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
    }

    void read_xattrs_into(int fd, FileRecord& rec) {
        auto xattrs = read_xattrs_fd(fd, rec.path);
        if (xattrs) {
            rec.xattrs = encode_xattrs(xattrs.value());
        } else {
            append_error(rec, "xattrs: " + xattrs.error().code.message());
            progress_->errors.fetch_add(1, std::memory_order_relaxed);
        }
    }

    void record_file(const DirRef& dir, const Scope& scope, const std::string& name, std::vector<FileRecord>& out) {
        const std::string path = join_path(dir.path, name);
        struct stat st {};
        if (::fstatat(dir.fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) return;  // vanished since the directory was listed: not there to record
            FileRecord rec;
            rec.path = path;
            rec.rule = scope.rule;
            append_error(rec, "lstat: " + errno_text(errno));
            progress_->errors.fetch_add(1, std::memory_order_relaxed);
            out.push_back(std::move(rec));
            return;
        }
        FileRecord rec = make_entry(dir, scope, name, path, st);
        if (rec.type == FileType::Regular && !hash_into(dir, name, rec)) return;
        progress_->entries.fetch_add(1, std::memory_order_relaxed);
        out.push_back(std::move(rec));
    }

    void walk_dir(Task& task, std::vector<FileRecord>& out) {
        const std::string& name = task.names.front();
        const bool is_root = !task.root_path.empty();
        const std::string path = is_root ? task.root_path : join_path(task.dir->path, name);
        const Rule& rule = policy_.rules[task.scope.rule];
        const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK;
        auto fd = open_at(task.dir->fd.get(), name.c_str(), flags | O_NOATIME, path);
        if (!fd && fd.error().code == std::errc::operation_not_permitted)
            fd = open_at(task.dir->fd.get(), name.c_str(), flags, path);
        if (!fd) {
            const int err = fd.error().code.value();
            struct stat st {};
            if (::fstatat(task.dir->fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return;  // vanished
            FileRecord rec = make_entry(*task.dir, task.scope, name, path, st);
            if (rec.type == FileType::Directory) {
                append_error(rec, "open: " + errno_text(err));
                progress_->errors.fetch_add(1, std::memory_order_relaxed);
            } else if (rec.type == FileType::Regular && !hash_into(*task.dir, name, rec)) {
                return;  // replaced by a file between listing and opening, then gone
            }
            progress_->entries.fetch_add(1, std::memory_order_relaxed);
            out.push_back(std::move(rec));
            return;
        }
        struct stat st {};
        if (::fstat(fd->get(), &st) < 0) return;
        Scope scope = task.scope;
        if (is_root) scope.root_dev = st.st_dev;

        FileRecord rec;
        rec.path = path;
        rec.rule = scope.rule;
        fill_from_stat(rec, st);
        read_xattrs_into(fd->get(), rec);
        progress_->entries.fetch_add(1, std::memory_order_relaxed);

        bool descend = task.descend;
        if (descend && !is_root && rule.one_filesystem && st.st_dev == scope.root_dev && is_mount_root(fd->get(), "")) {
            // A bind mount: the same filesystem, but what it shows lives elsewhere (outside
            // the tree, or the tree's own parent, a loop). Recorded, not entered.
            warn(escape_bytes(path) +
                 ": a bind mount; recorded, not entered (one_filesystem; set it to false to walk through it)");
            descend = false;
        }
        if (descend) {
            const std::scoped_lock lock(visited_mu_);
            if (!visited_.emplace(st.st_dev, st.st_ino).second) {
                append_error(rec, "directory already walked (bind mount or loop); not entered again");
                descend = false;
            }
        }
        if (descend && st.st_dev != scope.root_dev) {
            if (rule.one_filesystem) {
                descend = false;  // a mount point: recorded, its contents belong to another filesystem
            } else if (is_pseudo_fs(fd->get())) {
                warn(escape_bytes(path) + ": pseudo filesystem (proc, sysfs, fuse, ...) not entered");
                descend = false;
            }
        }
        out.push_back(std::move(rec));
        if (!descend) return;
        list_dir(std::move(fd.value()), path, scope, rule, is_root || rule.recursive);
    }

    void list_dir(UniqueFd fd, const std::string& path, const Scope& scope, const Rule& rule, bool children_descend) {
        // fdopendir() takes its own fd: the DirRef keeps ours for openat() by the tasks.
        const int dup_fd = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0) {
            warn(escape_bytes(path) + ": cannot list: " + errno_text(errno));
            return;
        }
        std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(dup_fd), &::closedir);
        if (!dir) {
            ::close(dup_fd);
            warn(escape_bytes(path) + ": cannot list: " + errno_text(errno));
            return;
        }
        auto ref = std::make_shared<DirRef>(DirRef{std::move(fd), path});
        Task files{ref, scope, false, true, {}, {}};
        const bool recursive_child = children_descend && rule.recursive;
        for (;;) {
            errno = 0;
            const dirent* ent = ::readdir(dir.get());
            if (ent == nullptr) {
                if (errno != 0) warn(escape_bytes(path) + ": listing stopped early: " + errno_text(errno));
                break;
            }
            const std::string_view name = ent->d_name;
            if (name == "." || name == "..") continue;
            const std::string child = join_path(path, name);
            if (rule.excludes(child, name)) continue;
            if (root_rule_.count(child) != 0) continue;  // another rule's root: walked under that rule
            if (ent->d_type == DT_DIR) {
                push(Task{ref, scope, true, recursive_child, {std::string(name)}, {}});
                continue;
            }
            if (ent->d_type == DT_UNKNOWN) {  // some filesystems do not fill d_type: ask
                struct stat st {};
                if (::fstatat(ref->fd.get(), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
                    push(Task{ref, scope, true, recursive_child, {std::string(name)}, {}});
                    continue;
                }
            }
            files.names.emplace_back(name);
            if (files.names.size() == kFilesPerTask) {
                push(std::move(files));
                files = Task{ref, scope, false, true, {}, {}};
            }
        }
        if (!files.names.empty()) push(std::move(files));
    }

    const Policy& policy_;
    WalkProgress own_progress_;
    WalkProgress* progress_;
    unsigned threads_ = 1;

    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Task> queue_;
    unsigned busy_ = 0;

    std::mutex visited_mu_;
    std::set<std::pair<dev_t, ino_t>> visited_;

    std::mutex warn_mu_;
    std::vector<std::string> warnings_;

    // Filled before the workers start, read-only afterwards.
    std::unordered_map<std::string, std::uint32_t> root_rule_;
    std::vector<FileRecord> root_records_;

    WalkSink sink_;
    std::mutex sink_mu_;
};

void expand_into(const std::string& prefix, std::string_view rest, std::vector<std::string>& out) {
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    if (rest.empty()) {
        // A glob that matched nothing is not an error: /home/*/.ssh on a user without keys.
        struct stat st {};
        const std::string path = prefix.empty() ? "/" : prefix;
        if (::lstat(path.c_str(), &st) == 0) out.push_back(path);
        return;
    }
    const auto slash = rest.find('/');
    const std::string component(rest.substr(0, slash));
    const std::string_view remainder = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (!has_glob_chars(component)) {
        expand_into(prefix + "/" + component, remainder, out);
        return;
    }
    const std::string dir_path = prefix.empty() ? "/" : prefix;
    auto fd = open_at(AT_FDCWD, dir_path.c_str(), O_RDONLY | O_DIRECTORY, dir_path);
    if (!fd) return;
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd->get()), &::closedir);
    if (!dir) return;
    const int dfd = fd->release();  // now owned by `dir`
    std::vector<std::string> matches;
    while (const dirent* ent = ::readdir(dir.get())) {
        const std::string_view name = ent->d_name;
        if (name == "." || name == "..") continue;
        if (::fnmatch(component.c_str(), ent->d_name, FNM_PERIOD) != 0) continue;
        if (!remainder.empty()) {  // an intermediate component must be a real directory, not a link
            struct stat st {};
            if (::fstatat(dfd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) continue;
        }
        matches.emplace_back(name);
    }
    std::sort(matches.begin(), matches.end());
    for (const auto& m : matches) {
        const std::string next = join_path(prefix.empty() ? "/" : prefix, m);
        if (remainder.empty()) {
            out.push_back(next);
        } else {
            expand_into(next, remainder, out);
        }
    }
}

}  // namespace

std::string join_path(const std::string& dir, std::string_view name) {
    std::string out;
    out.reserve(dir.size() + 1 + name.size());
    out = dir;
    if (out.empty() || out.back() != '/') out += '/';
    out += name;
    return out;
}

std::vector<std::string> expand_rule_roots(const std::string& rule_path) {
    if (!has_glob_chars(rule_path)) {
        struct stat st {};
        if (::lstat(rule_path.c_str(), &st) < 0) return {};
        return {rule_path};
    }
    std::vector<std::string> out;
    expand_into("", rule_path, out);
    return out;
}

WalkResult walk_policy(const Policy& policy, const WalkOptions& options, WalkProgress* progress) {
    Walker walker(policy, options, progress);
    return walker.run();
}

}  // namespace vigil
