// `vigil verify`: walks the sealed baseline and the event chain and reports the first
// place each one breaks (docs/tamper-evidence.md lists every check and why).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/db/sqlite.h"
#include "common/seal.h"

namespace vigil {

// A checkpoint seen outside the database (syslog, journal, a report sent off-host).
struct OutsideCheckpoint {
    std::int64_t seq = 0;
    Mac32 mac{};
};
// The newest checkpoint among lines of the form "... vigil checkpoint ... seq=N ... mac=HEX ...".
std::optional<OutsideCheckpoint> newest_checkpoint_in(const std::string& text);

struct VerifyProblem {
    std::string where;  // "event 1234", "baseline file '/etc/shadow'", "seal record", ...
    std::string kind;   // altered | deleted | inserted | reordered | epoch skipped | tail cut | unsealed | alarm | ...
    std::string what;   // one sentence for the auditor
};

struct VerifyResult {
    bool authenticated = false;  // MACs checked with the verification key
    std::vector<VerifyProblem> problems;
    std::vector<std::string> notes;  // what holds, what could not be proven
    std::int64_t events_checked = 0;
    std::int64_t files_checked = 0;
    bool ok() const { return problems.empty(); }
};

// `k0`: the verification key (epoch 0); without it only the chain's structure is checked.
Result<VerifyResult> verify_database(db::Database& db, const std::optional<SealKey>& k0,
                                     const std::optional<OutsideCheckpoint>& outside);

// For check, report, update and query: does the sealed baseline still hold? With the
// verification key beside the database (DB.verification-key, until the operator moves
// it away) its MACs are checked; without it, that it is sealed and complete. Returns a
// warning for the operator, or nullopt when nothing is wrong (or nothing is sealed).
std::optional<std::string> baseline_seal_warning(db::Database& db, const std::string& db_path);

}  // namespace vigil
