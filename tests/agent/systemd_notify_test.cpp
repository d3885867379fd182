// vigild under systemd's Type=notify (packaging/systemd/vigild.service): the agent sends
// READY=1 once every watch is in place and STOPPING=1 when SIGTERM starts the final
// flush, from its main process (NotifyAccess=main accepts nothing else). The test plays
// systemd: it binds the datagram socket named by $NOTIFY_SOCKET and reads what arrives.
#include <catch2/catch.hpp>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>

#include "tests/agent/agent_fixture.h"

namespace {

struct Notice {
    std::string text;
    pid_t sender = -1;
};

// The socket systemd would listen on, with SO_PASSCRED so each datagram names its sender.
class NotifySocket {
public:
    explicit NotifySocket(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        REQUIRE(path.size() < sizeof addr.sun_path);
        path.copy(addr.sun_path, path.size());
        REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
        const int on = 1;
        REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == 0);
    }
    ~NotifySocket() { ::close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    // The next datagram, or nothing if none comes within `seconds` (a bound, not a check).
    std::optional<Notice> receive(int seconds = 60) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, seconds * 1000) != 1) return std::nullopt;
        char buf[4096];
        iovec iov{buf, sizeof buf};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(fd_, &msg, 0);
        if (n < 0) return std::nullopt;
        Notice notice{std::string(buf, static_cast<std::size_t>(n)), -1};
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                ucred cred{};
                std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
                notice.sender = cred.pid;
            }
        }
        return notice;
    }

private:
    int fd_ = -1;
};

// Sets an environment variable for the children this test starts; restores it after.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) {
        if (const char* old = ::getenv(name)) old_ = old;
        REQUIRE(::setenv(name, value.c_str(), 1) == 0);
    }
    ~ScopedEnv() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("vigild notifies systemd: READY=1 when watching, STOPPING=1 on SIGTERM", "[kernel][root]") {
    using namespace vigil::test;
    REQUIRE(running_as_root());
    Agent agent("auto", "", /*start_now=*/false);
    NotifySocket sock(agent.dir / "notify.sock");
    const ScopedEnv env("NOTIFY_SOCKET", agent.dir / "notify.sock");
    agent.start();

    const auto ready = sock.receive();
    INFO(agent.proc->output());
    REQUIRE(ready);
    CHECK(ready->text == "READY=1");
    CHECK(ready->sender == agent.proc->pid());  // the main process: NotifyAccess=main
    // READY=1 promises every watch is in place: a change made right after it is recorded.
    const std::string created = agent.root + "/after-ready";
    write_file(created, "x\n");
    REQUIRE(agent.wait_for("create", created));

    agent.proc->signal(SIGTERM);
    const auto stopping = sock.receive();
    REQUIRE(stopping);
    CHECK(stopping->text == "STOPPING=1");
    CHECK(stopping->sender == agent.proc->pid());
    REQUIRE(agent.proc->wait() == 0);
    // Nothing else was sent: no second READY, no stray status.
    CHECK_FALSE(sock.receive(1));
}

TEST_CASE("vigild with a notify socket nobody listens on warns and watches on", "[kernel][root]") {
    using namespace vigil::test;
    REQUIRE(running_as_root());
    Agent agent("auto", "", /*start_now=*/false);
    const ScopedEnv env("NOTIFY_SOCKET", agent.dir / "nobody-listens.sock");
    agent.start();
    const std::string created = agent.root + "/still-watched";
    write_file(created, "x\n");
    REQUIRE(agent.wait_for("create", created));
    const auto rows = agent.stop();  // exits 0
    CHECK(agent.proc->output().find("sd_notify READY=1") != std::string::npos);
    CHECK_FALSE(find(rows, "create", created).empty());
}
