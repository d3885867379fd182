#include "common/time_format.h"

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

}  // namespace vigil
