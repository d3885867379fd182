#include "tests/support/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace vigil::test {

RunResult run_program(const std::string& program, const std::vector<std::string>& args, const RunOptions& opts) {
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) < 0 || ::pipe2(err_pipe, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
    std::vector<std::string> argv_s{program};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) env_s.emplace_back(*e);
    env_s.insert(env_s.end(), opts.env.begin(), opts.env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        const int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        if (opts.gid || opts.uid) {
            ::setgroups(0, nullptr);
            if (opts.gid && ::setgid(*opts.gid) < 0) ::_exit(126);
            if (opts.uid && ::setuid(*opts.uid) < 0) ::_exit(126);
        }
        ::execve(program.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    RunResult r;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opts.timeout_seconds);
    int open_fds = 2;
    bool killed = false;
    while (open_fds > 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            char buf[65536];
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
                continue;
            }
            (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) ::close(f.fd);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
    if (killed) r.err += "\n[test harness: killed after timeout]";
    return r;
}

RunResult run_vigil(const std::vector<std::string>& args, const RunOptions& opts) {
    return run_program(VIGIL_BIN, args, opts);
}

TestUser ensure_user(const std::string& name) {
    // ctest runs tests in parallel: useradd exits 10 while another one holds /etc/passwd's
    // lock, and 9 when the other one created the same user first.
    for (int attempt = 0; attempt < 50 && ::getpwnam(name.c_str()) == nullptr; ++attempt) {
        auto r = run_program("/usr/sbin/useradd", {"--no-create-home", "--shell", "/usr/sbin/nologin", name});
        if (r.exit_code == 0 || r.exit_code == 9) break;
        if (r.exit_code != 10) throw std::runtime_error("useradd " + name + ": " + r.err);
        ::usleep(100 * 1000);
    }
    const passwd* pw = ::getpwnam(name.c_str());
    if (pw == nullptr) throw std::runtime_error("user " + name + " missing after useradd");
    return {name, pw->pw_uid, pw->pw_gid};
}

bool running_as_root() { return ::geteuid() == 0; }

}  // namespace vigil::test

namespace vigil::test {

BackgroundProcess::BackgroundProcess(const std::string& program, const std::vector<std::string>& args) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
    std::vector<std::string> argv_s{program};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
        ::dup2(p[1], 1);
        ::dup2(p[1], 2);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv(program.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(p[1]);
    fd_ = p[0];
}

BackgroundProcess::~BackgroundProcess() {
    if (status_ < 0 && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
    }
    if (fd_ >= 0) ::close(fd_);
}

void BackgroundProcess::pump(int timeout_ms) {
    if (fd_ < 0) return;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) return;
    char buf[65536];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
        ::close(fd_);
        fd_ = -1;
        return;
    }
    text_.append(buf, static_cast<std::size_t>(n));
}

bool BackgroundProcess::wait_for_output(const std::string& text, int timeout_seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    while (text_.find(text) == std::string::npos) {
        if (fd_ < 0 || std::chrono::steady_clock::now() > deadline) return false;
        pump(100);
    }
    return true;
}

void BackgroundProcess::signal(int sig) {
    if (status_ < 0) ::kill(pid_, sig);
}

int BackgroundProcess::wait(int timeout_seconds) {
    if (status_ >= 0) return status_;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    for (;;) {
        int st = 0;
        const pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            while (fd_ >= 0) pump(100);
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return status_;
        }
        if (std::chrono::steady_clock::now() > deadline) return -1;
        pump(50);
    }
}

std::string BackgroundProcess::output() {
    pump(0);
    return text_;
}

int run_as(uid_t uid, gid_t gid, const std::function<int()>& fn, std::optional<unsigned> login_uid) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        if (login_uid) {
            const int fd = ::open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);
            const std::string v = std::to_string(*login_uid);
            if (fd < 0 || ::write(fd, v.data(), v.size()) != static_cast<ssize_t>(v.size())) ::_exit(125);
            ::close(fd);
        }
        if (::setgroups(0, nullptr) < 0 || ::setgid(gid) < 0 || ::setuid(uid) < 0) ::_exit(126);
        ::_exit(fn());
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace vigil::test

namespace vigil::test {

ActAs::ActAs(uid_t uid, gid_t gid, std::optional<unsigned> login_uid, std::vector<std::function<int()>> steps) {
    int down[2];
    int up[2];
    if (::pipe2(down, O_CLOEXEC) < 0 || ::pipe2(up, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
        ::close(down[1]);
        ::close(up[0]);
        if (login_uid) {
            const int fd = ::open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);
            const std::string v = std::to_string(*login_uid);
            if (fd < 0 || ::write(fd, v.data(), v.size()) != static_cast<ssize_t>(v.size())) ::_exit(125);
            ::close(fd);
        }
        if (::setgroups(0, nullptr) < 0 || ::setgid(gid) < 0 || ::setuid(uid) < 0) ::_exit(126);
        for (auto& step : steps) {
            char go = 0;
            if (::read(down[0], &go, 1) != 1) ::_exit(0);
            const auto rc = static_cast<char>(step());
            if (::write(up[1], &rc, 1) != 1) ::_exit(1);
        }
        char go = 0;
        while (::read(down[0], &go, 1) == 1) {
        }
        ::_exit(0);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
}

ActAs::~ActAs() {
    ::close(to_child_);
    ::close(from_child_);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
}

int ActAs::run_next() {
    const char go = 1;
    char rc = 0;
    if (::write(to_child_, &go, 1) != 1 || ::read(from_child_, &rc, 1) != 1) return -1;
    return rc;
}

}  // namespace vigil::test
