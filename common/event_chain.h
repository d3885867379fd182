// The sealed event log: every row gets the next sequence number (its id), the epoch of
// the key that seals it, and mac = HMAC(event key of that epoch, previous mac || its
// canonical encoding). The first row of each epoch is a `checkpoint`.
//
// Writers (the agent's writer thread, `vigil update`) append only inside a BEGIN
// IMMEDIATE transaction and re-read the tail in it, so two processes never fork the
// chain; an epoch change writes the new key file inside that transaction too (see
// docs/tamper-evidence.md, "crash consistency").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/baseline_store.h"
#include "common/db/sqlite.h"
#include "common/event.h"
#include "common/seal.h"

namespace vigil {

inline constexpr std::int64_t kDefaultEpochSeconds = 900;  // 15 minutes, as journald's FSS
// A row may be dated at most this long before its epoch's checkpoint: it was observed
// before the epoch changed and written after (the hash queue). The agent's writer
// re-dates anything later than that (keeping the observed time in its detail), and
// `vigil verify` fails a row dated earlier: a row backdated with a later key.
inline constexpr std::int64_t kSealLagNs = 60'000'000'000;

struct SealInfo {
    std::string key_id;
    std::int64_t created_ns = 0;
    std::int64_t first_seq = 1;
    std::int64_t epoch_seconds = kDefaultEpochSeconds;
};

// The seal row, or nullopt for a database that was never sealed.
Result<std::optional<SealInfo>> read_seal_info(db::Database& db);
Result<void> write_seal_info(db::Database& db, const SealInfo& info);

struct ChainTail {
    std::int64_t seq = 0;  // 0: no event row at all
    std::optional<std::uint64_t> epoch;
    std::optional<Mac32> mac;  // nullopt: the last row is unsealed (or there is none)
};
Result<ChainTail> read_chain_tail(db::Database& db);
// The highest epoch anything in the database was sealed with (events and baselines).
Result<std::optional<std::uint64_t>> newest_sealed_epoch(db::Database& db);

// The canonical encodings (docs/tamper-evidence.md); verify rebuilds them from columns.
std::string canon_event(const Event& e, std::int64_t seq, std::uint64_t epoch);

class EventChain {
public:
    // `key`: the current epoch's key. Reads the tail; call inside the write transaction.
    static Result<EventChain> open(db::Database& db, const SealKey& key);

    const SealKey& key() const { return key_; }
    // Re-reads the tail (inside each transaction: another writer may have appended).
    Result<void> reload_tail();
    // Appends `e` sealed. When the tail is of an older epoch, a checkpoint row opens this
    // epoch first (with `checkpoint_detail`); returns the row's sequence number.
    Result<std::int64_t> append(const Event& e, const std::string& checkpoint_detail);
    // Seals with `next` from now on (the caller has written the key file first).
    Result<void> set_key(const SealKey& next);
    // Appends the checkpoint that opens the key's epoch, unless the chain already has it
    // (an epoch with no events is sealed too). True when a checkpoint was appended.
    // `at_ns`: the checkpoint's time (default: now).
    Result<bool> open_epoch(const std::string& checkpoint_detail, std::optional<std::int64_t> at_ns = std::nullopt);
    const ChainTail& tail() const { return tail_; }

private:
    EventChain(db::Database& db, EventAppender app, SealKey key, Hmac mac)
        : db_(&db), app_(std::move(app)), key_(key), mac_(std::move(mac)) {}
    Result<std::int64_t> append_row(const Event& e);
    Result<std::int64_t> append_checkpoint(const std::string& detail, std::int64_t at_ns);

    db::Database* db_;
    EventAppender app_;
    SealKey key_;
    Hmac mac_;  // the event key of key_.epoch
    ChainTail tail_;
};

}  // namespace vigil
