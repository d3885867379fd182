#include "common/seal_state.h"

#include "common/escape.h"

namespace vigil {

Result<NewSealing> create_sealing(db::Database& db, const std::string& db_path, std::int64_t epoch_seconds,
                                  std::int64_t first_seq) {
    NewSealing s;
    s.key_file = key_file_path(db_path);
    s.verification_key_file = verification_key_path(db_path);
    // Key files already there belong to no seal record (this database has none): left by
    // an init that was killed before its commit. They seal nothing; replacing them (each
    // write is atomic) loses nothing, and an auditor's offline copy of an older key then
    // fails `vigil verify` as a wrong key rather than passing.
    auto k0 = random_seal_key();
    if (!k0) return k0.error();
    s.k0 = k0.value();
    auto id = key_id(s.k0);
    if (!id) return id.error();
    s.key_id = id.value();
    SealInfo info;
    info.key_id = s.key_id;
    info.created_ns = realtime_now_ns();
    info.first_seq = first_seq;
    info.epoch_seconds = epoch_seconds;
    VIGIL_TRY(write_seal_info(db, info));
    VIGIL_TRY(write_key_file(s.verification_key_file, s.k0, 0400,
                             "Vigil VERIFICATION key (epoch 0) for " + db_path +
                                 "\nMove this file off this host and keep it offline; `vigil verify --key-file` "
                                 "needs it."));
    VIGIL_TRY(write_key_file(s.key_file, s.k0, 0600,
                             "Vigil sealing key for " + db_path + "\nEvolves forward; never copy or restore it."));
    return s;
}

Result<SealingState> read_sealing_state(db::Database& db) {
    SealingState s;
    auto info = read_seal_info(db);
    if (!info) return info.error();
    s.info = info.value();
    auto newest = newest_sealed_epoch(db);
    if (!newest) return newest.error();
    s.newest_epoch = newest.value();
    auto st = db.prepare(
        "SELECT EXISTS (SELECT 1 FROM events WHERE mac IS NOT NULL) OR EXISTS (SELECT 1 FROM baselines WHERE "
        "seal_mac IS NOT NULL)");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    s.has_sealed_rows = st->col_int(0) != 0;
    return s;
}

Result<std::optional<NewSealing>> start_sealing_if_unsealed(db::Database& db, const std::string& db_path,
                                                            std::int64_t epoch_seconds) {
    auto state = read_sealing_state(db);
    if (!state) return state.error();
    if (state->info) return std::optional<NewSealing>();
    if (state->has_sealed_rows)
        return Error::msg("database " + escape_bytes(db_path) +
                          " holds sealed rows but no seal record: it was tampered with; run `vigil verify`");
    auto tail = read_chain_tail(db);
    if (!tail) return tail.error();
    auto fresh = create_sealing(db, db_path, epoch_seconds, tail->seq + 1);
    if (!fresh) return fresh.error();
    return std::optional<NewSealing>(std::move(fresh.value()));
}

Result<SealKey> current_sealing_key(db::Database& db, const std::string& db_path) {
    auto newest = newest_sealed_epoch(db);
    if (!newest) return newest.error();
    auto key = read_key_file(key_file_path(db_path));
    if (!key) return Error::msg(key.error().message() + " (the sealing key; without it nothing new can be sealed)");
    if (newest.value() && key->epoch < *newest.value())
        return Error::msg("key file " + escape_bytes(key_file_path(db_path)) + " is at epoch " +
                          std::to_string(key->epoch) + " but the database was sealed up to epoch " +
                          std::to_string(*newest.value()) + ": an older key was restored; refusing to seal");
    return key.value();
}

Result<SealKey> evolve_key_file(const std::string& db_path, const SealKey& key) {
    auto next = evolve(key);
    if (!next) return next.error();
    VIGIL_TRY(write_key_file(key_file_path(db_path), next.value(), 0600,
                             "Vigil sealing key for " + db_path + "\nEvolves forward; never copy or restore it."));
    return next.value();
}

std::string verification_key_notice(const NewSealing& s) {
    return "Verification key (epoch 0): " + hex_of(s.k0.key) + "\n  Written to " +
           escape_bytes(s.verification_key_file) +
           " (0400). Keep a copy OFFLINE and remove it from this host: whoever holds it can forge the record; "
           "`vigil verify --key-file FILE` proves the database with it.\n";
}

}  // namespace vigil
