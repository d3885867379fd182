// Exit codes of `vigil` (DESIGN.md): 0 clean; bits 1 added, 2 removed, 4 changed for
// findings; 16 and above for errors, the reason on stderr.
#pragma once

namespace vigil::cli {

inline constexpr int kExitClean = 0;
inline constexpr int kExitUsage = 16;     // bad arguments, or a command that cannot apply (init twice)
inline constexpr int kExitPolicy = 17;    // the policy is missing, malformed or untrusted
inline constexpr int kExitDatabase = 18;  // the database is missing, locked, corrupt, read-only, full
inline constexpr int kExitOutput = 19;    // the report could not be written (disk full, closed pipe)
inline constexpr int kExitInternal = 20;  // a bug: please report it

}  // namespace vigil::cli
