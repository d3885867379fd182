#include "common/time_parse.h"

#include <catch2/catch.hpp>

using vigil::parse_when;

TEST_CASE("WHEN: RFC 3339, dates, durations", "[unit][time]") {
    constexpr std::int64_t kS = 1'000'000'000;
    const std::int64_t now = 1'800'000'000 * kS;
    CHECK(parse_when("2026-11-24T08:00:00Z", now).value() == 1'795'507'200 * kS);
    CHECK(parse_when("2026-11-24T10:00:00+02:00", now).value() == 1'795'507'200 * kS);
    CHECK(parse_when("2026-11-24T03:30:00-04:30", now).value() == 1'795'507'200 * kS);
    CHECK(parse_when("2026-11-24T08:00:00.5Z", now).value() == 1'795'507'200 * kS + 500'000'000);
    CHECK(parse_when("2026-11-24", now).value() == 1'795'478'400 * kS);
    CHECK(parse_when("90m", now).value() == now - 90 * 60 * kS);
    CHECK(parse_when("7d", now).value() == now - 7 * 86400 * kS);
    CHECK(parse_when("30s", now).value() == now - 30 * kS);
    for (const char* bad : {"", "yesterday", "2026-13-01", "2026-02-30", "2026-11-24T08:00:00", "2026-11-24T25:00:00Z",
                            "-5m", "5x", "2026-11-24T08:00:00.1234567891Z", "2026-11-24T08:00:00+24:00"})
        CHECK_FALSE(parse_when(bad, now));
}

TEST_CASE("WHEN past what 64-bit nanoseconds hold is refused, never wrapped", "[unit][time]") {
    constexpr std::int64_t kS = 1'000'000'000;
    const std::int64_t now = 1'800'000'000 * kS;
    CHECK(parse_when("2262-04-11", now).value() > now);
    CHECK_FALSE(parse_when("2999-01-01T00:00:00Z", now));
    CHECK_FALSE(parse_when("9999-12-31", now));
    CHECK_FALSE(parse_when("1000-01-01", now));
    CHECK_FALSE(parse_when("100000000w", now));
    CHECK_FALSE(parse_when("99999999d", now));
    CHECK(parse_when("10000w", now).value() == now - std::int64_t{10000} * 604800 * kS);
}

TEST_CASE("WHEN: times past what int64 nanoseconds hold are refused, never wrapped", "[unit][time]") {
    // Found by fuzz/time_parse_fuzz.cpp (seeds fuzz/corpus/time_parse/): signed overflow.
    constexpr std::int64_t kS = 1'000'000'000;
    const std::int64_t now = 1'800'000'000 * kS;
    for (const char* far : {"0000-01-01", "1600-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2263-01-01", "100000000w",
                            "99999999d", "300y0w"}) {
        INFO(far);
        CHECK_FALSE(parse_when(far, now));
    }
    CHECK_THAT(parse_when("0000-01-01", now).error().message(), Catch::Contains("out of range"));
    CHECK_THAT(parse_when("100000000w", now).error().message(), Catch::Contains("out of range"));
    // The edges that do fit still parse.
    CHECK(parse_when("1678-01-01", now).value() < 0);
    CHECK(parse_when("2262-01-01", now).value() > now);
    CHECK(parse_when("15000w", now).value() == now - std::int64_t{15000} * 604800 * kS);
}
