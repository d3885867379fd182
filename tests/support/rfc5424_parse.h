// A strict reader of RFC 5424 messages for the tests: what a syslog receiver would parse
// out of the agent's datagrams (header fields, one SD element's params unescaped, MSG).
// Independent of common/rfc5424.cpp on purpose: the tests check the format, not the code.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::test {

struct Syslog5424 {
    int pri = -1;
    std::string timestamp, hostname, app_name, procid, msgid;
    std::string sd_id;
    std::map<std::string, std::string> params;  // RFC 5424 escapes undone
    std::string msg;                            // BOM removed
    bool had_bom = false;
};

inline std::optional<Syslog5424> parse_rfc5424(std::string_view s) {
    Syslog5424 m;
    std::size_t i = 0;
    auto printable = [](char c) { return static_cast<unsigned char>(c) >= 33 && static_cast<unsigned char>(c) <= 126; };
    if (s.empty() || s[0] != '<') return std::nullopt;
    const auto close = s.find('>');
    if (close == std::string_view::npos || close < 2 || close > 4) return std::nullopt;
    m.pri = std::stoi(std::string(s.substr(1, close - 1)));
    if (m.pri < 0 || m.pri > 191) return std::nullopt;
    i = close + 1;
    if (s.substr(i, 2) != "1 ") return std::nullopt;
    i += 2;
    auto field = [&](std::string& out, std::size_t max) {
        const auto sp = s.find(' ', i);
        if (sp == std::string_view::npos || sp == i || sp - i > max) return false;
        out = std::string(s.substr(i, sp - i));
        for (const char c : out)
            if (!printable(c)) return false;
        i = sp + 1;
        return true;
    };
    if (!field(m.timestamp, 32) || !field(m.hostname, 255) || !field(m.app_name, 48) || !field(m.procid, 128) ||
        !field(m.msgid, 32))
        return std::nullopt;
    if (i >= s.size()) return std::nullopt;
    if (s[i] == '-') {
        ++i;
    } else {
        if (s[i] != '[') return std::nullopt;
        ++i;
        const auto end_id = s.find_first_of(" ]", i);
        if (end_id == std::string_view::npos) return std::nullopt;
        m.sd_id = std::string(s.substr(i, end_id - i));
        i = end_id;
        while (i < s.size() && s[i] == ' ') {
            ++i;
            const auto eq = s.find('=', i);
            if (eq == std::string_view::npos || eq == i || eq - i > 32) return std::nullopt;
            const std::string name(s.substr(i, eq - i));
            for (const char c : name)
                if (!printable(c) || c == ' ' || c == ']' || c == '"') return std::nullopt;
            i = eq + 1;
            if (i >= s.size() || s[i] != '"') return std::nullopt;
            ++i;
            std::string value;
            bool closed = false;
            while (i < s.size()) {
                const char c = s[i];
                if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == ']')) {
                    value += s[i + 1];
                    i += 2;
                    continue;
                }
                if (c == '"') {
                    closed = true;
                    ++i;
                    break;
                }
                if (c == ']') return std::nullopt;  // must have been escaped
                value += c;
                ++i;
            }
            if (!closed || m.params.count(name) != 0) return std::nullopt;
            m.params[name] = value;
        }
        if (i >= s.size() || s[i] != ']') return std::nullopt;
        ++i;
    }
    if (i == s.size()) return m;
    if (s[i] != ' ') return std::nullopt;
    ++i;
    std::string_view msg = s.substr(i);
    if (msg.substr(0, 3) == "\xEF\xBB\xBF") {
        m.had_bom = true;
        msg.remove_prefix(3);
    }
    m.msg = std::string(msg);
    return m;
}

}  // namespace vigil::test
