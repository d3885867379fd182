// Parsing of WHEN arguments (--since, --until): RFC 3339 with any offset or Z, a bare
// date (midnight UTC), or a duration back from now: 30s, 90m, 24h, 7d, 2w.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace vigil {

Result<std::int64_t> parse_when(std::string_view text, std::int64_t now_ns);

}  // namespace vigil
