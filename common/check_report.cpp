#include "common/check_report.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "common/time_format.h"

namespace vigil {
namespace {

using nlohmann::ordered_json;

struct Style {
    bool on = false;
    std::string paint(const std::string& s, const char* code) const {
        return on ? std::string("\x1b[") + code + "m" + s + "\x1b[0m" : s;
    }
};

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

ordered_json to_json(const AttrValue& v) {
    switch (v.kind) {
        case AttrValue::Kind::Null: return nullptr;
        case AttrValue::Kind::Int: return v.number;
        case AttrValue::Kind::Text: return v.text;
    }
    return nullptr;
}

ordered_json record_json(const FileRecord& r) {
    ordered_json j;
    j["path"] = escape_bytes(r.path);
    for (const auto& [attr, value] : describe_record(r)) j[attr] = to_json(value);
    return j;
}

std::string short_summary(const FileRecord& r) {
    std::string s(file_type_name(r.type));
    char mode[16];
    std::snprintf(mode, sizeof mode, " %04o", r.mode);
    s += mode;
    s += " " + std::to_string(r.uid) + ":" + std::to_string(r.gid);
    if (r.type == FileType::Regular) s += " " + std::to_string(r.size) + " B";
    if (r.type == FileType::Symlink) s += " -> " + escape_bytes(r.target);
    if (!r.error.empty()) s += "  (" + escape_bytes(r.error) + ")";
    return s;
}

std::string baseline_line(const CheckContext& ctx) {
    if (!ctx.baseline) return "Baseline: none\n";
    const auto& b = *ctx.baseline;
    std::string who = b.user ? escape_bytes(*b.user) : b.uid ? "uid " + std::to_string(*b.uid) : "unknown";
    if (b.login_user && b.login_user != b.user) who += " (login " + escape_bytes(*b.login_user) + ")";
    return "Baseline: #" + std::to_string(b.id) + " (" + b.kind + ") of " + format_rfc3339_ns(b.created_ns) + " by " +
           who + ", " + std::to_string(b.entries) + " entries\n";
}

bool policy_changed(const CheckContext& ctx) {
    return ctx.baseline && ctx.policy && ctx.baseline->policy_sha256 != ctx.policy->sha256_hex;
}

}  // namespace

std::string render_check_text(const DiffResult& diff, const CheckContext& ctx) {
    const Style style{ctx.color};
    std::string out;
    const auto host = host_name();
    out += style.paint("Vigil " + ctx.title, "1") + " of " + escape_bytes(host.value_or("?")) + " at " +
           format_rfc3339_ns(ctx.started_ns) + "\n";
    out += baseline_line(ctx);
    if (ctx.policy) {
        out +=
            "Policy: " + escape_bytes(ctx.policy->source) + " (sha256 " + ctx.policy->sha256_hex.substr(0, 16) + "…)\n";
    }
    if (policy_changed(ctx)) {
        out += style.paint(
                   "Note: the policy differs from the one the baseline was built with; entries it no longer "
                   "covers show as removed, new ones as added.",
                   "33") +
               "\n";
    }
    out += "Checked " + std::to_string(ctx.entries_checked) + " entries in " + fixed(ctx.seconds, 2) +
           " s: " + std::to_string(diff.added.size()) + " added, " + std::to_string(diff.removed.size()) +
           " removed, " + std::to_string(diff.changed.size()) + " changed" +
           (ctx.unreadable ? ", " + std::to_string(ctx.unreadable) + " unreadable" : "") + "\n";
    if (diff.clean()) out += style.paint("No differences from the baseline.", "32") + "\n";

    if (!diff.added.empty()) {
        out += "\n" + style.paint("Added (" + std::to_string(diff.added.size()) + ")", "1;32") + "\n";
        for (const auto* r : diff.added) out += "  + " + escape_bytes(r->path) + "  " + short_summary(*r) + "\n";
    }
    if (!diff.removed.empty()) {
        out += "\n" + style.paint("Removed (" + std::to_string(diff.removed.size()) + ")", "1;31") + "\n";
        for (const auto* r : diff.removed) out += "  - " + escape_bytes(r->path) + "  " + short_summary(*r) + "\n";
    }
    if (!diff.changed.empty()) {
        out += "\n" + style.paint("Changed (" + std::to_string(diff.changed.size()) + ")", "1;33") + "\n";
        for (const auto& c : diff.changed) {
            out += "  ~ " + escape_bytes(c.after->path) + "\n";
            std::size_t width = 0;
            for (const auto& ch : c.changes) width = std::max(width, ch.attr.size());
            for (const auto& ch : c.changes) {
                out += "      " + ch.attr + std::string(width - ch.attr.size() + 2, ' ') + ch.old_value.display() +
                       " → " + ch.new_value.display() + "\n";
            }
        }
    }
    if (!ctx.unreadable_entries.empty()) {
        out +=
            "\n" + style.paint("Could not be read (" + std::to_string(ctx.unreadable_entries.size()) + ")", "1") + "\n";
        for (const auto* r : ctx.unreadable_entries)
            out += "  ! " + escape_bytes(r->path) + ": " + escape_bytes(r->error) + "\n";
    }
    if (!ctx.warnings.empty()) {
        out += "\n" + style.paint("Warnings (" + std::to_string(ctx.warnings.size()) + ")", "1") + "\n";
        for (const auto& w : ctx.warnings) out += "  " + w + "\n";
    }
    return out;
}

std::string render_check_json(const DiffResult& diff, const CheckContext& ctx) {
    ordered_json j;
    j["added"] = ordered_json::array();
    for (const auto* r : diff.added) j["added"].push_back(record_json(*r));
    j["removed"] = ordered_json::array();
    for (const auto* r : diff.removed) j["removed"].push_back(record_json(*r));
    j["changed"] = ordered_json::array();
    for (const auto& c : diff.changed) {
        ordered_json e;
        e["path"] = escape_bytes(c.after->path);
        e["type"] = std::string(file_type_name(c.after->type));
        ordered_json changes = ordered_json::object();
        for (const auto& ch : c.changes)
            changes[ch.attr] = {{"old", to_json(ch.old_value)}, {"new", to_json(ch.new_value)}};
        e["changes"] = std::move(changes);
        j["changed"].push_back(std::move(e));
    }
    ordered_json unreadable = ordered_json::array();
    for (const auto* r : ctx.unreadable_entries)
        unreadable.push_back({{"path", escape_bytes(r->path)}, {"error", escape_bytes(r->error)}});

    ordered_json s;
    s["time"] = format_rfc3339_ns(ctx.started_ns);
    s["host"] = escape_bytes(host_name().value_or(""));
    s["added"] = diff.added.size();
    s["removed"] = diff.removed.size();
    s["changed"] = diff.changed.size();
    s["entries_checked"] = ctx.entries_checked;
    s["unreadable"] = ctx.unreadable;
    s["seconds"] = ctx.seconds;
    if (ctx.baseline) {
        s["baseline"] = {{"id", ctx.baseline->id},
                         {"kind", ctx.baseline->kind},
                         {"created", format_rfc3339_ns(ctx.baseline->created_ns)},
                         {"entries", ctx.baseline->entries},
                         {"policy_sha256", ctx.baseline->policy_sha256}};
    } else {
        s["baseline"] = nullptr;
    }
    if (ctx.policy) s["policy"] = {{"source", escape_bytes(ctx.policy->source)}, {"sha256", ctx.policy->sha256_hex}};
    s["policy_changed"] = policy_changed(ctx);
    s["exit_code"] = diff.exit_bits();
    j["unreadable"] = std::move(unreadable);
    j["warnings"] = ctx.warnings;
    j["summary"] = std::move(s);
    return j.dump(2) + "\n";
}

}  // namespace vigil
