// One audit event (all the records the kernel emitted for one syscall, grouped by serial
// by libauparse), reduced to what Vigil uses: the syscall and its result, the actor as the
// kernel saw it at that moment, and the names the syscall touched.
#pragma once

#include <auparse.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/actor.h"

namespace vigil::agent {

struct AuditName {
    std::string name;      // raw bytes as the process gave it (may be relative)
    std::string nametype;  // NORMAL, PARENT, CREATE, DELETE, UNKNOWN
    std::optional<std::uint64_t> inode;
};

struct AuditRecord {
    std::int64_t time_ns = 0;  // the kernel's timestamp (ms resolution), CLOCK_REALTIME
    std::uint64_t serial = 0;
    std::string syscall;  // name on the native arch, or the number when unknown
    std::optional<std::int64_t> exit;
    bool success = false;
    std::optional<std::string> key;
    std::optional<std::string> a0, a1, a2;  // arguments in hex: dirfd, open's and openat's flags
    Actor actor;                            // user names not resolved here
    std::optional<std::string> cwd;
    std::vector<AuditName> names;
};

// Reads the event auparse is positioned on; nullopt when it holds no syscall record.
std::optional<AuditRecord> read_audit_event(auparse_state_t* au);

// Whether a record of this type is part of the syscall events we read. Only these go to
// libauparse: every one of those events ends with an EOE record, so none waits for
// auparse's timeout — a single-record event without EOE (CONFIG_CHANGE, DAEMON_*, logins)
// would hold every later event back for seconds.
bool syscall_event_record(int type);

// An AUDIT_CONFIG_CHANGE record's "audit_pid=N old=M": someone (an auditd starting)
// asked for the daemon role, which M held. nullopt for any other change.
struct AuditPidChange {
    std::int64_t requested = 0;
    std::int64_t old = 0;
};
std::optional<AuditPidChange> audit_pid_change(std::string_view text);

// "type=NAME msg=TEXT\n", the log line auparse parses, from one netlink message.
std::string audit_log_line(int type, const char* text, std::size_t len);

// The names the record touched, made absolute against its CWD where that is sound (a name
// relative to another directory fd cannot be resolved from the record: left out).
std::vector<std::string> absolute_names(const AuditRecord& r, bool skip_parents);

// The operation a syscall tried, in the words of the `denied` detail: open, unlink, rename,
// chmod, chown, setxattr, truncate.
std::string audit_operation(const std::string& syscall);

}  // namespace vigil::agent
