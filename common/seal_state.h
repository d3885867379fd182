// Sealing's life cycle on a database, shared by `vigil init`/`update` and the agent:
// making the keys, and finding the key to seal with now (docs/tamper-evidence.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/db/sqlite.h"
#include "common/event_chain.h"
#include "common/seal.h"

namespace vigil {

struct NewSealing {
    SealKey k0;  // the verification key: shown once, kept offline
    std::string key_id;
    std::string verification_key_file;
    std::string key_file;
};

// Makes K_0 and writes DB.verification-key (0400) and DB.key (0600, epoch 0), and the
// seal row (inside the caller's transaction). Only for a database without a seal record:
// key files found beside it (an init killed before its commit) are replaced.
Result<NewSealing> create_sealing(db::Database& db, const std::string& db_path, std::int64_t epoch_seconds,
                                  std::int64_t first_seq);

// What the database says about sealing, for a writer that is about to seal.
struct SealingState {
    std::optional<SealInfo> info;               // nullopt: never sealed
    std::optional<std::uint64_t> newest_epoch;  // highest epoch sealed so far
    bool has_sealed_rows = false;
};
Result<SealingState> read_sealing_state(db::Database& db);

// For a writer about to seal, inside its transaction: a database without a seal record
// (new, or made before sealing existed) starts sealing at its next event row; one with
// sealed rows but no seal record was tampered with and is refused. nullopt: already sealed.
Result<std::optional<NewSealing>> start_sealing_if_unsealed(db::Database& db, const std::string& db_path,
                                                            std::int64_t epoch_seconds);

// The key a command appending to a sealed database (`vigil update`, `vigil prune`) seals
// with: DB.key, refused when it is behind what the database was sealed with (an older key
// restored). Inside the write transaction, so an agent's epoch change cannot interleave.
Result<SealKey> current_sealing_key(db::Database& db, const std::string& db_path);

// Writes `key` evolved once to DB.key (the previous key is gone from disk afterwards).
Result<SealKey> evolve_key_file(const std::string& db_path, const SealKey& key);

// A line for operators that names the verification key and what to do with it.
std::string verification_key_notice(const NewSealing& s);

}  // namespace vigil
