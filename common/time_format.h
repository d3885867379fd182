// Time as Vigil prints it: RFC 3339, UTC, with nanoseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vigil {

std::string format_rfc3339_ns(std::int64_t ns);
// The same text, appended without snprintf or gmtime_r: streaming a million events
// formats a million times.
void append_rfc3339_ns(std::string& out, std::int64_t ns);
// Written at `p`, which has room for kRfc3339MaxLen bytes; returns the end.
inline constexpr std::size_t kRfc3339MaxLen = 64;
char* write_rfc3339_ns(char* p, std::int64_t ns);

}  // namespace vigil
