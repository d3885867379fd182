// vigil history PATH: one file's timeline, across its renames.
#pragma once

#include "cli/options.h"

namespace vigil::cli {

int run_history(const Options& opts);

}  // namespace vigil::cli
