// Reading and writing the baseline and the event log through common/db.
// The caller owns the transaction: vigil update writes the new baseline and the
// baseline_update event in one, so either both are there or neither is.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/db/sqlite.h"
#include "common/event.h"
#include "common/file_record.h"
#include "common/policy.h"
#include "common/seal.h"

namespace vigil {

struct BaselineInfo {
    std::int64_t id = 0;
    std::int64_t created_ns = 0;
    std::string kind;  // init | update
    std::string policy_source;
    std::string policy_sha256;
    std::string policy_text;
    std::int64_t entries = 0;
    std::int64_t errors = 0;
    std::optional<std::int64_t> uid;
    std::optional<std::int64_t> auid;
    std::optional<std::string> user;
    std::optional<std::string> login_user;
    std::optional<std::string> hostname;
};

// The newest baseline, or nullopt when the database has none yet.
Result<std::optional<BaselineInfo>> latest_baseline(db::Database& db);

// Replaces the baseline with `records` (sorted, unique paths). Must run inside a WriteTxn.
// `seal`: the current epoch's key, to seal the baseline (nullptr: unsealed, for tests and
// databases made before sealing existed).
Result<std::int64_t> write_baseline(db::Database& db, const std::vector<FileRecord>& records, const BaselineInfo& info,
                                    const SealKey* seal = nullptr);

// Every entry of the current baseline, sorted by path.
Result<std::vector<FileRecord>> load_baseline(db::Database& db);

// Appends one event row (prepares its statement each call: for one-off events).
Result<std::int64_t> append_event(db::Database& db, const Event& e);

// Appends event rows through one statement prepared once: the agent's writer.
class EventAppender {
public:
    static Result<EventAppender> prepare(db::Database& db);
    Result<std::int64_t> append(const Event& e);  // unsealed: id is the next rowid
    struct SealFields {
        std::int64_t seq = 0;  // becomes the row's id
        std::uint64_t epoch = 0;
        std::string_view mac;  // 32 bytes, valid until append_sealed returns
    };
    Result<std::int64_t> append_sealed(const Event& e, const SealFields& seal);

    static constexpr std::size_t kColumns = 25;

private:
    Result<std::int64_t> append_row(const Event& e, const SealFields* seal);
    EventAppender(db::Database* db, db::Stmt stmt, std::array<int, kColumns> index)
        : db_(db), stmt_(std::move(stmt)), index_(index) {}
    db::Database* db_;
    db::Stmt stmt_;
    std::array<int, kColumns> index_;  // parameter positions, in the order of kEventParameters
};

std::optional<std::string> host_name();

}  // namespace vigil
