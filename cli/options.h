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
    // vigil query
    std::optional<std::string> path;
    std::optional<std::string> under;
    std::optional<std::string> user;
    std::optional<std::string> action;
    std::optional<std::string> label;
    std::optional<std::string> since;
    std::optional<std::string> until;
    std::optional<std::string> limit;
    std::optional<std::string> output;       // vigil report --output FILE
    std::optional<std::string> key_file;     // vigil verify --key-file FILE
    std::optional<std::string> checkpoints;  // vigil verify --checkpoints FILE
    std::optional<std::string> older_than;   // vigil prune --older-than WHEN
    bool dry_run = false;                    // vigil prune --dry-run
    bool unexpected = false;
    bool reverse = false;
    bool format_given = false;
    std::vector<std::string> positional;
};

// `allowed` lists the long options this subcommand takes, e.g. {"policy", "db", "format"}.
Result<Options> parse_options(const std::vector<std::string>& args, const std::vector<std::string>& allowed);

}  // namespace vigil::cli
