#include "cli/prune_command.h"

#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/actor.h"
#include "common/agent_status.h"
#include "common/db/sqlite.h"
#include "common/escape.h"
#include "common/event_prune.h"
#include "common/seal_state.h"
#include "common/time_format.h"
#include "common/time_parse.h"

namespace vigil::cli {
namespace {

// Rows per transaction: each chunk commits with its own prune row, so a long prune holds
// the write lock (and the agent's writer waits) for a bounded time, and a kill between
// chunks leaves a verifiable log.
constexpr std::int64_t kRowsPerTransaction = 200'000;

std::string span_text(const PrunePlan& p) {
    std::string s = std::to_string(p.rows) + " events (ids up to " + std::to_string(p.first_kept_seq - 1);
    if (p.first_epoch && p.last_epoch)
        s += ", epochs " + std::to_string(*p.first_epoch) + ".." + std::to_string(*p.last_epoch);
    return s + ", " + format_rfc3339_ns(p.oldest_ns) + " to " + format_rfc3339_ns(p.newest_ns) + ")";
}

struct Chunk {
    std::optional<PrunePlan> plan;
    std::int64_t prune_id = 0;
};

// One transaction: plan, delete, append the sealed prune row, commit.
Result<Chunk> prune_chunk(db::Database& db, const std::string& db_path, std::int64_t cutoff_ns,
                          std::optional<SealKey>& used_key) {
    auto txn = db::WriteTxn::begin(db);
    if (!txn) return txn.error();
    auto plan = plan_prune(db, cutoff_ns, kRowsPerTransaction);
    if (!plan) return plan.error();
    Chunk out;
    if (!plan->has_value()) return out;
    auto info = read_seal_info(db);
    if (!info) return info.error();
    Event ev;
    ev.time_ns = realtime_now_ns();
    ev.source = Source::Cli;
    ev.actor = self_actor();
    std::optional<EventChain> chain;
    if (info->has_value()) {
        auto key = current_sealing_key(db, db_path);
        if (!key) return key.error();
        auto c = EventChain::open(db, key.value());
        if (!c) return c.error();
        chain.emplace(std::move(c.value()));
        used_key = key.value();
    }
    const std::string checkpoint =
        nlohmann::json{{"reason", "vigil prune"}, {"epoch", used_key ? used_key->epoch : 0}}.dump();
    auto id = apply_prune(db, plan->value(), chain ? &*chain : nullptr, ev, checkpoint);
    if (!id) return id.error();
    VIGIL_TRY(txn->commit());
    out.plan = plan->value();
    out.prune_id = id.value();
    return out;
}

}  // namespace

int run_prune(const Options& opts) {
    if (!opts.older_than) {
        print_error("vigil prune needs --older-than (a duration such as 90d, or a date)");
        return kExitUsage;
    }
    const std::int64_t now = realtime_now_ns();
    auto cutoff = parse_when(*opts.older_than, now);
    if (!cutoff) {
        print_error("--older-than: " + cutoff.error().message());
        return kExitUsage;
    }
    if (cutoff.value() > now) {
        print_error("--older-than " + escape_bytes(*opts.older_than) + " lies in the future");
        return kExitUsage;
    }
    auto db = db::Database::open(opts.db, opts.dry_run ? db::OpenMode::ReadOnly : db::OpenMode::ReadWrite);
    if (!db) {
        print_error(db.error().message());
        return kExitDatabase;
    }
    const std::string cutoff_text = format_rfc3339_ns(cutoff.value());
    if (opts.dry_run) {
        auto plan = plan_prune(db.value(), cutoff.value(), INT64_MAX);
        if (!plan) {
            print_error(plan.error().message());
            return kExitDatabase;
        }
        const std::string out =
            plan->has_value()
                ? "Would remove " + span_text(plan->value()) + ": every epoch ended before " + cutoff_text + ".\n"
                : "Nothing to prune: no whole epoch ended before " + cutoff_text + ".\n";
        return write_stdout(out) ? kExitClean : kExitOutput;
    }
    std::optional<SealKey> used_key;
    std::int64_t rows = 0;
    std::string out;
    for (;;) {
        auto chunk = prune_chunk(db.value(), opts.db, cutoff.value(), used_key);
        if (!chunk) {
            print_error("prune of " + escape_bytes(opts.db) + " stopped: " + chunk.error().message() +
                        (rows ? " (" + std::to_string(rows) + " events were removed and recorded before)" : ""));
            return kExitDatabase;
        }
        if (!chunk->plan) break;
        rows += chunk->plan->rows;
        out += "Removed " + span_text(*chunk->plan) + "; recorded as event " + std::to_string(chunk->prune_id) + ".\n";
    }
    // With no agent to evolve it, the key moves on now: this epoch's key leaves the disk.
    if (used_key) {
        if (auto running = agent_lock_held(opts.db); running && !running.value()) {
            if (auto r = evolve_key_file(opts.db, *used_key); !r) print_warning(r.error().message());
        }
    }
    if (rows == 0) out = "Nothing to prune: no whole epoch ended before " + cutoff_text + ".\n";
    return write_stdout(out) ? kExitClean : kExitOutput;
}

}  // namespace vigil::cli
