// Vigil's own rules in the kernel's audit subsystem, through libaudit: built from the
// watched roots, added, found again by their filter key and removed — only ours, never
// anyone else's (auditd's rules, an admin's auditctl -w), whoever loaded them.
//
// Per watched root (AUDIT_DIR for a directory, which covers its whole subtree; AUDIT_WATCH
// for a single file), on the native arch (b64) only, the attempts that failed: open/creat/
// truncate, unlink, rename, chmod, chown and the xattr calls with exit=-EACCES, and the
// same with exit=-EPERM (a rule's fields are ANDed, so one rule per errno).
// With attribution, one host-wide rule more: every successful execve/execveat. A process
// that writes and exits before /proc is read was (almost always) started by an exec; its
// exec record names it — one record per process start, not one per write, so a process
// writing thousands of files costs nothing more (a perm=wa rule per tree cost 2.6x on a
// create storm: bench/RESULTS.md).
// Reads that succeed are never audited: fanotify sees those, and they are the bulk.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/result.h"

namespace vigil::agent {

// Every rule carries the filter key "vigil-" + 8 hex digits of the database path's SHA-256:
// one agent per database (the agent lock), so a crashed agent's stale rules are exactly
// those with its key — and two agents on one host never remove each other's.
std::string audit_rule_key(const std::string& db_path);

struct AuditRoot {
    std::string path;  // absolute
    bool is_dir = true;
};

// Adds the rules for `roots`; returns how many were added. Stops at the first refusal.
Result<std::size_t> add_audit_rules(int control_fd, const std::string& key, const std::vector<AuditRoot>& roots,
                                    bool attribution);

// How many rules carry our key (listing them through AUDIT_LIST_RULES).
Result<std::size_t> count_audit_rules(int control_fd, const std::string& key);

// Removes every rule whose filter key is exactly `key`; returns how many.
Result<std::size_t> remove_audit_rules(int control_fd, const std::string& key);

}  // namespace vigil::agent
