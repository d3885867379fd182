// Running the built binaries as a real child process (fork + execv, never a shell),
// optionally as another user, capturing exit code, stdout and stderr.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vigil::test {

struct RunResult {
    int exit_code = -1;  // 128 + signal when killed
    std::string out;
    std::string err;
};

struct RunOptions {
    std::optional<uid_t> uid;  // drop to this uid (and gid) before exec
    std::optional<gid_t> gid;
    std::vector<std::string> env;  // extra NAME=VALUE entries
    int timeout_seconds = 120;
};

RunResult run_program(const std::string& program, const std::vector<std::string>& args, const RunOptions& opts = {});
RunResult run_vigil(const std::vector<std::string>& args, const RunOptions& opts = {});

// A user for tests, created with useradd if missing (CI runs as root). Returns its uid/gid.
struct TestUser {
    std::string name;
    uid_t uid;
    gid_t gid;
};
TestUser ensure_user(const std::string& name);

bool running_as_root();

}  // namespace vigil::test

namespace vigil::test {

// A long-running child (vigild) whose stderr is collected in the background.
class BackgroundProcess {
public:
    BackgroundProcess(const std::string& program, const std::vector<std::string>& args);
    ~BackgroundProcess();  // SIGKILLs the child if it still runs
    BackgroundProcess(const BackgroundProcess&) = delete;
    BackgroundProcess& operator=(const BackgroundProcess&) = delete;

    // Waits until stderr contains `text` (true) or the child exits / time runs out (false).
    bool wait_for_output(const std::string& text, int timeout_seconds = 60);
    void signal(int sig);
    int wait(int timeout_seconds = 60);  // exit code, 128+signal, or -1 on timeout
    std::string output();                // everything read from stderr and stdout so far
    pid_t pid() const { return pid_; }

private:
    void pump(int timeout_ms);
    pid_t pid_ = -1;
    int fd_ = -1;
    std::string text_;
    int status_ = -1;
};

// Runs `fn` in a forked child as uid/gid (after writing `login_uid` to
// /proc/self/loginuid, as a login would), and returns the child's exit code.
int run_as(uid_t uid, gid_t gid, const std::function<int()>& fn, std::optional<unsigned> login_uid = std::nullopt);

}  // namespace vigil::test

namespace vigil::test {

// A real process acting as another user, step by step: it runs steps[i] when told and
// stays alive in between, so an observer can attribute its actions from /proc the way it
// would for a long-lived process (an editor, a daemon).
class ActAs {
public:
    ActAs(uid_t uid, gid_t gid, std::optional<unsigned> login_uid, std::vector<std::function<int()>> steps);
    ~ActAs();  // lets the child exit and reaps it
    ActAs(const ActAs&) = delete;
    ActAs& operator=(const ActAs&) = delete;
    int run_next();  // the step's return value, or -1 if the child is gone
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int to_child_ = -1;
    int from_child_ = -1;
};

}  // namespace vigil::test
