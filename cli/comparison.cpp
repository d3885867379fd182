#include "cli/comparison.h"

#include <chrono>
#include <future>

#include "common/escape.h"
#include "common/progress.h"

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

}  // namespace vigil::cli
