#include "common/rfc5424.h"

#include <array>
#include <optional>
#include <vector>

#include "common/escape.h"
#include "common/time_format.h"

namespace vigil {
namespace {

// One escape_bytes() token at s[i]: "\\", "\xNN", "\uNNNN", or one UTF-8 character.
std::size_t token_length(std::string_view s, std::size_t i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
        const char k = s[i + 1];
        const std::size_t n = k == 'x' ? 4 : k == 'u' ? 6 : 2;
        return std::min(n, s.size() - i);
    }
    const auto b = static_cast<unsigned char>(s[i]);
    const std::size_t n = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    return std::min(n, s.size() - i);
}

bool needs_rfc_escape(char c) { return c == '"' || c == '\\' || c == ']'; }

std::size_t rfc_escaped_size(std::string_view s) {
    std::size_t n = s.size();
    for (const char c : s) n += needs_rfc_escape(c) ? 1 : 0;
    return n;
}

void append_param_value(std::string& out, std::string_view escaped) {
    for (const char c : escaped) {
        if (needs_rfc_escape(c)) out += '\\';
        out += c;
    }
}

// PRINTUSASCII only (RFC 5424 §6.2.4), at most `max` bytes; "-" (NILVALUE) when empty.
std::string header_field(std::string_view v, std::size_t max) {
    std::string out;
    for (const char c : v) {
        if (out.size() == max) break;
        const auto b = static_cast<unsigned char>(c);
        out += b >= 33 && b <= 126 ? c : '_';
    }
    return out.empty() ? "-" : out;
}

struct Param {
    std::string_view name;
    std::string value;  // escape_bytes() text, not yet RFC escaped
    bool cuttable;      // a byte string from the outside world (path, cmdline, …)
};

std::vector<Param> params_of(const EventView& e) {
    std::vector<Param> p;
    auto text = [&](std::string_view name, const std::optional<std::string_view>& v, bool cuttable) {
        if (v) p.push_back({name, escape_bytes(*v), cuttable});
    };
    auto number = [&](std::string_view name, const std::optional<std::int64_t>& v) {
        if (v) p.push_back({name, std::to_string(*v), false});
    };
    auto hex = [&](std::string_view name, const std::optional<std::string_view>& v) {
        if (v) p.push_back({name, to_hex(*v), false});
    };
    number("id", e.id);
    p.push_back({"time", format_rfc3339_ns(e.time_ns), false});
    text("action", e.action, false);
    text("path", e.path, true);
    text("old_path", e.old_path, true);
    number("uid", e.uid);
    text("user", e.user, true);
    number("euid", e.euid);
    number("gid", e.gid);
    number("auid", e.auid);
    text("login_user", e.login_user, true);
    number("pid", e.pid);
    number("ppid", e.ppid);
    text("exe", e.exe, true);
    text("comm", e.comm, true);
    text("cmdline", e.cmdline, true);
    text("label", e.label, true);
    text("severity", e.severity, true);
    hex("sha256_before", e.sha256_before);
    hex("sha256_after", e.sha256_after);
    p.push_back({"unexpected", e.unexpected ? "true" : "false", false});
    text("source", e.source, false);
    text("detail", e.detail, true);
    return p;
}

// The SD element with every cuttable value cut to `cap` RFC-escaped bytes.
std::string structured_data(const std::vector<Param>& params, std::size_t cap) {
    std::string sd = "[";
    sd += kSyslogSdId;
    std::string cut_names;
    for (const auto& p : params) {
        std::string_view v = p.value;
        if (p.cuttable && rfc_escaped_size(v) > cap) {
            v = cut_escaped(v, cap);
            cut_names += cut_names.empty() ? "" : " ";
            cut_names += p.name;
        }
        sd += ' ';
        sd += p.name;
        sd += "=\"";
        append_param_value(sd, v);
        sd += '"';
    }
    if (!cut_names.empty()) sd += " truncated=\"" + cut_names + "\"";
    sd += ']';
    return sd;
}

// "modify /etc/shadow by alice (uid 1000) via /usr/bin/vim": what a human skims.
std::string summary(const EventView& e) {
    std::string s = escape_bytes(e.action);
    if (e.old_path) s += " " + escape_bytes(*e.old_path) + " ->";
    if (e.path) s += " " + escape_bytes(*e.path);
    if (e.user) {
        s += " by " + escape_bytes(*e.user);
        if (e.uid) s += " (uid " + std::to_string(*e.uid) + ")";
    } else if (e.uid) {
        s += " by uid " + std::to_string(*e.uid);
    }
    if (e.exe) s += " via " + escape_bytes(*e.exe);
    return s;
}

}  // namespace

std::string_view cut_escaped(std::string_view escaped, std::size_t budget) {
    std::size_t used = 0;
    std::size_t i = 0;
    while (i < escaped.size()) {
        const std::size_t n = token_length(escaped, i);
        const std::size_t cost = rfc_escaped_size(escaped.substr(i, n));
        if (used + cost > budget) break;
        used += cost;
        i += n;
    }
    return escaped.substr(0, i);
}

Severity effective_severity(const EventView& e) {
    if (e.severity) {
        for (auto s : {Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical})
            if (severity_name(s) == *e.severity) return s;
    }
    if (e.action == "overflow" || e.action == "denied" || e.action == "alert") return Severity::Medium;
    return Severity::Info;
}

int syslog_severity(Severity s) {
    switch (s) {
        case Severity::Critical: return 2;
        case Severity::High: return 3;
        case Severity::Medium: return 4;
        case Severity::Low: return 5;
        case Severity::Info: return 6;
    }
    return 6;
}

std::string format_rfc5424(const EventView& e, const SyslogIdentity& who, std::size_t max_bytes) {
    std::string out = "<" + std::to_string(who.facility * 8 + syslog_severity(effective_severity(e))) + ">1 ";
    // TIME-SECFRAC allows six digits at most: microseconds here, nanoseconds in `time`.
    const std::string ts = format_rfc3339_ns(e.time_ns);
    out += ts.size() == 30 ? ts.substr(0, 26) + "Z" : ts;
    out += ' ';
    out += header_field(who.hostname, 255);
    out += ' ';
    out += header_field(who.app_name, 48);
    out += ' ';
    out += std::to_string(who.procid);
    out += ' ';
    out += header_field(e.action, 32);
    out += ' ';

    const auto params = params_of(e);
    std::string sd = structured_data(params, SIZE_MAX);
    // Halve the cap on long values until the header and SD leave room for a short MSG.
    constexpr std::size_t kMinMsg = 64;
    for (std::size_t cap = 2048; out.size() + sd.size() + kMinMsg > max_bytes && cap >= 16; cap /= 2)
        sd = structured_data(params, cap);
    out += sd;

    std::string msg = summary(e);
    bool non_ascii = false;
    for (const char c : msg) non_ascii = non_ascii || static_cast<unsigned char>(c) >= 0x80;
    // RFC 5424 §6.4: UTF-8 text starts with a BOM; plain ASCII is sent as it is.
    const std::string_view bom = non_ascii ? "\xEF\xBB\xBF" : "";
    if (out.size() + 1 + bom.size() + 1 > max_bytes) return out;  // no room for any MSG
    const std::size_t room = max_bytes - out.size() - 1 - bom.size();
    // The MSG is not RFC-escaped, but cut_escaped counts as if it were: at worst a few
    // bytes of room go unused, and no escape sequence is ever split.
    std::string_view text = msg;
    if (text.size() > room) text = cut_escaped(text, room);
    out += ' ';
    out += bom;
    out += text;
    return out;
}

}  // namespace vigil
