// Policy: which trees Vigil watches and how. JSON with comments, validated strictly:
// every error names the file, the rule and what is wrong. See docs/policy.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expectation.h"
#include "common/result.h"

namespace vigil {

enum class WatchMode : std::uint8_t { None, Modify, Access };
enum class Severity : std::uint8_t { Info, Low, Medium, High, Critical };

// Attributes a rule compares (the "check" list). Type changes and read errors are
// always reported: a file that became a symlink is a change whatever the rule says.
enum Attr : std::uint32_t {
    kAttrSha256 = 1U << 0U,
    kAttrMode = 1U << 1U,
    kAttrUid = 1U << 2U,
    kAttrGid = 1U << 3U,
    kAttrSize = 1U << 4U,
    kAttrMtime = 1U << 5U,
    kAttrCtime = 1U << 6U,
    kAttrInode = 1U << 7U,
    kAttrNlink = 1U << 8U,
    kAttrXattrs = 1U << 9U,
    kAttrAcl = 1U << 10U,
    kAttrCaps = 1U << 11U,
    kAttrTarget = 1U << 12U,
    kAttrDev = 1U << 13U,
    kAttrAll = (1U << 14U) - 1U,
};

std::string_view attr_name(Attr a);
std::optional<Attr> attr_from_name(std::string_view name);
std::string_view watch_mode_name(WatchMode m);
std::string_view severity_name(Severity s);

struct Rule {
    std::string path;  // absolute, normalised; may hold glob characters in components
    bool recursive = true;
    std::vector<std::string> exclude;  // "/abs/glob" matches the full path, "glob" the name
    std::uint32_t check = kAttrAll;
    WatchMode watch = WatchMode::Modify;
    std::string label;
    Severity severity = Severity::Medium;
    bool one_filesystem = true;
    // Who is expected to read and modify the rule's files, and the signs of a leak to
    // alert on (common/expectation.h). Without them the rule behaves as it always did.
    std::optional<Expectation> expect;
    std::optional<AlertRule> alert;

    // True when `path` (with basename `name`) matches one of the rule's excludes.
    bool excludes(std::string_view path, std::string_view name) const;
};

// Where the agent sends each committed event besides the database ("output"; see
// docs/policy.md and docs/log-pipeline.md). Both are off unless the policy names them.
struct JsonlOutput {
    std::string path;                            // absolute
    std::uint64_t max_size_bytes = 100U << 20U;  // 0: never rotate (logrotate + SIGHUP does)
    std::uint32_t keep = 10;                     // rotated files kept: path.1 .. path.keep
};
struct SyslogOutput {
    int facility = 16;                // local0; syslog(3)'s code divided by 8
    std::string socket = "/dev/log";  // the local syslog datagram socket
    Severity min_severity = Severity::Info;
    std::size_t max_bytes = 8192;  // one datagram at most (the message text is cut first)
    // Events the output may fall behind a slow or absent receiver (sent when it takes
    // them again) before the oldest are dropped and counted.
    std::int64_t max_backlog = 10'000;
};
struct OutputConfig {
    std::optional<JsonlOutput> jsonl;
    std::optional<SyslogOutput> syslog;
};

// Facility names as syslog.conf(5) spells them ("local0" -> 16), or nullopt.
std::optional<int> syslog_facility_from_name(std::string_view name);
std::optional<Severity> severity_from_name(std::string_view name);

struct Policy {
    std::vector<Rule> rules;
    std::string source;      // the file it came from, or "(embedded default)"
    std::string sha256_hex;  // of the policy text, so a report says which policy was used
    std::string text;        // as read: stored with each baseline
    // How long one sealing key lives in the agent ("sealing": {"epoch_seconds": N});
    // fixed in the database when sealing starts. docs/tamper-evidence.md.
    std::int64_t seal_epoch_seconds = 900;
    // How many events the agent's fanotify queue in the kernel holds before it overflows
    // ("limits": {"kernel_queue_events": N}); docs/policy.md.
    std::uint32_t kernel_queue_events = 262'144;
    // How much memory events waiting for the database may hold ("limits":
    // {"queue_memory_mb": N}); past it they are counted as lost and a rescan follows.
    std::uint32_t queue_memory_mb = 512;
    // Rows per second per (action, path, process) before the rest of that second are
    // folded into one row with a count ("limits": {"path_events_per_second": N}).
    std::uint32_t path_events_per_second = 100;
    // Files larger than this are hashed after a write by a background thread at idle
    // priority ("limits": {"inline_hash_mb": N}): the write's row is recorded at once,
    // its hash follows in a second row. A 1 TB file never stalls the pipeline.
    std::uint32_t inline_hash_mb = 64;
    // Days of events the agent keeps ("retention": {"days": N}); older whole sealing
    // epochs are pruned daily and the prune recorded (common/event_prune.h). 0: keep all.
    std::uint32_t retention_days = 0;
    OutputConfig output;
    // The Linux audit subsystem as a second source ("audit": {"enabled": B, "attribution":
    // B}): denied attempts (EACCES/EPERM) on watched paths, and the actor of changes whose
    // process exited before /proc was read. Used when root and available.
    bool audit_enabled = true;
    bool audit_attribution = true;
};

inline constexpr std::string_view kDefaultPolicyPath = "/etc/vigil/policy.json";
inline constexpr std::string_view kEmbeddedPolicyName = "(embedded default)";
inline constexpr std::size_t kMaxPolicyBytes = 4U * 1024U * 1024U;

// Parses and validates policy text; `source` names it in errors.
Result<Policy> parse_policy(std::string_view text, std::string_view source);

// Reads and parses a policy file; refuses files writable by others than their owner or
// owned by someone other than root or the caller (a policy decides what is watched).
Result<Policy> load_policy_file(const std::string& path);

// --policy FILE if given; else /etc/vigil/policy.json if it exists; else the embedded default.
Result<Policy> load_policy(const std::optional<std::string>& explicit_path);

std::string_view embedded_default_policy_text();

// Glob validation shared by rule paths and excludes: a reason, or nullopt when valid.
std::optional<std::string> glob_problem(std::string_view glob);
bool has_glob_chars(std::string_view s);

}  // namespace vigil
