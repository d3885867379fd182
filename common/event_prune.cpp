#include "common/event_prune.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "common/baseline_store.h"
#include "common/time_format.h"

namespace vigil {
namespace {

struct CheckpointRow {
    std::int64_t id = 0;
    std::optional<std::int64_t> epoch;
    std::int64_t time_ns = 0;
};

Result<std::vector<CheckpointRow>> checkpoints_from(db::Database& db, std::int64_t first_seq) {
    // Served by events_action_time; a month of 15-minute epochs is ~3,000 rows.
    auto st = db.prepare("SELECT id, epoch, time_ns FROM events WHERE action = 'checkpoint' AND id >= :f ORDER BY id");
    if (!st) return st.error();
    VIGIL_TRY(st->bind_int(":f", first_seq));
    std::vector<CheckpointRow> out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        out.push_back({st->col_int(0), st->col_opt_int(1), st->col_int(2)});
    }
    return out;
}

Result<std::optional<std::int64_t>> single_int(db::Database& db, const char* sql, std::int64_t arg) {
    auto st = db.prepare(sql);
    if (!st) return st.error();
    VIGIL_TRY(st->bind_int(":a", arg));
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return std::optional<std::int64_t>();
    return st->col_opt_int(0);
}

// The first id to keep in a sealed log: the checkpoint of the oldest epoch that must stay.
std::int64_t sealed_boundary(const std::vector<CheckpointRow>& cps, std::int64_t min_id, std::int64_t cutoff_ns,
                             std::int64_t max_rows) {
    std::int64_t keep_from = min_id;
    // Epoch j ends where epoch j+1 begins: checkpoint j+1 at or before the cutoff means
    // every row of epoch j is older. Stop at the first checkpoint after the cutoff (a
    // clock stepped back must not let a later epoch go while an earlier one stays).
    for (const CheckpointRow& cp : cps) {
        if (cp.time_ns > cutoff_ns) break;
        if (cp.id <= min_id) continue;
        if (keep_from > min_id && cp.id - min_id > max_rows) break;  // enough for one transaction
        keep_from = cp.id;
    }
    return keep_from;
}

}  // namespace

Result<std::optional<PrunePlan>> plan_prune(db::Database& db, std::int64_t cutoff_ns, std::int64_t max_rows) {
    auto info = read_seal_info(db);
    if (!info) return info.error();
    auto min_id = single_int(db, "SELECT min(id) FROM events WHERE id >= :a", 0);
    if (!min_id) return min_id.error();
    if (!min_id->has_value()) return std::optional<PrunePlan>();  // no events at all

    PrunePlan plan;
    plan.cutoff_ns = cutoff_ns;
    if (info->has_value()) {
        auto cps = checkpoints_from(db, info->value().first_seq);
        if (!cps) return cps.error();
        plan.first_kept_seq = sealed_boundary(cps.value(), **min_id, cutoff_ns, max_rows);
        for (const auto& cp : cps.value())
            if (cp.id == plan.first_kept_seq && cp.epoch) plan.first_kept_epoch = static_cast<std::uint64_t>(*cp.epoch);
    } else {
        // Unsealed (made before sealing existed): by time, through events_time.
        auto first_new = single_int(db, "SELECT min(id) FROM events WHERE time_ns >= :a", cutoff_ns);
        if (!first_new) return first_new.error();
        auto max_id = single_int(db, "SELECT max(id) FROM events WHERE id >= :a", 0);
        if (!max_id) return max_id.error();
        plan.first_kept_seq = first_new->value_or(max_id->value_or(0) + 1);
        plan.first_kept_seq = std::min(plan.first_kept_seq, **min_id + max_rows);
    }
    if (plan.first_kept_seq <= **min_id) return std::optional<PrunePlan>();

    auto st =
        db.prepare("SELECT count(*), min(time_ns), max(time_ns), min(epoch), max(epoch) FROM events WHERE id < :s");
    if (!st) return st.error();
    VIGIL_TRY(st->bind_int(":s", plan.first_kept_seq));
    if (auto row = st->step(); !row) return row.error();
    plan.rows = st->col_int(0);
    plan.oldest_ns = st->col_opt_int(1).value_or(0);
    plan.newest_ns = st->col_opt_int(2).value_or(0);
    if (auto e = st->col_opt_int(3)) plan.first_epoch = static_cast<std::uint64_t>(*e);
    if (auto e = st->col_opt_int(4)) plan.last_epoch = static_cast<std::uint64_t>(*e);

    auto last = db.prepare("SELECT id, mac FROM events WHERE id < :s ORDER BY id DESC LIMIT 1");
    if (!last) return last.error();
    VIGIL_TRY(last->bind_int(":s", plan.first_kept_seq));
    auto row = last->step();
    if (!row) return row.error();
    if (row.value()) {
        plan.last_removed_seq = last->col_int(0);
        if (auto mac = last->col_opt_blob(1)) plan.last_removed_mac = mac_from_bytes(*mac);
    }
    return std::optional<PrunePlan>(plan);
}

std::string prune_detail(const PrunePlan& plan) {
    nlohmann::json j;
    j["cutoff"] = format_rfc3339_ns(plan.cutoff_ns);
    j["removed_rows"] = plan.rows;
    j["removed_from"] = format_rfc3339_ns(plan.oldest_ns);
    j["removed_to"] = format_rfc3339_ns(plan.newest_ns);
    if (plan.first_epoch && plan.last_epoch) j["removed_epochs"] = {*plan.first_epoch, *plan.last_epoch};
    j["last_removed_seq"] = plan.last_removed_seq;
    if (plan.last_removed_mac) j["last_removed_mac"] = hex_of(*plan.last_removed_mac);
    j["first_kept_seq"] = plan.first_kept_seq;
    if (plan.first_kept_epoch) j["first_kept_epoch"] = *plan.first_kept_epoch;
    return j.dump();
}

std::optional<RecordedPrune> parse_prune_detail(const std::string& detail) {
    const auto j = nlohmann::json::parse(detail, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    const auto seq = j.find("first_kept_seq");
    if (seq == j.end() || !seq->is_number_integer()) return std::nullopt;
    RecordedPrune out;
    out.first_kept_seq = seq->get<std::int64_t>();
    if (const auto mac = j.find("last_removed_mac"); mac != j.end() && mac->is_string())
        out.last_removed_mac = mac_from_hex(mac->get<std::string>());
    return out;
}

Result<std::int64_t> apply_prune(db::Database& db, const PrunePlan& plan, EventChain* chain, Event prune,
                                 const std::string& checkpoint_detail) {
    auto del = db.prepare("DELETE FROM events WHERE id < :s");
    if (!del) return del.error();
    VIGIL_TRY(del->bind_int(":s", plan.first_kept_seq));
    if (auto r = del->step(); !r) return r.error();
    prune.action = Action::Prune;
    prune.detail = prune_detail(plan);
    if (chain) return chain->append(prune, checkpoint_detail);
    return append_event(db, prune);
}

}  // namespace vigil
