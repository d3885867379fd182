// Actor: who did something. Every field is optional: unknown stays unknown, never guessed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace vigil {

struct Actor {
    std::optional<std::int64_t> pid;
    std::optional<std::int64_t> ppid;
    std::optional<std::int64_t> uid;
    std::optional<std::int64_t> euid;
    std::optional<std::int64_t> gid;
    std::optional<std::int64_t> auid;  // login uid: the human behind sudo/su; unset is null
    std::optional<std::string> user;
    std::optional<std::string> login_user;
    std::optional<std::string> exe;      // raw bytes
    std::optional<std::string> comm;     // raw bytes
    std::optional<std::string> cmdline;  // raw bytes, arguments separated by spaces
};

// The calling process itself (vigil update records who accepted a baseline).
Actor self_actor();

// User name of a uid through NSS (so LDAP/SSSD users resolve), or nullopt.
std::optional<std::string> user_name(std::int64_t uid);

// /proc/PID/loginuid, or nullopt when unset (4294967295) or unreadable.
std::optional<std::int64_t> read_login_uid(pid_t pid);

}  // namespace vigil
