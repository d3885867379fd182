#include "common/sys.h"

#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <system_error>

#include "common/escape.h"

namespace vigil {

Result<UniqueFd> open_at(int dirfd, const char* name, int flags, std::string_view what, mode_t mode) {
    const int fd = retry_eintr([&] { return ::openat(dirfd, name, flags | O_CLOEXEC, mode); });
    if (fd < 0) return Error::from_errno(errno, "open '" + std::string(what) + "'");
    return UniqueFd(fd);
}

Result<UniqueFd> open_dir_beneath(int dirfd, std::string_view relative, int flags, bool component_walk) {
    std::string rel(relative);
    while (rel.size() > 1 && rel.back() == '/') rel.pop_back();
    if (rel.empty()) rel = ".";  // the directory itself, opened anew with `flags`
    const std::string what = "directory '" + escape_bytes(rel) + "'";
    flags |= O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    if (!component_walk) {
        open_how how{};
        how.flags = static_cast<std::uint64_t>(flags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        const long fd = retry_eintr([&] { return ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how); });
        if (fd >= 0) return UniqueFd(static_cast<int>(fd));
        if (errno != ENOSYS && errno != EPERM) return Error::from_errno(errno, "open " + what);
    }
    const int start = retry_eintr([&] { return ::fcntl(dirfd, F_DUPFD_CLOEXEC, 3); });
    if (start < 0) return Error::from_errno(errno, "open " + what);
    UniqueFd current(start);
    std::size_t pos = 0;
    while (pos <= rel.size()) {
        const std::size_t end = std::min(rel.find('/', pos), rel.size());
        const std::string component = rel.substr(pos, end - pos);
        pos = end + 1;
        if (component.empty() || component == ".") continue;
        if (component == "..") return Error::from_errno(EXDEV, "open " + what + " ('..' leaves the tree)");
        const bool last = end == rel.size();
        auto next = open_at(current.get(), component.c_str(), last ? flags : (O_PATH | O_DIRECTORY | O_NOFOLLOW), what);
        if (!next) return next.error();
        current = std::move(next.value());
    }
    return current;
}

Result<void> make_private_dirs(const std::string& path) {
    if (path.empty()) return {};
    std::string prefix;
    std::size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        prefix = path.substr(0, pos);
        if (prefix.empty() || prefix == "/") continue;
        if (::mkdir(prefix.c_str(), 0700) == 0) continue;
        const int err = errno;
        if (err != EEXIST) return Error::from_errno(err, "mkdir '" + prefix + "'");
    }
    return {};
}

std::string dir_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

Result<void> fsync_dir(const std::string& dir) {
    const int raw = retry_eintr([&] { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
    if (raw < 0) return Error::from_errno(errno, "open directory '" + escape_bytes(dir) + "'");
    const UniqueFd fd(raw);
    if (::fsync(fd.get()) < 0) return Error::from_errno(errno, "fsync directory '" + escape_bytes(dir) + "'");
    return {};
}

bool is_mount_root(int dirfd, const char* name) {
    struct statx stx {};
    const int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] == '\0' ? AT_EMPTY_PATH : 0);
    if (::statx(dirfd, name, flags, 0, &stx) < 0) return false;
    return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

void ensure_std_fds() {
    for (int fd = 0; fd <= 2; ++fd) {
        if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        const int opened = ::open("/dev/null", O_RDWR);
        // open() returns the lowest free fd, which is exactly the hole we are filling.
        if (opened >= 0 && opened != fd) ::close(opened);
    }
}

std::string errno_text(int err) { return std::generic_category().message(err); }

}  // namespace vigil
