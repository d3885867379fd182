// vigil status: is an agent running on this database, and how is it doing.
#pragma once

#include "cli/options.h"

namespace vigil::cli {

// Exit code: 0 an agent runs, 3 none runs (as LSB `status`), 16+ on error.
int run_status(const Options& opts);

}  // namespace vigil::cli
