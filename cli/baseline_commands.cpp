#include "cli/baseline_commands.h"

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>

#include "cli/comparison.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/agent_status.h"
#include "common/baseline_store.h"
#include "common/check_report.h"
#include "common/escape.h"
#include "common/event_chain.h"
#include "common/progress.h"
#include "common/seal_state.h"
#include "common/walker.h"

namespace vigil::cli {
namespace {

BaselineInfo new_baseline_info(const Policy& policy, const char* kind) {
    const Actor self = self_actor();
    BaselineInfo info;
    info.created_ns = realtime_now_ns();
    info.kind = kind;
    info.policy_source = policy.source;
    info.policy_sha256 = policy.sha256_hex;
    info.policy_text = policy.text;  // so a later check can say which policy built the baseline
    info.uid = self.uid;
    info.auid = self.auid;
    info.user = self.user;
    info.login_user = self.login_user;
    info.hostname = host_name();
    return info;
}

bool valid_format(const Options& opts) {
    if (opts.format == "text" || opts.format == "json") return true;
    print_error("--format must be text or json, not \"" + escape_bytes(opts.format) + "\"");
    return false;
}

int emit(const std::string& text) {
    if (write_stdout(text)) return kExitClean;
    print_error("cannot write the report to standard output: " + std::generic_category().message(errno));
    return kExitOutput;
}

struct UpdateKey {
    SealKey key;
    std::optional<NewSealing> new_sealing;  // a database from before sealing: sealed from now on
};

// The key `vigil update` seals with (inside the write transaction). A database never
// sealed (made before sealing existed) starts sealing here.
Result<UpdateKey> sealing_key_for_update(db::Database& db, const std::string& db_path, const Policy& policy) {
    auto fresh = start_sealing_if_unsealed(db, db_path, policy.seal_epoch_seconds);
    if (!fresh) return fresh.error();
    if (fresh->has_value()) return UpdateKey{fresh->value().k0, fresh->value()};
    auto key = current_sealing_key(db, db_path);
    if (!key) return key.error();
    return UpdateKey{key.value(), std::nullopt};
}

}  // namespace

int run_init(const Options& opts) {
    auto policy = load_policy(opts.policy);
    if (!policy) {
        print_error(policy.error().message());
        return kExitPolicy;
    }
    auto db = db::Database::open(opts.db, db::OpenMode::Create);
    if (!db) {
        print_error(db.error().message());
        return kExitDatabase;
    }
    auto existing = latest_baseline(db.value());
    if (!existing) {
        print_error(existing.error().message());
        return kExitDatabase;
    }
    if (existing->has_value()) {
        print_error("database " + escape_bytes(opts.db) + " already holds baseline #" +
                    std::to_string(existing->value().id) +
                    "; run `vigil check` to compare or `vigil update` to accept the current state");
        return kExitUsage;
    }
    const auto started = realtime_now_ns();
    TimedWalk walk = timed_walk(policy.value(), opts.threads);
    for (const auto& w : walk.result.warnings) print_warning(w);

    auto info = new_baseline_info(policy.value(), "init");
    info.created_ns = started;
    auto txn = db::WriteTxn::begin(db.value());
    if (!txn) {
        print_error(txn.error().message());
        return kExitDatabase;
    }
    auto sealing = create_sealing(db.value(), opts.db, policy->seal_epoch_seconds, 1);
    if (!sealing) {
        print_error(sealing.error().message());
        return kExitDatabase;
    }
    auto id = write_baseline(db.value(), walk.result.records, info, &sealing->k0);
    if (!id) {
        print_error(id.error().message());
        return kExitDatabase;
    }
    if (auto r = txn->commit(); !r) {
        print_error(r.error().message());
        return kExitDatabase;
    }
    // K_0 sealed the baseline; from now on only the verification key file holds it.
    if (auto r = evolve_key_file(opts.db, sealing->k0); !r) print_warning(r.error().message());
    const auto bad = unreadable(walk.result.records);
    std::string out = "Baseline #" + std::to_string(id.value()) + " written to " + escape_bytes(opts.db) + ": " +
                      std::to_string(walk.result.records.size()) + " entries, " + std::to_string(walk.files_hashed) +
                      " files hashed (" + std::to_string(walk.bytes_hashed / 1'000'000) + " MB) in " +
                      std::to_string(static_cast<int>(walk.seconds * 1000)) + " ms\n";
    out += "Policy: " + escape_bytes(policy->source) + ", " + std::to_string(policy->rules.size()) + " rules\n";
    out += verification_key_notice(sealing.value());
    if (!bad.empty()) {
        out += std::to_string(bad.size()) + " entries could not be read completely:\n";
        for (const auto* r : bad) out += "  ! " + escape_bytes(r->path) + ": " + escape_bytes(r->error) + "\n";
    }
    return emit(out);
}

int run_check(const Options& opts) {
    if (!valid_format(opts)) return kExitUsage;
    auto result = run_comparison(opts.policy, opts.db, db::OpenMode::ReadOnly, opts.threads);
    if (const int* code = std::get_if<int>(&result)) return *code;
    const CheckRun& run = *std::get<std::unique_ptr<CheckRun>>(result);
    const bool json = opts.format == "json";
    const CheckContext ctx = context_for(run.cmp, run.policy, "integrity check", !json && stdout_wants_color());
    const int written = emit(json ? render_check_json(run.diff, ctx) : render_check_text(run.diff, ctx));
    return written != kExitClean ? written : run.diff.exit_bits();
}

int run_update(const Options& opts) {
    if (!valid_format(opts)) return kExitUsage;
    auto result = run_comparison(opts.policy, opts.db, db::OpenMode::ReadWrite, opts.threads, true);
    if (const int* code = std::get_if<int>(&result)) return *code;
    CheckRun& run = *std::get<std::unique_ptr<CheckRun>>(result);
    const DiffResult& diff = run.diff;

    auto info = new_baseline_info(run.policy, "update");
    info.created_ns = run.cmp.started_ns;
    auto txn = db::WriteTxn::begin(run.db);
    if (!txn) {
        print_error(txn.error().message());
        return kExitDatabase;
    }
    auto key = sealing_key_for_update(run.db, opts.db, run.policy);
    if (!key) {
        print_error(key.error().message());
        return kExitDatabase;
    }
    auto id = write_baseline(run.db, run.cmp.walk.result.records, info, &key->key);
    if (!id) {
        print_error(id.error().message());
        return kExitDatabase;
    }
    Event ev;
    ev.time_ns = realtime_now_ns();
    ev.action = Action::BaselineUpdate;
    ev.source = Source::Cli;
    ev.actor = self_actor();
    ev.detail = nlohmann::json{{"baseline_id", id.value()},      {"previous_baseline_id", run.cmp.baseline->id},
                               {"added", diff.added.size()},     {"removed", diff.removed.size()},
                               {"changed", diff.changed.size()}, {"entries", run.cmp.walk.result.records.size()}}
                    .dump();
    auto chain = EventChain::open(run.db, key->key);
    if (!chain) {
        print_error(chain.error().message());
        return kExitDatabase;
    }
    const std::string checkpoint =
        nlohmann::json{{"reason", "vigil update"}, {"epoch", key->key.epoch}, {"policy_sha256", run.policy.sha256_hex}}
            .dump();
    if (auto r = chain->append(ev, checkpoint); !r) {
        print_error(r.error().message());
        return kExitDatabase;
    }
    if (auto r = txn->commit(); !r) {
        print_error(r.error().message());
        return kExitDatabase;
    }
    // With no agent to evolve it, the key moves on now: this epoch's key leaves the disk.
    if (auto running = agent_lock_held(opts.db); running && !running.value()) {
        if (auto r = evolve_key_file(opts.db, key->key); !r) print_warning(r.error().message());
    }
    const bool json = opts.format == "json";
    const CheckContext ctx = context_for(run.cmp, run.policy, "baseline update", !json && stdout_wants_color());
    std::string out = json ? render_check_json(diff, ctx) : render_check_text(diff, ctx);
    if (!json) out += "Accepted as baseline #" + std::to_string(id.value()) + ".\n";
    if (key->new_sealing) {
        if (json) {
            print_warning(verification_key_notice(*key->new_sealing));  // stdout stays one JSON document
        } else {
            out += verification_key_notice(*key->new_sealing);
        }
    }
    return emit(out);
}

}  // namespace vigil::cli
