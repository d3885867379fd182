// Running the built binaries as a real child process (fork + execv, never a shell),
// optionally as another user, capturing exit code, stdout and stderr.
#pragma once

#include <sys/types.h>

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
