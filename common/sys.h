// Thin syscall helpers: EINTR retried, O_CLOEXEC forced, errors carry the path.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"

namespace vigil {

template <class F>
auto retry_eintr(F&& call) {
    for (;;) {
        auto r = call();
        if (r != -1 || errno != EINTR) return r;
    }
}

// openat() relative to a directory fd; `what` names the object in the error ("/etc/shadow").
Result<UniqueFd> open_at(int dirfd, const char* name, int flags, std::string_view what, mode_t mode = 0);

// Opens the directory `relative` ("a/b/c", no "..") below `dirfd` without crossing a
// symlink anywhere on the way: a directory swapped for a link must not lead out of the
// tree. openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the kernel has it; before
// Linux 5.6, or where a seccomp filter refuses openat2, one component at a time with
// O_NOFOLLOW | O_DIRECTORY (`component_walk` forces that, for tests). `flags`: O_RDONLY
// or O_PATH; O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC are added.
Result<UniqueFd> open_dir_beneath(int dirfd, std::string_view relative, int flags, bool component_walk = false);

// Creates every missing directory of `path` with 0700, like `mkdir -p -m 0700`.
Result<void> make_private_dirs(const std::string& path);

// The directory part of `path`: "/" for "/x", "." for a bare name.
std::string dir_of(const std::string& path);

// fsync() of a directory, so a rename or create inside it survives a crash.
Result<void> fsync_dir(const std::string& dir);

// Whether `name` in `dirfd` (or `dirfd` itself, for "") is the root of a mount: another
// filesystem, or a bind mount of the same one, which st_dev cannot tell apart from a
// plain directory. False where the kernel cannot say (statx before Linux 5.8).
bool is_mount_root(int dirfd, const char* name);

// Make fds 0-2 valid (/dev/null) so nothing we open later lands on them.
void ensure_std_fds();

// Text of errno without the thread-unsafe strerror().
std::string errno_text(int err);

}  // namespace vigil
