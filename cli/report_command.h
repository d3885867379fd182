// vigil report: the nightly integrity report (check + the window's events + agent health).
#pragma once

#include "cli/options.h"

namespace vigil::cli {

// Exit code as vigil check: 0 clean, bits 1/2/4 for findings, 16+ on error.
int run_report(const Options& opts);

}  // namespace vigil::cli
