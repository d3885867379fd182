#include "common/actor.h"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "common/sys.h"

namespace vigil {
namespace {

// Reads a small /proc file whole (bounded: these are at most a few pages).
std::optional<std::string> read_proc_file(const std::string& path, std::size_t max = std::size_t{64} * 1024) {
    auto fd = open_at(AT_FDCWD, path.c_str(), O_RDONLY, path);
    if (!fd) return std::nullopt;
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = retry_eintr([&] { return ::read(fd->get(), buf, sizeof buf); });
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() >= max) break;
    }
    return out;
}

}  // namespace

std::optional<std::string> user_name(std::int64_t uid) {
    passwd pw{};
    passwd* result = nullptr;
    std::vector<char> buf(4096);
    for (;;) {
        const int rc = ::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &result);
        if (rc == ERANGE && buf.size() < (1U << 20U)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc != 0 || result == nullptr) return std::nullopt;
        return std::string(pw.pw_name);
    }
}

std::optional<std::int64_t> read_login_uid(pid_t pid) {
    auto text = read_proc_file("/proc/" + std::to_string(pid) + "/loginuid", 64);
    if (!text || text->empty()) return std::nullopt;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(text->c_str(), &end, 10);
    if (end == text->c_str() || v >= 4294967295ULL) return std::nullopt;  // (uid_t)-1: never logged in
    return static_cast<std::int64_t>(v);
}

Actor self_actor() {
    Actor a;
    a.pid = ::getpid();
    a.ppid = ::getppid();
    a.uid = ::getuid();
    a.euid = ::geteuid();
    a.gid = ::getgid();
    a.auid = read_login_uid(::getpid());
    a.user = user_name(*a.uid);
    if (a.auid) a.login_user = user_name(*a.auid);
    std::string exe(4096, '\0');
    const ssize_t n = ::readlink("/proc/self/exe", exe.data(), exe.size());
    if (n > 0) {
        exe.resize(static_cast<std::size_t>(n));
        a.exe = exe;
    }
    if (auto comm = read_proc_file("/proc/self/comm", 64)) {
        if (!comm->empty() && comm->back() == '\n') comm->pop_back();
        a.comm = *comm;
    }
    if (auto cmd = read_proc_file("/proc/self/cmdline")) {
        while (!cmd->empty() && cmd->back() == '\0') cmd->pop_back();
        for (char& c : *cmd)
            if (c == '\0') c = ' ';
        a.cmdline = *cmd;
    }
    return a;
}

}  // namespace vigil
