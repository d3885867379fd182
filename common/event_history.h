// vigil history: the timeline of one file, oldest first: its baseline entry (action
// "baseline", source "baseline"), then every event under its current name and, following
// renames backwards, under each earlier name up to the rename that left it.
#pragma once

#include <string>

#include "common/db/sqlite.h"
#include "common/event_query.h"

namespace vigil {

// Streams the timeline to `sink` (which may stop it by returning false).
Result<void> for_each_history_event(db::Database& db, const std::string& path, const EventSink& sink);

}  // namespace vigil
