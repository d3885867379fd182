#include "common/policy.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "common/embedded_text.h"
#include "common/escape.h"
#include "common/expectation_parse.h"
#include "common/policy_output.h"
#include "common/sha256.h"
#include "common/sys.h"

namespace vigil {

namespace {

using nlohmann::json;

constexpr int kMaxDepth = 16;  // a policy is three levels deep; anything deeper is hostile
constexpr std::size_t kMaxPathBytes = 4095;
constexpr std::size_t kMaxQuoted = 120;  // bytes of a hostile value worth echoing in an error

// A value from the policy, quoted and escaped for an error message, cut short if it is
// huge: a 3 MB key must give a one-line error, not a 3 MB one.
std::string quote_value(std::string_view value) {
    if (value.size() <= kMaxQuoted) return "\"" + escape_bytes(value) + "\"";
    // Cut on a byte boundary; escape_bytes shows a split UTF-8 sequence as \xNN, which is honest.
    return "\"" + escape_bytes(value.substr(0, kMaxQuoted)) + "\"… (" + std::to_string(value.size()) + " bytes)";
}

struct AttrName {
    Attr attr;
    std::string_view name;
};
constexpr std::array<AttrName, 14> kAttrNames{{
    {kAttrSha256, "sha256"},
    {kAttrMode, "mode"},
    {kAttrUid, "uid"},
    {kAttrGid, "gid"},
    {kAttrSize, "size"},
    {kAttrMtime, "mtime"},
    {kAttrCtime, "ctime"},
    {kAttrInode, "inode"},
    {kAttrNlink, "nlink"},
    {kAttrXattrs, "xattrs"},
    {kAttrAcl, "acl"},
    {kAttrCaps, "caps"},
    {kAttrTarget, "target"},
    {kAttrDev, "dev"},
}};

constexpr std::array<std::string_view, 10> kRuleKeys = {"path",  "recursive", "exclude", "check", "watch",
                                                        "label", "severity",  "expect",  "alert", "one_filesystem"};

struct DepthExceeded : std::runtime_error {
    DepthExceeded() : std::runtime_error("nesting deeper than 16 levels") {}
};

class RuleErrors {
public:
    RuleErrors(std::string_view source, std::size_t index, const json& rule) : source_(source) {
        prefix_ = "policy " + escape_bytes(source) + ": rule " + std::to_string(index + 1);
        if (rule.is_object() && rule.contains("path") && rule["path"].is_string())
            prefix_ += " (" + quote_value(rule["path"].get<std::string>()) + ")";
    }
    Error operator()(const std::string& what) const { return Error::msg(prefix_ + ": " + what); }

private:
    std::string_view source_;
    std::string prefix_;
};

std::optional<std::string> path_problem(std::string_view p) {
    if (p.empty()) return "is empty";
    if (p.size() > kMaxPathBytes) return "is longer than 4095 bytes";
    if (p.front() != '/') return "is relative; rule paths must be absolute";
    if (p.find('\0') != std::string_view::npos) return "contains a NUL byte";
    if (p.size() > 1 && p.back() == '/') return "ends with '/'; write it without the trailing slash";
    if (p.find("//") != std::string_view::npos) return "contains '//'";
    const std::string s = std::string(p) + "/";
    if (s.find("/./") != std::string::npos || s.find("/../") != std::string::npos)
        return "contains '.' or '..' components";
    return std::nullopt;
}

Result<std::string> get_string(const json& v, const RuleErrors& err, std::string_view key) {
    if (!v.is_string()) return err("\"" + std::string(key) + "\" must be a string");
    return v.get<std::string>();
}

Result<bool> get_bool(const json& v, const RuleErrors& err, std::string_view key) {
    if (!v.is_boolean()) return err("\"" + std::string(key) + "\" must be true or false");
    return v.get<bool>();
}

Result<std::uint32_t> parse_check(const json& v, const RuleErrors& err) {
    if (!v.is_array()) return err("\"check\" must be an array of attribute names");
    std::uint32_t mask = 0;
    for (const auto& item : v) {
        if (!item.is_string()) return err("\"check\" entries must be strings");
        const auto name = item.get<std::string>();
        const auto attr = attr_from_name(name);
        if (!attr) {
            std::string known;
            for (const auto& a : kAttrNames) known += (known.empty() ? "" : ", ") + std::string(a.name);
            return err("unknown attribute " + quote_value(name) + " in \"check\" (known: " + known + ")");
        }
        mask |= *attr;
    }
    return mask;
}

Result<std::vector<std::string>> parse_excludes(const json& v, const RuleErrors& err, const std::string& root) {
    if (!v.is_array()) return err("\"exclude\" must be an array of globs");
    std::vector<std::string> out;
    for (const auto& item : v) {
        if (!item.is_string()) return err("\"exclude\" entries must be strings");
        auto glob = item.get<std::string>();
        if (auto problem = glob_problem(glob))
            return err("bad glob " + quote_value(glob) + " in \"exclude\": " + *problem);
        if (glob.front() == '/') {
            if (auto problem = path_problem(glob)) return err("exclude " + quote_value(glob) + " " + *problem);
            const std::string under = root == "/" ? root : root + "/";
            if (glob.compare(0, under.size(), under) != 0)
                return err("exclude " + quote_value(glob) + " is not under the rule's path");
        } else if (glob.find('/') != std::string::npos) {
            return err("exclude " + quote_value(glob) +
                       " has a '/' but is not absolute; relative excludes match a single name");
        }
        out.push_back(std::move(glob));
    }
    return out;
}

Result<Rule> parse_rule(const json& j, const RuleErrors& err) {
    if (!j.is_object()) return err("must be an object");
    for (const auto& [key, value] : j.items()) {
        bool known = false;
        for (const auto k : kRuleKeys) known = known || key == k;
        if (!known) return err("unknown key " + quote_value(key));
    }
    if (!j.contains("path")) return err("missing \"path\"");
    Rule rule;
    auto path = get_string(j["path"], err, "path");
    if (!path) return path.error();
    rule.path = std::move(path.value());
    if (auto problem = path_problem(rule.path)) return err("path " + *problem);
    if (auto problem = glob_problem(rule.path)) return err("bad glob in path: " + *problem);

    if (j.contains("recursive")) {
        auto v = get_bool(j["recursive"], err, "recursive");
        if (!v) return v.error();
        rule.recursive = v.value();
    }
    if (j.contains("one_filesystem")) {
        auto v = get_bool(j["one_filesystem"], err, "one_filesystem");
        if (!v) return v.error();
        rule.one_filesystem = v.value();
    }
    if (j.contains("exclude")) {
        auto v = parse_excludes(j["exclude"], err, rule.path);
        if (!v) return v.error();
        rule.exclude = std::move(v.value());
    }
    if (j.contains("check")) {
        auto v = parse_check(j["check"], err);
        if (!v) return v.error();
        rule.check = v.value();
    }
    if (j.contains("watch")) {
        auto v = get_string(j["watch"], err, "watch");
        if (!v) return v.error();
        if (v.value() == "none")
            rule.watch = WatchMode::None;
        else if (v.value() == "modify")
            rule.watch = WatchMode::Modify;
        else if (v.value() == "access")
            rule.watch = WatchMode::Access;
        else
            return err("\"watch\" must be none, modify or access, not " + quote_value(v.value()));
    }
    if (j.contains("label")) {
        auto v = get_string(j["label"], err, "label");
        if (!v) return v.error();
        if (v.value().empty() || v.value().size() > 64) return err("\"label\" must be 1 to 64 characters");
        for (const char c : v.value())
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
                return err("\"label\" may hold only letters, digits, '-', '_' and '.'");
        rule.label = std::move(v.value());
    }
    if (j.contains("severity")) {
        auto v = get_string(j["severity"], err, "severity");
        if (!v) return v.error();
        bool found = false;
        for (auto s : {Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical}) {
            if (severity_name(s) == v.value()) rule.severity = s, found = true;
        }
        if (!found)
            return err("\"severity\" must be info, low, medium, high or critical, not " + quote_value(v.value()));
    }
    const RuleError fail = [&err](const std::string& what) { return err(what); };
    if (j.contains("expect")) {
        auto v = parse_expect(j["expect"], rule.watch, fail);
        if (!v) return v.error();
        rule.expect = std::move(v.value());
    }
    if (j.contains("alert")) {
        auto v = parse_alert(j["alert"], rule.watch, fail);
        if (!v) return v.error();
        rule.alert = std::move(v.value());
    }
    return rule;
}

// nlohmann reports "[json.exception.parse_error.101] parse error at line 3, column 14: ...";
// the bracketed tag means nothing to an operator.
std::string clean_json_error(const char* what) {
    std::string s = what;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find("] ");
        if (close != std::string::npos) s.erase(0, close + 2);
    }
    if (s.size() > 400) s = s.substr(0, 400) + "…";  // "last read: '...'" can quote a huge token
    return escape_bytes(s);
}

}  // namespace

std::string_view attr_name(Attr a) {
    for (const auto& n : kAttrNames)
        if (n.attr == a) return n.name;
    return "?";
}

std::optional<Attr> attr_from_name(std::string_view name) {
    for (const auto& n : kAttrNames)
        if (n.name == name) return n.attr;
    return std::nullopt;
}

std::string_view watch_mode_name(WatchMode m) {
    switch (m) {
        case WatchMode::None: return "none";
        case WatchMode::Modify: return "modify";
        case WatchMode::Access: return "access";
    }
    return "?";
}

std::string_view severity_name(Severity s) {
    switch (s) {
        case Severity::Info: return "info";
        case Severity::Low: return "low";
        case Severity::Medium: return "medium";
        case Severity::High: return "high";
        case Severity::Critical: return "critical";
    }
    return "?";
}

bool has_glob_chars(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

std::optional<std::string> glob_problem(std::string_view glob) {
    if (glob.empty()) return "is empty";
    if (glob.size() > kMaxPathBytes) return "is longer than 4095 bytes";
    if (glob.find('\0') != std::string_view::npos) return "contains a NUL byte";
    for (std::size_t i = 0; i < glob.size(); ++i) {
        const char c = glob[i];
        if (c == '\\') {
            if (i + 1 == glob.size()) return "ends with a lone backslash";
            ++i;
        } else if (c == '[') {
            // fnmatch(3) would silently treat an unclosed '[' as a literal: refuse instead.
            std::size_t j = i + 1;
            if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) ++j;
            if (j < glob.size() && glob[j] == ']') ++j;
            while (j < glob.size() && glob[j] != ']') {
                if (glob[j] == '/') return "has a '[' bracket that spans a '/'";
                ++j;
            }
            if (j >= glob.size()) return "has an unclosed '['";
            i = j;
        }
    }
    return std::nullopt;
}

bool Rule::excludes(std::string_view full_path, std::string_view name) const {
    for (const auto& glob : exclude) {
        if (glob.front() == '/') {
            if (::fnmatch(glob.c_str(), std::string(full_path).c_str(), FNM_PATHNAME) == 0) return true;
        } else if (::fnmatch(glob.c_str(), std::string(name).c_str(), 0) == 0) {
            return true;
        }
    }
    return false;
}

Result<Policy> parse_policy(std::string_view text, std::string_view source) {
    const std::string where = "policy " + escape_bytes(source);
    if (text.size() > kMaxPolicyBytes) return Error::msg(where + ": larger than 4 MiB, refusing to parse it");
    json doc;
    try {
        const json::parser_callback_t limit_depth = [](int depth, json::parse_event_t, json&) {
            if (depth > kMaxDepth) throw DepthExceeded();
            return true;
        };
        doc = json::parse(text.begin(), text.end(), limit_depth, /*allow_exceptions=*/true,
                          /*ignore_comments=*/true);
    } catch (const DepthExceeded& e) {
        return Error::msg(where + ": " + e.what());
    } catch (const json::exception& e) {
        return Error::msg(where + ": " + clean_json_error(e.what()));
    }
    if (!doc.is_object()) return Error::msg(where + ": the top level must be an object {\"rules\": [...]}");
    for (const auto& [key, value] : doc.items()) {
        if (key != "rules" && key != "sealing" && key != "limits" && key != "retention" && key != "output" &&
            key != "audit")
            return Error::msg(where + ": unknown top-level key " + quote_value(key));
    }
    if (!doc.contains("rules") || !doc["rules"].is_array())
        return Error::msg(where + ": \"rules\" must be an array of rules");
    if (doc["rules"].empty()) return Error::msg(where + ": \"rules\" is empty; nothing would be watched");

    Policy policy;
    policy.source = std::string(source);
    if (doc.contains("sealing")) {
        const auto& sealing = doc["sealing"];
        if (!sealing.is_object()) return Error::msg(where + ": \"sealing\" must be an object");
        for (const auto& [key, value] : sealing.items()) {
            if (key != "epoch_seconds")
                return Error::msg(where + ": \"sealing\": unknown key " + quote_value(key) + " (known: epoch_seconds)");
            if (!value.is_number_integer() || value.get<std::int64_t>() < 1 || value.get<std::int64_t>() > 86400)
                return Error::msg(where +
                                  ": \"sealing\": \"epoch_seconds\" must be a whole number of seconds from 1 "
                                  "to 86400");
            policy.seal_epoch_seconds = value.get<std::int64_t>();
        }
    }
    if (doc.contains("retention")) {
        const auto& retention = doc["retention"];
        if (!retention.is_object()) return Error::msg(where + ": \"retention\" must be an object");
        for (const auto& [key, value] : retention.items()) {
            if (key != "days")
                return Error::msg(where + ": \"retention\": unknown key " + quote_value(key) + " (known: days)");
            if (!value.is_number_integer() || value.get<std::int64_t>() < 1 || value.get<std::int64_t>() > 36500)
                return Error::msg(where + ": \"retention\": \"days\" must be a whole number of days from 1 to 36500");
            policy.retention_days = static_cast<std::uint32_t>(value.get<std::int64_t>());
        }
    }
    if (doc.contains("limits")) {
        const auto& limits = doc["limits"];
        if (!limits.is_object()) return Error::msg(where + ": \"limits\" must be an object");
        for (const auto& [key, value] : limits.items()) {
            struct Limit {
                const char* name;
                std::int64_t min, max;
            };
            static constexpr Limit kLimits[] = {{"kernel_queue_events", 1024, 4'194'304},
                                                {"queue_memory_mb", 16, 65'536},
                                                {"path_events_per_second", 1, 1'000'000},
                                                {"inline_hash_mb", 1, 1'048'576}};
            const Limit* limit = nullptr;
            for (const auto& l : kLimits)
                if (key == l.name) limit = &l;
            if (limit == nullptr)
                return Error::msg(where + ": \"limits\": unknown key " + quote_value(key) +
                                  " (known: kernel_queue_events, queue_memory_mb, path_events_per_second, "
                                  "inline_hash_mb)");
            if (!value.is_number_integer() || value.get<std::int64_t>() < limit->min ||
                value.get<std::int64_t>() > limit->max)
                return Error::msg(where + ": \"limits\": \"" + limit->name + "\" must be a whole number from " +
                                  std::to_string(limit->min) + " to " + std::to_string(limit->max));
            const auto v = static_cast<std::uint32_t>(value.get<std::int64_t>());
            if (key == "kernel_queue_events") {
                policy.kernel_queue_events = v;
            } else if (key == "queue_memory_mb") {
                policy.queue_memory_mb = v;
            } else if (key == "inline_hash_mb") {
                policy.inline_hash_mb = v;
            } else {
                policy.path_events_per_second = v;
            }
        }
    }
    if (doc.contains("output")) {
        auto output = parse_output_config(doc["output"], where);
        if (!output) return output.error();
        policy.output = std::move(output.value());
    }
    if (doc.contains("audit")) {
        // The Linux audit subsystem as a second source: denied attempts, attribution of
        // short-lived processes. docs/policy.md, "audit".
        const auto& audit = doc["audit"];
        if (!audit.is_object()) return Error::msg(where + ": \"audit\" must be an object");
        for (const auto& [key, value] : audit.items()) {
            if (key != "enabled" && key != "attribution")
                return Error::msg(where + ": \"audit\": unknown key " + quote_value(key) +
                                  " (known: enabled, attribution)");
            if (!value.is_boolean())
                return Error::msg(where + ": \"audit\": " + quote_value(key) + " must be true or false");
            (key == "enabled" ? policy.audit_enabled : policy.audit_attribution) = value.get<bool>();
        }
    }
    std::set<std::string> seen;
    const auto& rules = doc["rules"];
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const RuleErrors err(source, i, rules[i]);
        auto rule = parse_rule(rules[i], err);
        if (!rule) return rule.error();
        for (std::size_t k = 0; k < policy.rules.size(); ++k) {
            if (policy.rules[k].path == rule->path)
                return err("duplicate rule: rule " + std::to_string(k + 1) + " has the same path");
        }
        policy.rules.push_back(std::move(rule.value()));
    }
    VIGIL_TRY(check_output_unwatched(policy, where));
    auto digest = sha256_bytes(text);
    if (!digest) return digest.error();
    policy.sha256_hex = digest_hex(digest.value());
    policy.text = std::string(text);
    return policy;
}

Result<Policy> load_policy_file(const std::string& path) {
    const std::string where = "policy " + escape_bytes(path);
    auto fd = open_at(AT_FDCWD, path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK, path);
    if (!fd) {
        if (fd.error().code == std::errc::too_many_symbolic_link_levels)
            return Error::msg(where + ": is a symlink; give the real file");
        return Error::msg(where + ": " + fd.error().code.message());
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) < 0) return Error::from_errno(errno, "fstat " + where);
    if (!S_ISREG(st.st_mode)) return Error::msg(where + ": is not a regular file");
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return Error::msg(where + ": is writable by group or others; a policy must be writable only by its owner");
    if (st.st_uid != 0 && st.st_uid != ::geteuid())
        return Error::msg(where + ": is owned by uid " + std::to_string(st.st_uid) + ", not by root or the caller");
    if (static_cast<std::uint64_t>(st.st_size) > kMaxPolicyBytes)
        return Error::msg(where + ": larger than 4 MiB, refusing to parse it");
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = retry_eintr([&] { return ::read(fd->get(), text.data() + got, text.size() - got); });
        if (n < 0) return Error::from_errno(errno, "read " + where);
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    return parse_policy(text, path);
}

std::string_view embedded_default_policy_text() { return kDefaultPolicy[0].text; }

Result<Policy> load_policy(const std::optional<std::string>& explicit_path) {
    if (explicit_path) return load_policy_file(*explicit_path);
    const std::string system_path(kDefaultPolicyPath);
    struct stat st {};
    if (::lstat(system_path.c_str(), &st) == 0) return load_policy_file(system_path);
    if (errno != ENOENT) return Error::from_errno(errno, "policy " + system_path);
    return parse_policy(embedded_default_policy_text(), kEmbeddedPolicyName);
}

}  // namespace vigil
