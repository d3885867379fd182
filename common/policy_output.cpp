#include "common/policy_output.h"

#include <array>
#include <cmath>
#include <string_view>
#include <utility>

#include "common/escape.h"
#include "common/rule_match.h"

namespace vigil {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<std::string_view, int>, 20> kFacilities{{
    {"kern", 0},    {"user", 1},    {"mail", 2},    {"daemon", 3},    {"auth", 4},    {"syslog", 5},  {"lpr", 6},
    {"news", 7},    {"uucp", 8},    {"cron", 9},    {"authpriv", 10}, {"ftp", 11},    {"local0", 16}, {"local1", 17},
    {"local2", 18}, {"local3", 19}, {"local4", 20}, {"local5", 21},   {"local6", 22}, {"local7", 23},
}};

constexpr std::size_t kMaxPathBytes = 4095;

std::string quote_text(std::string_view v) {
    return "\"" + escape_bytes(v.size() > 120 ? v.substr(0, 120) : v) + (v.size() > 120 ? "\"…" : "\"");
}

std::optional<std::string> absolute_path_problem(std::string_view p) {
    if (p.empty()) return "is empty";
    if (p.size() > kMaxPathBytes) return "is longer than 4095 bytes";
    if (p.front() != '/') return "is relative; it must be absolute";
    if (p.find('\0') != std::string_view::npos) return "contains a NUL byte";
    if (p.back() == '/') return "ends with '/'; it must name a file";
    const std::string s = std::string(p) + "/";
    if (s.find("/./") != std::string::npos || s.find("/../") != std::string::npos || s.find("//") != std::string::npos)
        return "contains '.', '..' or empty components";
    return std::nullopt;
}

// Every key of `obj` must be one of `known`: a misspelt key would silently keep a default.
Result<void> only_known_keys(const json& obj, const std::string& where, std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : obj.items()) {
        bool ok = false;
        for (const auto k : known) ok = ok || key == k;
        if (ok) continue;
        std::string message = where + ": unknown key " + quote_text(key) + " (known: ";
        bool first = true;
        for (const auto k : known) {
            if (!first) message += ", ";
            message += k;
            first = false;
        }
        message += ")";
        return Error::msg(message);
    }
    return {};
}

Result<std::int64_t> whole_number(const json& v, const std::string& where, std::int64_t min, std::int64_t max) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > max)
        return Error::msg(where + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    return v.get<std::int64_t>();
}

Result<JsonlOutput> parse_jsonl(const json& j, const std::string& where) {
    if (!j.is_object()) return Error::msg(where + " must be an object {\"path\": ...}");
    VIGIL_TRY(only_known_keys(j, where, {"path", "max_size_mb", "keep"}));
    JsonlOutput out;
    if (!j.contains("path") || !j["path"].is_string()) return Error::msg(where + ": \"path\" (a string) is required");
    out.path = j["path"].get<std::string>();
    if (auto p = absolute_path_problem(out.path))
        return Error::msg(where + ": \"path\" " + quote_text(out.path) + " " + *p);
    if (j.contains("max_size_mb")) {
        // Fractions allowed (0.0625 = 64 KiB) for small hosts and tests; 0 leaves rotation
        // to logrotate (which sends SIGHUP: the file is reopened).
        const auto& v = j["max_size_mb"];
        const double mb = v.is_number() ? v.get<double>() : -1;
        if (!v.is_number() || !std::isfinite(mb) || (mb != 0 && (mb < 0.0625 || mb > 1048576)))
            return Error::msg(where + ": \"max_size_mb\" must be 0 (no rotation) or a number from 0.0625 to 1048576");
        out.max_size_bytes = static_cast<std::uint64_t>(mb * 1024 * 1024);
    }
    if (j.contains("keep")) {
        auto keep = whole_number(j["keep"], where + ": \"keep\"", 1, 1000);
        if (!keep) return keep.error();
        out.keep = static_cast<std::uint32_t>(keep.value());
    }
    return out;
}

Result<SyslogOutput> parse_syslog(const json& j, const std::string& where) {
    if (!j.is_object()) return Error::msg(where + " must be an object ({} for the defaults)");
    VIGIL_TRY(only_known_keys(j, where, {"facility", "socket", "min_severity", "max_bytes", "max_backlog"}));
    SyslogOutput out;
    if (j.contains("facility")) {
        const auto& v = j["facility"];
        const auto code = v.is_string() ? syslog_facility_from_name(v.get<std::string>()) : std::nullopt;
        if (!code)
            return Error::msg(where +
                              ": \"facility\" must be one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, "
                              "cron, authpriv, ftp, local0 .. local7" +
                              (v.is_string() ? ", not " + quote_text(v.get<std::string>()) : std::string()));
        out.facility = *code;
    }
    if (j.contains("socket")) {
        if (!j["socket"].is_string()) return Error::msg(where + ": \"socket\" must be a string");
        out.socket = j["socket"].get<std::string>();
        if (auto p = absolute_path_problem(out.socket))
            return Error::msg(where + ": \"socket\" " + quote_text(out.socket) + " " + *p);
        if (out.socket.size() >= 108)  // sizeof(sockaddr_un::sun_path)
            return Error::msg(where + ": \"socket\" is longer than a Unix socket path may be (107 bytes)");
    }
    if (j.contains("min_severity")) {
        const auto& v = j["min_severity"];
        const auto s = v.is_string() ? severity_from_name(v.get<std::string>()) : std::nullopt;
        if (!s) return Error::msg(where + ": \"min_severity\" must be info, low, medium, high or critical");
        out.min_severity = *s;
    }
    if (j.contains("max_bytes")) {
        // 4096 at least: the structured data of any event fits in it once long values are cut.
        auto n = whole_number(j["max_bytes"], where + ": \"max_bytes\"", 4096, 65507);
        if (!n) return n.error();
        out.max_bytes = static_cast<std::size_t>(n.value());
    }
    if (j.contains("max_backlog")) {
        auto n = whole_number(j["max_backlog"], where + ": \"max_backlog\"", 0, 1'000'000);
        if (!n) return n.error();
        out.max_backlog = n.value();
    }
    return out;
}

}  // namespace

std::optional<int> syslog_facility_from_name(std::string_view name) {
    for (const auto& [n, code] : kFacilities)
        if (n == name) return code;
    return std::nullopt;
}

std::optional<Severity> severity_from_name(std::string_view name) {
    for (auto s : {Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical})
        if (severity_name(s) == name) return s;
    return std::nullopt;
}

Result<OutputConfig> parse_output_config(const json& output, const std::string& where) {
    const std::string here = where + ": \"output\"";
    if (!output.is_object()) return Error::msg(here + " must be an object {\"jsonl\": {...}, \"syslog\": {...}}");
    VIGIL_TRY(only_known_keys(output, here, {"jsonl", "syslog"}));
    OutputConfig config;
    if (output.contains("jsonl")) {
        auto j = parse_jsonl(output["jsonl"], here + ": \"jsonl\"");
        if (!j) return j.error();
        config.jsonl = std::move(j.value());
    }
    if (output.contains("syslog")) {
        auto s = parse_syslog(output["syslog"], here + ": \"syslog\"");
        if (!s) return s.error();
        config.syslog = std::move(s.value());
    }
    return config;
}

Result<void> check_output_unwatched(const Policy& policy, const std::string& where) {
    if (!policy.output.jsonl) return {};
    const std::string& path = policy.output.jsonl->path;
    const RuleMatcher matcher(policy);
    const auto rule = matcher.rule_for(path);
    if (!rule || policy.rules[*rule].watch == WatchMode::None) return {};
    return Error::msg(where + ": \"output\": \"jsonl\": \"path\" " + quote_text(path) + " lies in the tree of rule " +
                      std::to_string(*rule + 1) + " (" + quote_text(policy.rules[*rule].path) +
                      "), which is watched: the agent would record its own writes; move the file out or exclude it");
}

}  // namespace vigil
