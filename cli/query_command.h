// vigil query: who did what to which file, when — filtered, in table/json/jsonl/csv.
#pragma once

#include "cli/options.h"

namespace vigil::cli {

int run_query(const Options& opts);

}  // namespace vigil::cli
