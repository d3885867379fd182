// The policy's "output" object: where the agent copies each committed event besides the
// database (a JSON-lines file with rotation, the local syslog socket). Parsed strictly,
// like the rest of the policy; docs/policy.md lists the keys, docs/log-pipeline.md the why.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/policy.h"
#include "common/result.h"

namespace vigil {

// `where`: "policy FILE", the prefix of every error.
Result<OutputConfig> parse_output_config(const nlohmann::json& output, const std::string& where);

// Refuses a JSON-lines file inside a watched tree: each line written would be an event
// of its own, and under the inotify watcher (no pid) the agent cannot tell its own
// writes apart, so the file would feed itself until the disk is full.
Result<void> check_output_unwatched(const Policy& policy, const std::string& where);

}  // namespace vigil
