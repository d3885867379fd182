#include "agent/audit_rules.h"

#include <libaudit.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/escape.h"
#include "common/sha256.h"

namespace vigil::agent {
namespace {

// The syscalls whose failures are `denied` events (x86_64 names; the xattr family counts
// as a change of attributes, like chmod).
constexpr const char* kDeniedSyscalls[] = {
    "open",     "openat",    "openat2",   "creat",     "truncate",    "unlink",       "unlinkat",    "rename",
    "renameat", "renameat2", "chmod",     "fchmodat",  "fchmod",      "chown",        "fchownat",    "lchown",
    "fchown",   "setxattr",  "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr"};

struct RuleFree {
    void operator()(audit_rule_data* r) const { audit_rule_free_data(r); }
};
using RulePtr = std::unique_ptr<audit_rule_data, RuleFree>;

// libaudit writes into the "field=value" text it parses, so each pair gets its own copy.
Result<void> add_pair(RulePtr& rule, const std::string& pair) {
    std::string text = pair;
    audit_rule_data* raw = rule.release();
    const int rc = audit_rule_fieldpair_data(&raw, text.data(), AUDIT_FILTER_EXIT);
    rule.reset(raw);
    if (rc != 0)
        return Error::msg("audit rule field " + escape_bytes(pair) + " refused by libaudit (" + std::to_string(rc) +
                          ")");
    return {};
}

// `root` null: a host-wide rule (the execve rule).
Result<RulePtr> make_rule(const std::string& key, const AuditRoot* root, const std::vector<const char*>& syscalls,
                          const std::vector<std::string>& pairs) {
    RulePtr rule(audit_rule_create_data());
    if (!rule) return Error::msg("audit rule: out of memory");
    VIGIL_TRY(add_pair(rule, "arch=b64"));  // first: syscall names are looked up for this arch
    for (const char* name : syscalls)
        if (audit_rule_syscallbyname_data(rule.get(), name) != 0)
            return Error::msg(std::string("audit rule: unknown syscall ") + name);
    if (root != nullptr) VIGIL_TRY(add_pair(rule, (root->is_dir ? "dir=" : "path=") + root->path));
    for (const auto& p : pairs) VIGIL_TRY(add_pair(rule, p));
    VIGIL_TRY(add_pair(rule, "key=" + key));
    return rule;
}

// String-valued rule fields: their bytes follow one another in rule->buf, in field order.
bool string_field(std::uint32_t field) {
    switch (field) {
        case AUDIT_WATCH:
        case AUDIT_DIR:
        case AUDIT_FILTERKEY:
        case AUDIT_EXE:
        case AUDIT_SUBJ_USER:
        case AUDIT_SUBJ_ROLE:
        case AUDIT_SUBJ_TYPE:
        case AUDIT_SUBJ_SEN:
        case AUDIT_SUBJ_CLR:
        case AUDIT_OBJ_USER:
        case AUDIT_OBJ_ROLE:
        case AUDIT_OBJ_TYPE:
        case AUDIT_OBJ_LEV_LOW:
        case AUDIT_OBJ_LEV_HIGH: return true;
        default: return false;
    }
}

bool has_key(const audit_rule_data& rule, const std::string& key) {
    std::size_t offset = 0;
    for (std::uint32_t i = 0; i < rule.field_count && i < AUDIT_MAX_FIELDS; ++i) {
        if (!string_field(rule.fields[i])) continue;
        const std::size_t len = rule.values[i];
        if (offset + len > rule.buflen) return false;
        if (rule.fields[i] == AUDIT_FILTERKEY && std::string_view(rule.buf + offset, len) == key) return true;
        offset += len;
    }
    return false;
}

// Every rule currently loaded that carries our key, copied out of the replies (the
// deletion must wait until the listing is over: both use the same socket).
Result<std::vector<std::vector<char>>> list_our_rules(int fd, const std::string& key) {
    if (audit_request_rules_list_data(fd) <= 0) return Error::from_errno(errno, "audit: list rules");
    std::vector<std::vector<char>> ours;
    for (;;) {
        audit_reply rep{};
        const int rc = audit_get_reply(fd, &rep, GET_REPLY_BLOCKING, 0);
        if (rc <= 0) return Error::from_errno(rc < 0 ? -rc : EIO, "audit: read rule list");
        if (rep.type == NLMSG_DONE) break;
        if (rep.type == NLMSG_ERROR) {
            if (rep.error->error == 0) continue;  // an ack
            return Error::from_errno(-rep.error->error, "audit: list rules");
        }
        if (rep.type != AUDIT_LIST_RULES || rep.ruledata == nullptr) continue;
        const std::size_t size = sizeof(audit_rule_data) + rep.ruledata->buflen;
        if (static_cast<std::size_t>(rep.len) < size || !has_key(*rep.ruledata, key)) continue;
        const auto* bytes =
            reinterpret_cast<const char*>(rep.ruledata);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
        ours.emplace_back(bytes, bytes + size);
    }
    return ours;
}

}  // namespace

std::string audit_rule_key(const std::string& db_path) {
    auto digest = sha256_bytes(db_path);
    return "vigil-" + (digest ? digest_hex(digest.value()).substr(0, 8) : std::string("0"));
}

Result<std::size_t> add_audit_rules(int control_fd, const std::string& key, const std::vector<AuditRoot>& roots,
                                    bool attribution) {
    std::vector<std::pair<RulePtr, std::string>> rules;  // the rule, what it is for (errors)
    const std::vector<const char*> denied(std::begin(kDeniedSyscalls), std::end(kDeniedSyscalls));
    for (const auto& root : roots) {
        for (const char* err : {"exit=-EACCES", "exit=-EPERM"}) {
            auto r = make_rule(key, &root, denied, {err});
            if (!r) return r.error();
            rules.emplace_back(std::move(r.value()), "'" + escape_bytes(root.path) + "'");
        }
    }
    if (attribution && !roots.empty()) {
        auto r = make_rule(key, nullptr, {"execve", "execveat"}, {"success=1"});
        if (!r) return r.error();
        rules.emplace_back(std::move(r.value()), "execve");
    }
    std::size_t added = 0;
    for (auto& [rule, what] : rules) {
        const int rc = audit_add_rule_data(control_fd, rule.get(), AUDIT_FILTER_EXIT, AUDIT_ALWAYS);
        // EEXIST: the same rule is there already (ours, from a reload): nothing to do.
        if (rc < 0 && rc != -EEXIST) return Error::from_errno(-rc, "audit: add rule for " + what);
        if (rc >= 0) ++added;
    }
    return added;
}

Result<std::size_t> count_audit_rules(int control_fd, const std::string& key) {
    auto ours = list_our_rules(control_fd, key);
    if (!ours) return ours.error();
    return ours->size();
}

Result<std::size_t> remove_audit_rules(int control_fd, const std::string& key) {
    auto ours = list_our_rules(control_fd, key);
    if (!ours) return ours.error();
    std::size_t removed = 0;
    for (auto& bytes : ours.value()) {
        auto* rule =
            reinterpret_cast<audit_rule_data*>(bytes.data());  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
        const int rc =
            audit_delete_rule_data(control_fd, rule, static_cast<int>(rule->flags), static_cast<int>(rule->action));
        if (rc < 0 && rc != -ENOENT) return Error::from_errno(-rc, "audit: delete rule");
        if (rc >= 0) ++removed;
    }
    return removed;
}

}  // namespace vigil::agent
