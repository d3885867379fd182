#include "common/event_format.h"

#include <algorithm>
#include <array>

#include "common/escape.h"
#include "common/time_format.h"

namespace vigil {
namespace {

using nlohmann::ordered_json;

ordered_json text(const std::optional<std::string>& v) { return v ? ordered_json(escape_bytes(*v)) : ordered_json(); }
ordered_json number(const std::optional<std::int64_t>& v) { return v ? ordered_json(*v) : ordered_json(); }
ordered_json hash(const std::optional<std::string>& v) { return v ? ordered_json(to_hex(*v)) : ordered_json(); }

constexpr std::array<const char*, 23> kFields = {
    "id",    "time",     "action",        "path",         "old_path",   "uid",    "user",  "euid",
    "gid",   "auid",     "login_user",    "pid",          "ppid",       "exe",    "comm",  "cmdline",
    "label", "severity", "sha256_before", "sha256_after", "unexpected", "source", "detail"};

std::string csv_cell(const ordered_json& v) {
    if (v.is_null()) return "";
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

// Display width of already-escaped text: every code point is one column (escapes made
// sure nothing invisible or double-width-confusing is left, apart from CJK, which we
// accept being off by a column rather than measuring wcwidth per locale).
std::size_t columns(const std::string& s) {
    std::size_t n = 0;
    for (const char c : s) n += (static_cast<unsigned char>(c) & 0xc0U) != 0x80U;
    return n;
}

std::string cut(const std::string& s, std::size_t width) {
    if (columns(s) <= width) return s;
    if (width == 0) return "";
    // Keep the end of a path: the file name says more than the leading directories.
    std::size_t keep = width - 1;
    std::size_t i = s.size();
    while (i > 0 && keep > 0) {
        --i;
        if ((static_cast<unsigned char>(s[i]) & 0xc0U) != 0x80U) --keep;
    }
    return "…" + s.substr(i);
}

std::string pad(const std::string& s, std::size_t width) {
    const std::size_t n = columns(s);
    return n >= width ? s : s + std::string(width - n, ' ');
}

}  // namespace

ordered_json event_to_json(const StoredEvent& s) {
    const Event& e = s.event;
    ordered_json j;
    j["id"] = s.id;
    j["time"] = format_rfc3339_ns(e.time_ns);
    j["action"] = escape_bytes(s.action);
    j["path"] = text(e.path);
    j["old_path"] = text(e.old_path);
    j["uid"] = number(e.actor.uid);
    j["user"] = text(e.actor.user);
    j["euid"] = number(e.actor.euid);
    j["gid"] = number(s.gid);
    j["auid"] = number(e.actor.auid);
    j["login_user"] = text(e.actor.login_user);
    j["pid"] = number(e.actor.pid);
    j["ppid"] = number(e.actor.ppid);
    j["exe"] = text(e.actor.exe);
    j["comm"] = text(e.actor.comm);
    j["cmdline"] = text(e.actor.cmdline);
    j["label"] = text(e.label);
    j["severity"] = text(e.severity);
    j["sha256_before"] = hash(e.sha256_before);
    j["sha256_after"] = hash(e.sha256_after);
    j["unexpected"] = e.unexpected;
    j["source"] = escape_bytes(s.source);
    j["detail"] = nullptr;
    if (e.detail) {
        // Written by us as JSON; anything else (a damaged row) is shown as escaped text.
        auto parsed = ordered_json::parse(*e.detail, nullptr, false);
        j["detail"] = parsed.is_discarded() ? ordered_json(escape_bytes(*e.detail)) : parsed;
    }
    return j;
}

std::string events_to_json_array(const std::vector<StoredEvent>& events) {
    ordered_json arr = ordered_json::array();
    for (const auto& e : events) arr.push_back(event_to_json(e));
    return arr.dump(2) + "\n";
}

std::string events_to_jsonl(const std::vector<StoredEvent>& events) {
    std::string out;
    for (const auto& e : events) out += event_to_json(e).dump() + "\n";
    return out;
}

std::string events_to_csv(const std::vector<StoredEvent>& events) {
    std::string out;
    for (std::size_t i = 0; i < kFields.size(); ++i) out += std::string(i ? "," : "") + kFields[i];
    out += "\r\n";
    for (const auto& e : events) {
        const auto j = event_to_json(e);
        for (std::size_t i = 0; i < kFields.size(); ++i) {
            if (i) out += ",";
            const auto& v = j[kFields[i]];
            out += csv_cell(v.is_object() ? ordered_json(v.dump()) : v);
        }
        out += "\r\n";
    }
    return out;
}

std::string events_to_table(const std::vector<StoredEvent>& events, std::size_t width, bool with_hash) {
    if (events.empty()) return "No events match.\n";
    struct Line {
        std::array<std::string, 5> cells;  // time, action, user, process, path
    };
    std::vector<Line> lines;
    lines.push_back({{"TIME", "ACTION", "USER", "PROCESS", "PATH"}});
    for (const auto& s : events) {
        const Event& e = s.event;
        std::string user = e.actor.user  ? escape_bytes(*e.actor.user)
                           : e.actor.uid ? std::to_string(*e.actor.uid)
                                         : "-";
        if (e.actor.login_user && e.actor.login_user != e.actor.user)
            user += " (" + escape_bytes(*e.actor.login_user) + ")";
        std::string process = "-";
        if (e.actor.pid)
            process = (e.actor.comm ? escape_bytes(*e.actor.comm) : "?") + "[" + std::to_string(*e.actor.pid) + "]";
        std::string path = e.path ? escape_bytes(*e.path) : "";
        if (e.old_path) path.insert(0, escape_bytes(*e.old_path) + " -> ");
        std::string time = format_rfc3339_ns(e.time_ns);
        time = time.substr(0, 19) + "Z";  // seconds are enough on a terminal; JSON has the nanoseconds
        std::string action = escape_bytes(s.action);
        if (with_hash && e.sha256_after) action += " " + to_hex(*e.sha256_after).substr(0, 12);
        lines.push_back({{time, action, user, process, path}});
    }
    std::array<std::size_t, 4> w{};
    for (const auto& l : lines)
        for (std::size_t c = 0; c < 4; ++c) w[c] = std::max(w[c], columns(l.cells[c]));
    std::size_t used = 0;
    for (const auto x : w) used += x + 2;
    const std::size_t path_width = width > used + 10 ? width - used : 10;
    std::string out;
    for (const auto& l : lines) {
        for (std::size_t c = 0; c < 4; ++c) out += pad(l.cells[c], w[c]) + "  ";
        out += cut(l.cells[4], path_width) + "\n";
    }
    return out;
}

}  // namespace vigil
