#include "common/event_chain.h"

#include <algorithm>

#include "common/escape.h"

namespace vigil {

Result<std::optional<SealInfo>> read_seal_info(db::Database& db) {
    auto st = db.prepare("SELECT key_id, created_ns, first_seq, epoch_seconds FROM seal WHERE id = 1");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return std::optional<SealInfo>();
    SealInfo info;
    info.key_id = st->col_blob(0);
    info.created_ns = st->col_int(1);
    info.first_seq = st->col_int(2);
    info.epoch_seconds = st->col_int(3);
    return std::optional<SealInfo>(std::move(info));
}

Result<void> write_seal_info(db::Database& db, const SealInfo& info) {
    auto st =
        db.prepare("INSERT INTO seal (id, key_id, created_ns, first_seq, epoch_seconds) VALUES (1, :k, :c, :f, :e)");
    if (!st) return st.error();
    VIGIL_TRY(st->bind_text(":k", info.key_id));
    VIGIL_TRY(st->bind_int(":c", info.created_ns));
    VIGIL_TRY(st->bind_int(":f", info.first_seq));
    VIGIL_TRY(st->bind_int(":e", info.epoch_seconds));
    return st->run();
}

Result<ChainTail> read_chain_tail(db::Database& db) {
    auto st = db.prepare("SELECT id, epoch, mac FROM events ORDER BY id DESC LIMIT 1");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    ChainTail tail;
    if (!row.value()) return tail;
    tail.seq = st->col_int(0);
    if (!st->is_null(1)) tail.epoch = static_cast<std::uint64_t>(st->col_int(1));
    if (!st->is_null(2)) tail.mac = mac_from_bytes(st->col_blob(2));
    return tail;
}

Result<std::optional<std::uint64_t>> newest_sealed_epoch(db::Database& db) {
    // The newest event row carries the newest epoch (epochs never go back along the
    // chain); a baseline may have been sealed after it.
    auto st = db.prepare(
        "SELECT max(coalesce((SELECT epoch FROM events ORDER BY id DESC LIMIT 1), -1), "
        "coalesce((SELECT max(seal_epoch) FROM baselines), -1))");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    const std::int64_t e = st->col_int(0);
    if (e < 0) return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>(static_cast<std::uint64_t>(e));
}

std::string canon_event(const Event& e, std::int64_t seq, std::uint64_t epoch) {
    Canon c("vigil.event.v1");
    c.integer(seq).integer(static_cast<std::int64_t>(epoch)).integer(e.time_ns);
    c.bytes(action_name(e.action)).bytes(source_name(e.source));
    c.opt_bytes(e.path).opt_bytes(e.old_path);
    c.opt_integer(e.actor.uid).opt_integer(e.actor.euid).opt_integer(e.actor.gid).opt_integer(e.actor.auid);
    c.opt_bytes(e.actor.user).opt_bytes(e.actor.login_user);
    c.opt_integer(e.actor.pid).opt_integer(e.actor.ppid);
    c.opt_bytes(e.actor.exe).opt_bytes(e.actor.comm).opt_bytes(e.actor.cmdline);
    c.opt_bytes(e.label).opt_bytes(e.severity).opt_bytes(e.sha256_before).opt_bytes(e.sha256_after);
    c.integer(e.unexpected ? 1 : 0).opt_bytes(e.detail);
    return c.str();
}

Result<EventChain> EventChain::open(db::Database& db, const SealKey& key) {
    auto app = EventAppender::prepare(db);
    if (!app) return app.error();
    auto event_key = derive_key(key, "event-mac");
    if (!event_key) return event_key.error();
    auto mac = Hmac::create(event_key.value());
    if (!mac) return mac.error();
    EventChain chain(db, std::move(app.value()), key, std::move(mac.value()));
    VIGIL_TRY(chain.reload_tail());
    return chain;
}

Result<void> EventChain::reload_tail() {
    auto tail = read_chain_tail(*db_);
    if (!tail) return tail.error();
    tail_ = tail.value();
    return {};
}

Result<std::int64_t> EventChain::append_row(const Event& e) {
    if (tail_.epoch && *tail_.epoch > key_.epoch)
        return Error::msg("database " + escape_bytes(db_->path()) + ": the event log is sealed up to epoch " +
                          std::to_string(*tail_.epoch) + " but the key is of epoch " + std::to_string(key_.epoch) +
                          " (an older key file?)");
    const std::int64_t seq = tail_.seq + 1;
    const Mac32 prev = tail_.mac.value_or(Mac32{});
    auto mac = mac_.mac(mac_bytes(prev), canon_event(e, seq, key_.epoch));
    if (!mac) return mac.error();
    auto id = app_.append_sealed(e, {seq, key_.epoch, mac_bytes(mac.value())});
    if (!id) return id.error();
    tail_.seq = seq;
    tail_.epoch = key_.epoch;
    tail_.mac = mac.value();
    return seq;
}

Result<std::int64_t> EventChain::append_checkpoint(const std::string& detail, std::int64_t at_ns) {
    Event cp;
    cp.time_ns = at_ns;
    cp.action = Action::Checkpoint;
    cp.source = Source::Scan;
    cp.detail = detail;
    return append_row(cp);
}

Result<bool> EventChain::open_epoch(const std::string& checkpoint_detail, std::optional<std::int64_t> at_ns) {
    if (tail_.epoch && *tail_.epoch >= key_.epoch) return false;
    VIGIL_TRY(append_checkpoint(checkpoint_detail, at_ns.value_or(realtime_now_ns())));
    return true;
}

Result<std::int64_t> EventChain::append(const Event& e, const std::string& checkpoint_detail) {
    VIGIL_TRY(open_epoch(checkpoint_detail));
    return append_row(e);
}

Result<void> EventChain::set_key(const SealKey& next) {
    auto event_key = derive_key(next, "event-mac");
    if (!event_key) return event_key.error();
    auto mac = Hmac::create(event_key.value());
    if (!mac) return mac.error();
    key_ = next;
    mac_ = std::move(mac.value());
    return {};
}

}  // namespace vigil
