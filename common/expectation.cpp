#include "common/expectation.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/escape.h"

namespace vigil {
namespace {

constexpr std::int64_t kSecondNs = 1'000'000'000;
constexpr std::int64_t kMaxId = 4'294'967'294;  // (uid_t)-1 means "unset", never a user
constexpr std::size_t kMaxNameBytes = 256;
constexpr std::size_t kListedInReason = 8;  // entries of a list worth naming in a reason

std::optional<std::int64_t> parse_decimal(std::string_view s, std::int64_t max) {
    if (s.empty() || s.size() > 10) return std::nullopt;
    std::int64_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < 0 || v > max) return std::nullopt;
    return v;
}

// "a, b, c, …": a reason stays one readable line however long the policy's list is.
template <class T, class F>
std::string listed(const std::vector<T>& items, F&& text_of) {
    if (items.empty()) return "nobody";
    std::string out;
    for (std::size_t i = 0; i < items.size() && i < kListedInReason; ++i) out += (i ? ", " : "") + text_of(items[i]);
    if (items.size() > kListedInReason) out += ", …";
    return out;
}

struct Acting {
    const char* role;  // "user", "effective user", "login user"
    const char* id_name;
    std::int64_t id;
};

bool matches(const Principal& p, std::int64_t uid, const Identity& who, IdentityDirectory& directory) {
    switch (p.kind) {
        case Principal::Kind::Uid: return uid == p.id;
        case Principal::Kind::User: return who.name && *who.name == p.name;
        case Principal::Kind::Gid: return std::find(who.gids.begin(), who.gids.end(), p.id) != who.gids.end();
        case Principal::Kind::Group: {
            const auto gid = directory.group_id(p.name);
            return gid && std::find(who.gids.begin(), who.gids.end(), *gid) != who.gids.end();
        }
    }
    return false;
}

// "user bob (uid 1003; groups support, staff)"
std::string describe(const Acting& a, const Identity& who, IdentityDirectory& directory) {
    std::string s = std::string(a.role) + " " + (who.name ? escape_bytes(*who.name) : "(no name)") + " (" + a.id_name +
                    " " + std::to_string(a.id);
    if (!who.gids.empty()) {
        s += "; groups ";
        s += listed(who.gids, [&](std::int64_t gid) {
            auto name = directory.group_name(gid);
            return name ? escape_bytes(*name) : std::to_string(gid);
        });
    }
    return s + ")";
}

std::string denied_operation(const Event& e) {
    if (!e.detail) return "";
    const auto j = nlohmann::json::parse(*e.detail, nullptr, false);
    if (!j.is_object()) return "";
    const auto it = j.find("operation");
    if (it == j.end() || !it->is_string()) return "";
    return escape_bytes(it->get<std::string>());
}

}  // namespace

std::string Principal::text() const {
    switch (kind) {
        case Kind::User: return "user:" + name;
        case Kind::Group: return "group:" + name;
        case Kind::Uid: return "uid:" + std::to_string(id);
        case Kind::Gid: return "gid:" + std::to_string(id);
    }
    return "?";
}

Result<Principal> parse_principal(std::string_view entry) {
    const auto colon = entry.find(':');
    const std::string_view kind = colon == std::string_view::npos ? std::string_view() : entry.substr(0, colon);
    const std::string_view value = colon == std::string_view::npos ? std::string_view() : entry.substr(colon + 1);
    Principal p;
    if (kind == "user" || kind == "group") {
        p.kind = kind == "user" ? Principal::Kind::User : Principal::Kind::Group;
        if (value.empty()) return Error::msg("has an empty name");
        if (value.size() > kMaxNameBytes) return Error::msg("has a name longer than 256 bytes");
        for (const char c : value) {
            const auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u == 0x7f || c == ':' || c == '/')
                return Error::msg("has a name with a space, control character, ':' or '/'");
        }
        p.name = std::string(value);
        return p;
    }
    if (kind == "uid" || kind == "gid") {
        p.kind = kind == "uid" ? Principal::Kind::Uid : Principal::Kind::Gid;
        const auto id = parse_decimal(value, kMaxId);
        if (!id) return Error::msg("needs a number from 0 to 4294967294 after \"" + std::string(kind) + ":\"");
        p.id = *id;
        return p;
    }
    return Error::msg("must be user:NAME, group:NAME, uid:N or gid:N");
}

bool HoursWindow::contains(int minute_of_day) const {
    if (start_minute < end_minute) return minute_of_day >= start_minute && minute_of_day < end_minute;
    return minute_of_day >= start_minute || minute_of_day < end_minute;  // crosses midnight
}

Result<std::int64_t> parse_alert_window(std::string_view text) {
    const auto bad = [&] {
        return Error::msg("must be a duration like \"60s\", \"5m\", \"2h\" or \"1d\", from 1s to 1d");
    };
    if (text.size() < 2) return bad();
    std::int64_t unit = 0;
    switch (text.back()) {
        case 's': unit = kSecondNs; break;
        case 'm': unit = 60 * kSecondNs; break;
        case 'h': unit = 3600 * kSecondNs; break;
        case 'd': unit = 86400 * kSecondNs; break;
        default: return bad();
    }
    const auto n = parse_decimal(text.substr(0, text.size() - 1), 86400);
    if (!n || *n == 0 || *n * unit > 86400 * kSecondNs) return bad();
    return *n * unit;
}

Result<HoursWindow> parse_hours(std::string_view text) {
    const auto bad = [] { return Error::msg("must be \"HH:MM-HH:MM\" in local time, e.g. \"07:00-20:00\""); };
    if (text.size() != 11 || text[2] != ':' || text[5] != '-' || text[8] != ':') return bad();
    const auto minute_of = [&](std::string_view hhmm) -> std::optional<int> {
        if (!std::isdigit(static_cast<unsigned char>(hhmm[0])) || !std::isdigit(static_cast<unsigned char>(hhmm[1])))
            return std::nullopt;
        const auto h = parse_decimal(hhmm.substr(0, 2), 23);
        const auto m = parse_decimal(hhmm.substr(3, 2), 59);
        if (!h || !m || !std::isdigit(static_cast<unsigned char>(hhmm[3]))) return std::nullopt;
        return static_cast<int>(*h * 60 + *m);
    };
    const auto start = minute_of(text.substr(0, 5));
    const auto end = minute_of(text.substr(6, 5));
    if (!start || !end) return bad();
    if (*start == *end) return Error::msg("starts and ends at the same minute; give a window such as \"07:00-20:00\"");
    return HoursWindow{*start, *end, std::string(text)};
}

ActionClass classify(Action a) {
    switch (a) {
        case Action::Open:
        case Action::Read: return ActionClass::Read;
        case Action::Modify:
        case Action::Create:
        case Action::Delete:
        case Action::Rename:
        case Action::Attrib: return ActionClass::Modify;
        case Action::Denied: return ActionClass::Denied;
        default: return ActionClass::None;
    }
}

Verdict evaluate(const Expectation& expectation, const Event& event, IdentityDirectory& directory) {
    using Kind = Verdict::Kind;
    const ActionClass cls = classify(event.action);
    if (cls == ActionClass::None) return {};
    if (cls == ActionClass::Denied) {
        const std::string op = denied_operation(event);
        return {Kind::Unexpected,
                "a denied attempt" + (op.empty() ? std::string() : " to " + op) + " on a file with expectations"};
    }
    const auto& principals = cls == ActionClass::Read ? expectation.read : expectation.modify;
    const char* verb = cls == ActionClass::Read ? "read" : "modify";
    if (!principals && !expectation.exe) return {};

    const Actor& a = event.actor;
    if (!a.uid) return {Kind::NotEvaluated, "actor unknown"};

    std::vector<std::string> reasons;
    if (principals) {
        std::vector<Acting> acting{{"user", "uid", *a.uid}};
        if (a.euid && *a.euid != *a.uid) acting.push_back({"effective user", "euid", *a.euid});
        if (a.auid && *a.auid != *a.uid) acting.push_back({"login user", "auid", *a.auid});
        for (const Acting& who : acting) {
            const Identity id = directory.user(who.id);
            bool ok = false;
            for (const auto& p : *principals) ok = ok || matches(p, who.id, id, directory);
            if (ok) continue;
            reasons.push_back(describe(who, id, directory) + " is not expected to " + verb + " (expected: " +
                              listed(*principals, [](const Principal& p) { return escape_bytes(p.text()); }) + ")");
        }
    }
    if (expectation.exe) {
        if (!a.exe) {
            // An allow-list fails closed: an executable that could not be read is not on it.
            reasons.push_back("executable unknown, so not one of the expected (" +
                              listed(*expectation.exe, [](const std::string& s) { return escape_bytes(s); }) + ")");
        } else if (std::find(expectation.exe->begin(), expectation.exe->end(), *a.exe) == expectation.exe->end()) {
            reasons.push_back("executable " + escape_bytes(*a.exe) + " is not expected (expected: " +
                              listed(*expectation.exe, [](const std::string& s) { return escape_bytes(s); }) + ")");
        }
    }
    if (reasons.empty()) return {Kind::Expected, ""};
    std::string reason;
    for (const auto& r : reasons) reason += (reason.empty() ? "" : "; ") + r;
    return {Kind::Unexpected, reason};
}

}  // namespace vigil
