// vigil prune: retention. Removes whole sealed epochs older than --older-than and records
// the removal in the chain (common/event_prune.h).
#pragma once

#include "cli/options.h"

namespace vigil::cli {

int run_prune(const Options& opts);

}  // namespace vigil::cli
