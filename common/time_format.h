// Time as Vigil prints it: RFC 3339, UTC, with nanoseconds.
#pragma once

#include <cstdint>
#include <string>

namespace vigil {

std::string format_rfc3339_ns(std::int64_t ns);
// The same text, appended without snprintf or gmtime_r: streaming a million events
// formats a million times.
void append_rfc3339_ns(std::string& out, std::int64_t ns);

}  // namespace vigil
