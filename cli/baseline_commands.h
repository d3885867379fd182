// vigil init | check | update: build, compare against, and accept the baseline.
#pragma once

#include "cli/options.h"

namespace vigil::cli {

int run_init(const Options& opts);
int run_check(const Options& opts);
int run_update(const Options& opts);

}  // namespace vigil::cli
