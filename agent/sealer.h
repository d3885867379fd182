// The agent's side of sealing (docs/tamper-evidence.md): which key its first epoch uses
// (checked against the database: a key file behind or ahead of it is an alarm, never a
// silent re-key), when epochs change, and the checkpoints that open them, which also go
// to stderr (the journal) and syslog so a cut tail can be proven against an outside copy.
//
// Thread: prepare() on the main thread before the writer starts; everything else on the
// writer thread, inside its write transaction, except set_facts (main thread, locked).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/db/sqlite.h"
#include "common/event_chain.h"
#include "common/seal.h"
#include "common/seal_state.h"

namespace vigil::agent {

struct CheckpointFacts {
    std::string policy_sha256;
    std::string agent_sha256;
    std::string watcher;
};

class Sealer {
public:
    // Decides the run's first epoch and key from DB.key and the database; a database
    // never sealed starts sealing now with `epoch_seconds` (its verification key file is made).
    static Result<std::unique_ptr<Sealer>> prepare(db::Database& db, const std::string& db_path,
                                                   std::int64_t epoch_seconds);

    const SealKey& key() const { return key_; }
    const std::optional<NewSealing>& new_sealing() const { return new_sealing_; }
    void set_facts(CheckpointFacts facts);

    // Whether the writer must open a transaction even with no events: the first epoch
    // of the run, a due epoch change (empty epochs are sealed too), or alarms to record.
    bool due(std::int64_t now_ns) const {
        return epoch_started_ns_ == 0 || now_ns - epoch_started_ns_ >= epoch_seconds_ * 1'000'000'000 ||
               !alarms_.empty();
    }
    // Rows dated before this are re-dated by the writer (see kSealLagNs).
    std::int64_t earliest_time_ns() const { return epoch_started_ns_ - kSealLagNs; }
    struct BatchSeal {
        std::vector<std::pair<std::int64_t, Mac32>> checkpoints;  // seq, mac
        bool alarms_written = false;
    };
    // In the writer's transaction, before a batch: writes the key file of a new epoch
    // when one is due (or the run's first), and opens the epoch in the chain; appends
    // the alarms found at start.
    Result<BatchSeal> before_batch(EventChain& chain, std::int64_t now_ns);
    // After the commit: says where each new checkpoint is, to stderr and syslog.
    void committed(const BatchSeal& seal);
    // At a clean stop: the chain's last row, in the same form as a checkpoint line.
    void announce_tail(const ChainTail& tail) const;

private:
    Sealer() = default;
    std::string checkpoint_detail(const char* reason, const EventChain& chain) const;
    void announce(std::int64_t seq, const Mac32& mac, const char* what) const;

    std::string db_path_;
    SealKey key_;                    // the key of the current (or first) epoch
    bool key_file_current_ = false;  // DB.key already holds key_
    std::int64_t epoch_seconds_ = kDefaultEpochSeconds;
    std::int64_t epoch_started_ns_ = 0;      // 0: the run's first epoch is not opened yet
    std::vector<std::string> alarms_;        // found at start, recorded with the first batch
    std::int64_t last_clock_offset_ns_ = 0;  // CLOCK_REALTIME - CLOCK_BOOTTIME at the last batch
    std::int64_t clock_jump_ns_ = 0;         // the step back that opened this epoch, if one did
    std::optional<NewSealing> new_sealing_;
    mutable std::mutex facts_mu_;
    CheckpointFacts facts_;
};

}  // namespace vigil::agent
