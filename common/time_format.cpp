#include "common/time_format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace vigil {

std::string format_rfc3339_ns(std::int64_t ns) {
    // Floor division, so times before 1970 (touch -d 1960-01-01) still print correctly.
    std::int64_t secs = ns / 1'000'000'000;
    std::int64_t frac = ns % 1'000'000'000;
    if (frac < 0) {
        frac += 1'000'000'000;
        secs -= 1;
    }
    const auto t = static_cast<std::time_t>(secs);
    std::tm tm{};
    if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(ns) + "ns";
    char buf[64];
    const int n =
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
    if (n <= 0) return std::to_string(ns) + "ns";
    return {buf, static_cast<std::size_t>(n)};
}

namespace {

// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil_from_days).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

char* write_digits(char* p, std::uint64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
        p[i] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

}  // namespace

char* write_rfc3339_ns(char* p, std::int64_t ns) {
    std::int64_t secs = ns / 1'000'000'000;
    std::int64_t frac = ns % 1'000'000'000;
    if (frac < 0) {
        frac += 1'000'000'000;
        secs -= 1;
    }
    std::int64_t days = secs / 86400;
    std::int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    std::int64_t year = 0;
    unsigned month = 0;
    unsigned day = 0;
    civil_from_days(days, year, month, day);
    // Years that do not print as four digits take the general (and slow) path.
    if (year < 0 || year > 9999) {
        const std::string s = format_rfc3339_ns(ns);
        const std::size_t n = std::min(s.size(), kRfc3339MaxLen);
        return std::copy_n(s.data(), n, p);
    }
    p = write_digits(p, static_cast<std::uint64_t>(year), 4);
    *p++ = '-';
    p = write_digits(p, month, 2);
    *p++ = '-';
    p = write_digits(p, day, 2);
    *p++ = 'T';
    p = write_digits(p, static_cast<std::uint64_t>(rem / 3600), 2);
    *p++ = ':';
    p = write_digits(p, static_cast<std::uint64_t>(rem / 60 % 60), 2);
    *p++ = ':';
    p = write_digits(p, static_cast<std::uint64_t>(rem % 60), 2);
    *p++ = '.';
    p = write_digits(p, static_cast<std::uint64_t>(frac), 9);
    *p++ = 'Z';
    return p;
}

void append_rfc3339_ns(std::string& out, std::int64_t ns) {
    char buf[kRfc3339MaxLen];
    out.append(buf, write_rfc3339_ns(buf, ns));
}

}  // namespace vigil
