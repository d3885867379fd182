// Time as Vigil prints it: RFC 3339, UTC, with nanoseconds.
#pragma once

#include <cstdint>
#include <string>

namespace vigil {

std::string format_rfc3339_ns(std::int64_t ns);

}  // namespace vigil
