#include "common/time_parse.h"

#include <charconv>
#include <ctime>
#include <string>

#include "common/escape.h"

namespace vigil {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        out = out * 10 + (s[i] - '0');
    }
    return true;
}

Error bad(std::string_view text) {
    return Error::msg("cannot read time \"" + escape_bytes(text.substr(0, 64)) +
                      "\": use RFC 3339 (2026-11-24T08:00:00Z, +02:00 offsets allowed), a date (2026-11-24), "
                      "or a duration back from now (30s, 90m, 24h, 7d, 2w)");
}

Error out_of_range(std::string_view text) {
    return Error::msg("time \"" + escape_bytes(text.substr(0, 64)) +
                      "\" is out of range: Vigil's timestamps reach from 1677 to 2262");
}

}  // namespace

Result<std::int64_t> parse_when(std::string_view text, std::int64_t now_ns) {
    if (text.empty()) return bad(text);
    // Durations: a number and one unit letter.
    const char unit = text.back();
    if (text.size() >= 2 && std::string_view("smhdw").find(unit) != std::string_view::npos) {
        std::int64_t n = 0;
        const auto body = text.substr(0, text.size() - 1);
        const auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), n);
        if (ec == std::errc() && p == body.data() + body.size() && n >= 0 && n <= 100'000'000) {
            const std::int64_t per = unit == 's'   ? 1
                                     : unit == 'm' ? 60
                                     : unit == 'h' ? 3600
                                     : unit == 'd' ? 86400
                                                   : 604800;
            // n * per fits easily (at most 6e13 s); in nanoseconds it may not: 100000000w
            // is 1.9 million years, far past what an int64 of nanoseconds reaches.
            std::int64_t back_ns = 0;
            std::int64_t when_ns = 0;
            if (__builtin_mul_overflow(n * per, kSecond, &back_ns) || __builtin_sub_overflow(now_ns, back_ns, &when_ns))
                return out_of_range(text);
            return when_ns;
        }
    }
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!digits(text, 0, 4, year) || text.size() < 10 || text[4] != '-' || !digits(text, 5, 2, month) ||
        text[7] != '-' || !digits(text, 8, 2, day))
        return bad(text);
    std::size_t pos = 10;
    std::int64_t frac_ns = 0;
    std::int64_t offset_s = 0;
    if (pos < text.size()) {
        if ((text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') || !digits(text, pos + 1, 2, hour) ||
            text.size() < pos + 9 || text[pos + 3] != ':' || !digits(text, pos + 4, 2, minute) ||
            text[pos + 6] != ':' || !digits(text, pos + 7, 2, second))
            return bad(text);
        pos += 9;
        if (pos < text.size() && text[pos] == '.') {
            ++pos;
            std::int64_t scale = 100'000'000;
            const std::size_t start = pos;
            while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
                frac_ns += (text[pos] - '0') * scale;
                scale /= 10;
                ++pos;
            }
            if (pos == start || pos - start > 9) return bad(text);
        }
        if (pos >= text.size()) return bad(text);  // a time needs its offset: never guess the zone
        if (text[pos] == 'Z' || text[pos] == 'z') {
            ++pos;
        } else if (text[pos] == '+' || text[pos] == '-') {
            int oh = 0, om = 0;
            if (!digits(text, pos + 1, 2, oh) || text.size() < pos + 6 || text[pos + 3] != ':' ||
                !digits(text, pos + 4, 2, om) || oh > 23 || om > 59)
                return bad(text);
            offset_s = (std::int64_t{oh} * 3600 + std::int64_t{om} * 60) * (text[pos] == '+' ? 1 : -1);
            pos += 6;
        } else {
            return bad(text);
        }
        if (pos != text.size()) return bad(text);
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return bad(text);
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::time_t t = ::timegm(&tm);
    if (tm.tm_mday != day) return bad(text);  // 2026-02-30 normalised to March: refuse
    // Nanoseconds since 1970 in an int64 span the years 1677 to 2262: outside them (0000-01-01,
    // 9999-12-31) the product overflows, so it is refused, not wrapped into another date.
    std::int64_t ns = 0;
    if (__builtin_mul_overflow(static_cast<std::int64_t>(t) - offset_s, kSecond, &ns) ||
        __builtin_add_overflow(ns, frac_ns, &ns))
        return out_of_range(text);
    return ns;
}

}  // namespace vigil
