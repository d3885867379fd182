#include "cli/comparison.h"

#include <chrono>
#include <future>

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/escape.h"
#include "common/progress.h"
#include "common/seal_verify.h"

namespace vigil::cli {

TimedWalk timed_walk(const Policy& policy, unsigned threads) {
    WalkProgress progress;
    TimedWalk out;
    const auto start = std::chrono::steady_clock::now();
    {
        const ProgressLine line(progress);
        out.result = walk_policy(policy, WalkOptions{threads}, &progress);
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.files_hashed = progress.files_hashed.load();
    out.bytes_hashed = progress.bytes_hashed.load();
    return out;
}

std::vector<const FileRecord*> unreadable(const std::vector<FileRecord>& records) {
    std::vector<const FileRecord*> out;
    for (const auto& r : records)
        if (!r.error.empty()) out.push_back(&r);
    return out;
}

Result<Comparison> compare_with_baseline(db::Database& db, const Policy& policy, unsigned threads) {
    Comparison c;
    auto info = latest_baseline(db);
    if (!info) return info.error();
    if (!info->has_value())
        return Error::msg("database " + escape_bytes(db.path()) + " holds no baseline yet; run `vigil init` first");
    c.baseline = std::move(info.value());
    c.started_ns = realtime_now_ns();
    // Loading the old baseline overlaps the walk: it costs a core for a fraction of a second.
    auto loaded = std::async(std::launch::async, [&db] { return load_baseline(db); });
    c.walk = timed_walk(policy, threads);
    auto before = loaded.get();
    if (!before) return before.error();
    c.before = std::move(before.value());
    return c;
}

CheckContext context_for(const Comparison& c, const Policy& policy, const char* title, bool color) {
    CheckContext ctx;
    ctx.title = title;
    ctx.started_ns = c.started_ns;
    ctx.seconds = c.walk.seconds;
    ctx.entries_checked = c.walk.result.records.size();
    ctx.baseline = c.baseline;
    ctx.policy = &policy;
    ctx.warnings = c.walk.result.warnings;
    ctx.unreadable_entries = unreadable(c.walk.result.records);
    ctx.unreadable = ctx.unreadable_entries.size();
    ctx.color = color;
    return ctx;
}

std::variant<std::unique_ptr<CheckRun>, int> run_comparison(const std::optional<std::string>& policy_path,
                                                            const std::string& db_path, db::OpenMode mode,
                                                            unsigned threads, bool probe_write_lock) {
    auto policy = load_policy(policy_path);
    if (!policy) {
        print_error(policy.error().message());
        return kExitPolicy;
    }
    auto db = db::Database::open(db_path, mode);
    if (!db) {
        print_error(db.error().message());
        return kExitDatabase;
    }
    if (probe_write_lock) {
        if (auto probe = db::WriteTxn::begin(db.value()); !probe) {
            print_error(probe.error().message());
            return kExitDatabase;
        }
    }
    if (auto warning = baseline_seal_warning(db.value(), db_path)) print_warning(*warning);
    auto run = std::make_unique<CheckRun>(CheckRun{std::move(policy.value()), std::move(db.value()), {}, {}});
    auto cmp = compare_with_baseline(run->db, run->policy, threads);
    if (!cmp) {
        print_error(cmp.error().message());
        return kExitDatabase;
    }
    run->cmp = std::move(cmp.value());
    run->diff = diff_records(run->cmp.before, run->cmp.walk.result.records, run->policy);
    return run;
}

}  // namespace vigil::cli
