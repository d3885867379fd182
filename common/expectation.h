// Expectations: who the company expects to read and to modify a rule's files, and with
// which executables ("expect" in a policy rule), and the signs of a leak it wants to hear
// about ("alert"). This file holds the types and the pure matching logic; who a uid is and
// which groups it belongs to comes from an IdentityDirectory (NSS in the agent,
// common/expectation_directory.h; a fixed table in unit tests). See docs/policy.md.
//
// Which identity counts (a judgement call, documented in docs/policy.md): every identity
// that acted must be expected — the real uid, the effective uid when it differs, and the
// login uid (auid) when it is set and differs. So `sudo -u sales cat` run by a support
// user is unexpected (the login user is support), and so is a setuid program run by a
// user who is not expected (the real uid). An event whose uid is unknown (inotify, a
// process gone before attribution) is never judged: it is counted as not evaluated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/event.h"
#include "common/result.h"

namespace vigil {

// One entry of an expectation list: user:NAME, group:NAME, uid:N or gid:N.
struct Principal {
    enum class Kind : std::uint8_t { User, Group, Uid, Gid };
    Kind kind = Kind::User;
    std::string name;     // User, Group
    std::int64_t id = 0;  // Uid, Gid

    std::string text() const;  // as written in the policy: "group:sales"
    bool operator==(const Principal&) const = default;
};

// Parses "user:NAME" and friends; the error says which forms exist.
Result<Principal> parse_principal(std::string_view entry);

struct Expectation {
    // nullopt: that kind of action is not restricted by identity. An empty list: nobody is
    // expected (every such action is unexpected).
    std::optional<std::vector<Principal>> read;
    std::optional<std::vector<Principal>> modify;
    // nullopt: any executable. Otherwise the exact paths (as /proc/PID/exe names them)
    // allowed for every action the expectation covers, reads and modifications alike. An
    // executable that could not be read (the uid could) fails this allow-list.
    std::optional<std::vector<std::string>> exe;
};

struct BulkReadAlert {
    std::uint32_t files = 0;     // more than this many distinct files ...
    std::int64_t window_ns = 0;  // ... within this long
    std::string window_text;     // as written: "60s"
};

// Local wall-clock minutes of the day, [start, end); start > end crosses midnight.
struct HoursWindow {
    int start_minute = 0;
    int end_minute = 0;
    std::string text;  // as written: "07:00-20:00"

    bool contains(int minute_of_day) const;
};

struct AlertRule {
    std::optional<BulkReadAlert> bulk_read;
    std::optional<HoursWindow> hours;
};

// "60s", "5m", "2h", "1d" (1 second to 1 day); the error says what is accepted.
Result<std::int64_t> parse_alert_window(std::string_view text);
// "07:00-20:00", "22:00-06:00"; start and end must differ.
Result<HoursWindow> parse_hours(std::string_view text);

// Which expectation list an action falls under.
enum class ActionClass : std::uint8_t { None, Read, Modify, Denied };
ActionClass classify(Action a);

// Who a uid is, as NSS says now.
struct Identity {
    std::optional<std::string> name;  // nullopt: no passwd entry
    std::vector<std::int64_t> gids;   // primary group and every supplementary group
};

class IdentityDirectory {
public:
    virtual ~IdentityDirectory() = default;
    virtual Identity user(std::int64_t uid) = 0;
    virtual std::optional<std::int64_t> group_id(const std::string& name) = 0;
    virtual std::optional<std::string> group_name(std::int64_t gid) = 0;
};

struct Verdict {
    enum class Kind : std::uint8_t {
        NotCovered,    // the rule sets no expectation for this kind of action
        Expected,      // within the expectation
        Unexpected,    // outside it: `reason` says why
        NotEvaluated,  // the actor's uid is unknown: nothing to judge, `reason` says so
    };
    Kind kind = Kind::NotCovered;
    std::string reason;  // escaped text, ready for a detail JSON string
};

// Judges one event against its rule's expectation. A denied attempt (action `denied`) is
// unexpected under any expectation: the operation it tried is read from detail's
// "operation" when present.
Verdict evaluate(const Expectation& expectation, const Event& event, IdentityDirectory& directory);

}  // namespace vigil
