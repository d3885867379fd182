// The agent's live status, shared with `vigil status` through two files beside the
// database: DB.agent.lock (an OFD write lock held for the agent's lifetime: if it is
// held, an agent runs) and DB.agent.status (JSON, replaced atomically every second).
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace vigil {

std::string agent_lock_path(const std::string& db_path);
std::string agent_status_path(const std::string& db_path);

// Takes the agent lock (non-blocking). Fails clearly when another agent holds it.
Result<UniqueFd> take_agent_lock(const std::string& db_path);

// True when some process holds the agent lock of this database.
Result<bool> agent_lock_held(const std::string& db_path);

// Writes `json` to the status file: temporary file, fsync-free rename (it is advisory).
Result<void> write_agent_status(const std::string& db_path, const std::string& json);
std::optional<std::string> read_agent_status(const std::string& db_path);

}  // namespace vigil
