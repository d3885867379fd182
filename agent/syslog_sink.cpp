#include "agent/syslog_sink.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "common/escape.h"
#include "common/sys.h"

namespace vigil::agent {

Result<void> SyslogSink::connect() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_connect_)
        return Error::msg("syslog socket " + escape_bytes(config_.socket) + " is not connected (retrying)");
    next_connect_ = now + std::chrono::seconds(1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return Error::from_errno(errno, "socket for syslog");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (config_.socket.size() >= sizeof addr.sun_path)
        return Error::msg("syslog socket path " + escape_bytes(config_.socket) + " is too long");
    std::memcpy(addr.sun_path, config_.socket.c_str(), config_.socket.size() + 1);
    const int rc =
        retry_eintr([&] { return ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr); });
    if (rc < 0) return Error::from_errno(errno, "connect syslog socket '" + escape_bytes(config_.socket) + "'");
    fd_ = std::move(fd);
    return {};
}

Result<void> SyslogSink::send(std::string_view datagram) {
    if (!fd_) VIGIL_TRY(connect());
    const ssize_t n =
        retry_eintr([&] { return ::send(fd_.get(), datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL); });
    if (n >= 0) return {};
    const int err = errno;
    if (err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS) {
        // The receiver went away (ECONNREFUSED after a restart, ENOENT, ENOTCONN): connect
        // again, to the socket now at the path, when next allowed.
        fd_.reset();
    }
    return Error::from_errno(err, "send to syslog socket '" + escape_bytes(config_.socket) + "'");
}

}  // namespace vigil::agent
