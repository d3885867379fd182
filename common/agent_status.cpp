#include "common/agent_status.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/sys.h"

namespace vigil {

std::string agent_lock_path(const std::string& db_path) { return db_path + ".agent.lock"; }
std::string agent_status_path(const std::string& db_path) { return db_path + ".agent.status"; }

Result<UniqueFd> take_agent_lock(const std::string& db_path) {
    const std::string path = agent_lock_path(db_path);
    auto fd = open_at(AT_FDCWD, path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW, path, 0600);
    if (!fd) return fd.error();
    // An open-file-description lock: unlike flock() it can be queried (F_OFD_GETLK) by
    // `vigil status`, and unlike POSIX locks it is not dropped when another fd closes.
    struct flock lk {};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    if (::fcntl(fd->get(), F_OFD_SETLK, &lk) < 0) {
        if (errno == EAGAIN || errno == EACCES)
            return Error::msg("another vigild already runs on database " + escape_bytes(db_path) + " (lock " +
                              escape_bytes(path) + " is held)");
        return Error::from_errno(errno, "lock '" + escape_bytes(path) + "'");
    }
    return fd;
}

Result<bool> agent_lock_held(const std::string& db_path) {
    const std::string path = agent_lock_path(db_path);
    auto fd = open_at(AT_FDCWD, path.c_str(), O_RDONLY | O_NOFOLLOW, path);
    if (!fd) {
        if (fd.error().code == std::errc::no_such_file_or_directory) return false;
        return fd.error();
    }
    struct flock lk {};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    if (::fcntl(fd->get(), F_OFD_GETLK, &lk) < 0)
        return Error::from_errno(errno, "query lock '" + escape_bytes(path) + "'");
    return lk.l_type != F_UNLCK;
}

Result<void> write_agent_status(const std::string& db_path, const std::string& json) {
    const std::string path = agent_status_path(db_path);
    const std::string tmp = path + ".tmp";
    auto fd = open_at(AT_FDCWD, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, tmp, 0600);
    if (!fd) return fd.error();
    std::string_view rest = json;
    while (!rest.empty()) {
        const ssize_t n = retry_eintr([&] { return ::write(fd->get(), rest.data(), rest.size()); });
        if (n < 0) return Error::from_errno(errno, "write '" + escape_bytes(tmp) + "'");
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) return Error::from_errno(errno, "rename '" + escape_bytes(tmp) + "'");
    return {};
}

std::optional<std::string> read_agent_status(const std::string& db_path) {
    const std::string path = agent_status_path(db_path);
    auto fd = open_at(AT_FDCWD, path.c_str(), O_RDONLY | O_NOFOLLOW, path);
    if (!fd) return std::nullopt;
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = retry_eintr([&] { return ::read(fd->get(), buf, sizeof buf); });
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > (1U << 20U)) return std::nullopt;  // not ours: refuse to slurp it
    }
    return out;
}

}  // namespace vigil
