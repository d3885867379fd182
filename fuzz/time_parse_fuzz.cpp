// Fuzz target: the WHEN parser of --since/--until (RFC 3339, dates, durations). UBSan
// catches arithmetic overflow on huge years and durations; the result of a duration is
// never after "now".
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/time_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    constexpr std::int64_t kNow = 1'795'000'000'000'000'000;  // 2026-11-18, as nanoseconds
    for (const std::int64_t now : {kNow, std::int64_t{0}}) {
        auto when = vigil::parse_when(text, now);
        if (!when) continue;
        const char unit = text.empty() ? '\0' : text.back();
        const bool duration = unit == 's' || unit == 'm' || unit == 'h' || unit == 'd' || unit == 'w';
        if (duration && text.size() < 10 && when.value() > now) __builtin_trap();
    }
    return 0;
}
