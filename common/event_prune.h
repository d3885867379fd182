// Retention: removing old events without breaking the sealed chain. Only whole epochs
// are removed, always from the start of the log, and every prune appends a sealed `prune`
// row saying what went (ids, epochs, time span) and the MAC of the last row removed, so
// `vigil verify` checks the rest of the chain from there and a gap nobody recorded is
// still a deletion (docs/tamper-evidence.md, "Retention").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/db/sqlite.h"
#include "common/event_chain.h"
#include "common/seal.h"

namespace vigil {

struct PrunePlan {
    std::int64_t cutoff_ns = 0;
    std::int64_t first_kept_seq = 0;  // every row below this id goes
    std::optional<std::uint64_t> first_kept_epoch;
    std::int64_t rows = 0;                     // rows below first_kept_seq
    std::optional<std::uint64_t> first_epoch;  // of the rows removed (sealed rows only)
    std::optional<std::uint64_t> last_epoch;
    std::int64_t oldest_ns = 0;  // time span of the rows removed
    std::int64_t newest_ns = 0;
    std::optional<Mac32> last_removed_mac;  // the chain goes on from this MAC
    std::int64_t last_removed_seq = 0;
};

// What a prune at `cutoff_ns` would remove: the epochs whose successor began at or before
// the cutoff (so every row they hold is older), at most about `max_rows` rows (but at
// least one epoch), never the newest epoch. An unsealed database is pruned by row time.
// nullopt: nothing to remove. Read inside the writer's transaction.
Result<std::optional<PrunePlan>> plan_prune(db::Database& db, std::int64_t cutoff_ns, std::int64_t max_rows);

// Deletes the plan's rows and appends the `prune` row through `chain` (sealed; nullptr
// for an unsealed database: the row is appended unsealed). Inside the caller's write
// transaction, so the rows and the record of their removal commit together. `prune`
// carries the actor and source; its detail is filled here. `checkpoint_detail`: for the
// checkpoint the chain writes first when this opens an epoch. Returns the prune row's id.
Result<std::int64_t> apply_prune(db::Database& db, const PrunePlan& plan, EventChain* chain, Event prune,
                                 const std::string& checkpoint_detail);

// The detail a prune row carries, and what `vigil verify` reads back from it.
std::string prune_detail(const PrunePlan& plan);
struct RecordedPrune {
    std::int64_t first_kept_seq = 0;
    std::optional<Mac32> last_removed_mac;
};
std::optional<RecordedPrune> parse_prune_detail(const std::string& detail);

}  // namespace vigil
