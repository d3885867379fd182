#include "common/expectation_parse.h"

#include <nlohmann/json.hpp>

#include "common/escape.h"

namespace vigil {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxEntries = 1024;  // per list: a policy names roles, not every employee
constexpr std::size_t kMaxExeBytes = 4095;
constexpr std::int64_t kMaxBulkFiles = 100'000;

std::string quote_entry(const std::string& s) {
    constexpr std::size_t kMax = 120;
    return "\"" + escape_bytes(s.size() > kMax ? s.substr(0, kMax) : s) + (s.size() > kMax ? "\"…" : "\"");
}

Result<std::vector<Principal>> parse_principals(const json& v, const char* key, const RuleError& fail) {
    const std::string where = std::string("\"expect\": \"") + key + "\"";
    if (!v.is_array()) return fail(where + " must be an array like [\"group:sales\", \"user:backup\"]");
    if (v.size() > kMaxEntries) return fail(where + " has more than 1024 entries");
    std::vector<Principal> out;
    for (const auto& item : v) {
        if (!item.is_string()) return fail(where + " entries must be strings like \"group:sales\"");
        const auto text = item.get<std::string>();
        auto p = parse_principal(text);
        if (!p) return fail(where + " entry " + quote_entry(text) + " " + p.error().message());
        out.push_back(std::move(p.value()));
    }
    return out;
}

Result<std::vector<std::string>> parse_exes(const json& v, const RuleError& fail) {
    if (!v.is_array()) return fail("\"expect\": \"exe\" must be an array of absolute executable paths");
    if (v.size() > kMaxEntries) return fail("\"expect\": \"exe\" has more than 1024 entries");
    std::vector<std::string> out;
    for (const auto& item : v) {
        if (!item.is_string()) return fail("\"expect\": \"exe\" entries must be strings");
        auto exe = item.get<std::string>();
        if (exe.empty() || exe.front() != '/' || exe.size() > kMaxExeBytes || exe.find('\0') != std::string::npos ||
            exe.find("//") != std::string::npos || exe.back() == '/')
            return fail("\"expect\": \"exe\" entry " + quote_entry(exe) +
                        " must be an absolute path to an executable, as /proc/PID/exe names it");
        out.push_back(std::move(exe));
    }
    return out;
}

}  // namespace

Result<Expectation> parse_expect(const json& value, WatchMode watch, const RuleError& fail) {
    if (!value.is_object())
        return fail(
            "\"expect\" must be an object like {\"read\": [\"group:sales\"], \"modify\": [...], \"exe\": [...]}");
    Expectation e;
    for (const auto& [key, v] : value.items()) {
        if (key == "read") {
            auto list = parse_principals(v, "read", fail);
            if (!list) return list.error();
            e.read = std::move(list.value());
        } else if (key == "modify") {
            auto list = parse_principals(v, "modify", fail);
            if (!list) return list.error();
            e.modify = std::move(list.value());
        } else if (key == "exe") {
            auto list = parse_exes(v, fail);
            if (!list) return list.error();
            e.exe = std::move(list.value());
        } else {
            return fail("\"expect\": unknown key " + quote_entry(key) + " (known: read, modify, exe)");
        }
    }
    if (!e.read && !e.modify && !e.exe) return fail("\"expect\" is empty; name at least one of read, modify, exe");
    // An expectation the agent could never check would read as a promise kept.
    if (watch == WatchMode::None) return fail("\"expect\" needs \"watch\": \"modify\" or \"access\"");
    if (e.read && watch != WatchMode::Access)
        return fail("\"expect\": \"read\" needs \"watch\": \"access\" (reads are not recorded otherwise)");
    return e;
}

Result<AlertRule> parse_alert(const json& value, WatchMode watch, const RuleError& fail) {
    if (!value.is_object())
        return fail(
            "\"alert\" must be an object like {\"bulk_read\": {\"files\": 100, \"window\": \"60s\"}, \"hours\": "
            "\"07:00-20:00\"}");
    AlertRule a;
    for (const auto& [key, v] : value.items()) {
        if (key == "bulk_read") {
            if (!v.is_object())
                return fail("\"alert\": \"bulk_read\" must be an object {\"files\": N, \"window\": \"60s\"}");
            BulkReadAlert b;
            bool have_files = false;
            bool have_window = false;
            for (const auto& [k, x] : v.items()) {
                if (k == "files") {
                    if (!x.is_number_integer() || x.get<std::int64_t>() < 1 || x.get<std::int64_t>() > kMaxBulkFiles)
                        return fail("\"alert\": \"bulk_read\": \"files\" must be a whole number from 1 to 100000");
                    b.files = static_cast<std::uint32_t>(x.get<std::int64_t>());
                    have_files = true;
                } else if (k == "window") {
                    if (!x.is_string())
                        return fail("\"alert\": \"bulk_read\": \"window\" must be a string like \"60s\"");
                    b.window_text = x.get<std::string>();
                    auto ns = parse_alert_window(b.window_text);
                    if (!ns)
                        return fail("\"alert\": \"bulk_read\": \"window\" " + quote_entry(b.window_text) + " " +
                                    ns.error().message());
                    b.window_ns = ns.value();
                    have_window = true;
                } else {
                    return fail("\"alert\": \"bulk_read\": unknown key " + quote_entry(k) + " (known: files, window)");
                }
            }
            if (!have_files || !have_window)
                return fail("\"alert\": \"bulk_read\" needs both \"files\" and \"window\"");
            a.bulk_read = std::move(b);
        } else if (key == "hours") {
            if (!v.is_string()) return fail("\"alert\": \"hours\" must be a string like \"07:00-20:00\"");
            auto h = parse_hours(v.get<std::string>());
            if (!h)
                return fail("\"alert\": \"hours\" " + quote_entry(v.get<std::string>()) + " " + h.error().message());
            a.hours = std::move(h.value());
        } else {
            return fail("\"alert\": unknown key " + quote_entry(key) + " (known: bulk_read, hours)");
        }
    }
    if (!a.bulk_read && !a.hours) return fail("\"alert\" is empty; name bulk_read, hours or both");
    if (watch != WatchMode::Access)
        return fail("\"alert\" needs \"watch\": \"access\" (both alerts are about reads, recorded only then)");
    return a;
}

}  // namespace vigil
