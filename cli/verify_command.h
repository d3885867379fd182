// vigil verify: proves the sealed baseline and event chain (common/seal_verify.h).
#pragma once

#include "cli/options.h"

namespace vigil::cli {

// Exit codes: 0 everything verified with the verification key; 1 intact as far as can
// be told without it (authenticity not proven); 2 broken (tampering or an alarm); 16+ error.
inline constexpr int kVerifyUnproven = 1;
inline constexpr int kVerifyBroken = 2;

int run_verify(const Options& opts);

}  // namespace vigil::cli
