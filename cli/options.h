// Command-line parsing shared by the vigil subcommands: `--opt value` and `--opt=value`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace vigil::cli {

inline constexpr const char* kDefaultDbPath = "/var/lib/vigil/vigil.db";

struct Options {
    std::optional<std::string> policy;
    std::string db = kDefaultDbPath;
    std::string format = "text";
    unsigned threads = 0;
    bool help = false;
    std::vector<std::string> positional;
};

// `allowed` lists the long options this subcommand takes, e.g. {"policy", "db", "format"}.
Result<Options> parse_options(const std::vector<std::string>& args, const std::vector<std::string>& allowed);

}  // namespace vigil::cli
