#include "agent/audit_record.h"

#include <libaudit.h>

#include <cstdlib>
#include <cstring>

#include "common/walker.h"

namespace vigil::agent {
namespace {

std::optional<std::string> field(auparse_state_t* au, const char* name) {
    auparse_first_field(au);
    const char* v = auparse_find_field(au, name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
}

// A field through auparse's interpretation: hex-encoded names decoded, syscall numbers named.
std::optional<std::string> interpreted(auparse_state_t* au, const char* name) {
    auparse_first_field(au);
    if (auparse_find_field(au, name) == nullptr) return std::nullopt;
    const char* v = auparse_interpret_field(au);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
}

std::optional<std::int64_t> number(auparse_state_t* au, const char* name) {
    auto v = field(au, name);
    if (!v || v->empty()) return std::nullopt;
    char* end = nullptr;
    const long long n = std::strtoll(v->c_str(), &end, 10);
    if (end == v->c_str() || *end != '\0') return std::nullopt;
    return n;
}

// Unset ids are (uint32)-1 in audit records.
std::optional<std::int64_t> id(auparse_state_t* au, const char* name) {
    auto v = number(au, name);
    if (v && *v == 4294967295LL) return std::nullopt;
    return v;
}

}  // namespace

std::string audit_log_line(int type, const char* text, std::size_t len) {
    const char* name = audit_msg_type_to_name(type);
    std::string line = "type=";
    line += name != nullptr ? name : "UNKNOWN[" + std::to_string(type) + "]";
    line += " msg=";
    line.append(text, strnlen(text, len));
    line += '\n';
    return line;
}

std::optional<AuditRecord> read_audit_event(auparse_state_t* au) {
    AuditRecord r;
    if (const au_event_t* ts = auparse_get_timestamp(au)) {
        r.time_ns =
            static_cast<std::int64_t>(ts->sec) * 1'000'000'000 + static_cast<std::int64_t>(ts->milli) * 1'000'000;
        r.serial = ts->serial;
    }
    bool syscall = false;
    if (auparse_first_record(au) <= 0) return std::nullopt;
    do {
        const int type = auparse_get_type(au);
        if (type == AUDIT_SYSCALL) {
            syscall = true;
            r.syscall = interpreted(au, "syscall").value_or("");
            r.success = field(au, "success") == "yes";
            r.exit = number(au, "exit");
            r.key = interpreted(au, "key");
            if (r.key == "(null)") r.key.reset();
            r.a0 = field(au, "a0");
            r.a1 = field(au, "a1");
            r.a2 = field(au, "a2");
            r.actor.pid = number(au, "pid");
            r.actor.ppid = number(au, "ppid");
            r.actor.uid = id(au, "uid");
            r.actor.euid = id(au, "euid");
            r.actor.gid = id(au, "gid");
            r.actor.auid = id(au, "auid");
            r.actor.comm = interpreted(au, "comm");
            r.actor.exe = interpreted(au, "exe");
        } else if (type == AUDIT_CWD) {
            r.cwd = interpreted(au, "cwd");
        } else if (type == AUDIT_PATH) {
            AuditName n;
            n.name = interpreted(au, "name").value_or("");
            n.nametype = field(au, "nametype").value_or("");
            if (auto ino = field(au, "inode")) n.inode = std::strtoull(ino->c_str(), nullptr, 10);
            r.names.push_back(std::move(n));
        } else if (type == AUDIT_PROCTITLE) {
            r.actor.cmdline = interpreted(au, "proctitle");
        }
    } while (auparse_next_record(au) > 0);
    if (!syscall) return std::nullopt;
    return r;
}

bool syscall_event_record(int type) {
    return type == AUDIT_SYSCALL || type == AUDIT_CWD || type == AUDIT_PATH || type == AUDIT_PROCTITLE ||
           type == AUDIT_EOE;
}

std::optional<AuditPidChange> audit_pid_change(std::string_view text) {
    auto value = [&](std::string_view key) -> std::optional<std::int64_t> {
        for (std::size_t at = text.find(key); at != std::string_view::npos; at = text.find(key, at + 1)) {
            if (at != 0 && text[at - 1] != ' ') continue;  // "old=" must not match "xold="
            const std::string digits(text.substr(at + key.size(), 20));
            char* end = nullptr;
            const long long v = std::strtoll(digits.c_str(), &end, 10);
            if (end == digits.c_str()) return std::nullopt;
            return v;
        }
        return std::nullopt;
    };
    auto requested = value("audit_pid=");
    auto old = value("old=");
    if (!requested || !old) return std::nullopt;
    return AuditPidChange{*requested, *old};
}

std::vector<std::string> absolute_names(const AuditRecord& r, bool skip_parents) {
    // *at syscalls with a directory fd other than AT_FDCWD (a0 = ffffff9c) resolve relative
    // names against that fd, which the record does not name.
    const std::string& s = r.syscall;
    const bool at_call = (s.size() > 2 && s.compare(s.size() - 2, 2, "at") == 0) ||
                         (s.size() > 3 && s.compare(s.size() - 3, 3, "at2") == 0);
    const bool dirfd_relative = at_call && s != "creat" && r.a0 != "ffffff9c";
    std::vector<std::string> out;
    for (const auto& n : r.names) {
        if (n.name.empty() || n.name == "(null)") continue;
        if (skip_parents && n.nametype == "PARENT") continue;
        if (n.name.front() == '/') {
            out.push_back(n.name);
        } else if (r.cwd && !dirfd_relative) {
            out.push_back(join_path(*r.cwd, n.name));
        }
    }
    return out;
}

std::string audit_operation(const std::string& syscall) {
    if (syscall.rfind("open", 0) == 0 || syscall == "creat") return "open";
    if (syscall.rfind("unlink", 0) == 0 || syscall == "rmdir") return "unlink";
    if (syscall.rfind("rename", 0) == 0) return "rename";
    if (syscall.find("chmod") != std::string::npos) return "chmod";
    if (syscall.find("chown") != std::string::npos) return "chown";
    if (syscall.find("xattr") != std::string::npos) return "setxattr";
    if (syscall.find("truncate") != std::string::npos) return "truncate";
    return syscall;
}

}  // namespace vigil::agent
