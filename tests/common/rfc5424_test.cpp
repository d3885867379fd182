// The RFC 5424 formatter of the agent's syslog output, against hostile values: whatever
// bytes a file name holds, a receiver parses one message with the same fields as the
// jsonl, nothing unprintable, and the size bound is kept without splitting an escape.
#include "common/rfc5424.h"

#include <catch2/catch.hpp>

#include <string>

#include "common/escape.h"
#include "tests/support/rfc5424_parse.h"

namespace {

using vigil::test::parse_rfc5424;

vigil::StoredEvent sample(const std::string& path) {
    vigil::StoredEvent s;
    s.id = 42;
    s.action = "modify";
    s.source = "fanotify";
    s.gid = 100;
    s.event.time_ns = 1'700'000'000'123'456'789;
    s.event.path = path;
    s.event.actor.uid = 1000;
    s.event.actor.euid = 1000;
    s.event.actor.user = std::string("alice");
    s.event.actor.pid = 4321;
    s.event.actor.exe = std::string("/usr/bin/vim");
    s.event.actor.cmdline = std::string("vim ") + path;
    s.event.label = std::string("customers");
    s.event.severity = std::string("critical");
    s.event.sha256_after = std::string(32, '\x11');
    s.event.detail = std::string(R"({"content_changed":true})");
    return s;
}

// No control bytes, no invalid UTF-8, nothing deceptive: escape_bytes() would change it.
bool clean(std::string s) {
    if (const auto bom = s.find("\xEF\xBB\xBF"); bom != std::string::npos) s.erase(bom, 3);  // the MSG's
    for (const char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    std::string without_slashes;
    for (const char c : s)
        if (c != '\\') without_slashes += c;
    return vigil::escape_bytes(without_slashes) == without_slashes;
}

vigil::SyslogIdentity who() {
    vigil::SyslogIdentity w;
    w.facility = 19;  // local3
    w.hostname = "web 01\n";
    w.procid = 777;
    return w;
}

}  // namespace

TEST_CASE("rfc5424: header, PRI from facility and the event's severity, SD params", "[unit][syslog]") {
    const auto s = sample("/srv/customers/orders.csv");
    const std::string d = vigil::format_rfc5424(vigil::view_of(s), who(), 8192);
    const auto m = parse_rfc5424(d);
    INFO(d);
    REQUIRE(m);
    CHECK(m->pri == 19 * 8 + 2);                           // critical -> crit
    CHECK(m->timestamp == "2023-11-14T22:13:20.123456Z");  // six fraction digits at most
    CHECK(m->hostname == "web_01_");                       // printable ASCII only
    CHECK(m->app_name == "vigild");
    CHECK(m->procid == "777");
    CHECK(m->msgid == "modify");
    CHECK(m->sd_id == "vigil@32473");
    CHECK(m->params.at("id") == "42");
    CHECK(m->params.at("time") == "2023-11-14T22:13:20.123456789Z");
    CHECK(m->params.at("action") == "modify");
    CHECK(m->params.at("path") == "/srv/customers/orders.csv");
    CHECK(m->params.at("uid") == "1000");
    CHECK(m->params.at("user") == "alice");
    CHECK(m->params.at("gid") == "100");
    CHECK(m->params.at("pid") == "4321");
    CHECK(m->params.at("label") == "customers");
    CHECK(m->params.at("severity") == "critical");
    CHECK(m->params.at("sha256_after") == std::string(64, '1'));  // 32 bytes of 0x11
    CHECK(m->params.at("unexpected") == "false");
    CHECK(m->params.at("source") == "fanotify");
    CHECK(m->params.at("detail") == R"({"content_changed":true})");
    CHECK(m->params.count("old_path") == 0);  // unknown values are left out, never invented
    CHECK(m->params.count("truncated") == 0);
    CHECK(m->msg == "modify /srv/customers/orders.csv by alice (uid 1000) via /usr/bin/vim");
    CHECK_FALSE(m->had_bom);
}

TEST_CASE("rfc5424: hostile paths stay one parseable, printable message", "[unit][syslog]") {
    // A newline (a forged second message), ']' and '"' (a forged SD end or param), a
    // backslash, invalid UTF-8, a C1 control and a bidi override.
    const std::string path =
        std::string("/srv/x\n<13>1 forged]\"] [evil k=\"v\"] \\ \xff\xfe \xc2\x9b \xe2\x80\xae.txt");
    auto s = sample(path);
    s.event.old_path = std::string("/srv/old]\"\\");
    s.action = "rename";
    const std::string d = vigil::format_rfc5424(vigil::view_of(s), who(), 8192);
    INFO(d);
    CHECK(d.find('\n') == std::string::npos);
    CHECK(clean(d));
    const auto m = parse_rfc5424(d);
    REQUIRE(m);
    CHECK(m->sd_id == "vigil@32473");
    // After the RFC 5424 unescaping, the same text as the jsonl shows (escape_bytes).
    CHECK(m->params.at("path") == vigil::escape_bytes(path));
    CHECK(m->params.at("old_path") == vigil::escape_bytes(*s.event.old_path));
    CHECK(m->params.at("cmdline") == vigil::escape_bytes("vim " + path));
    CHECK(m->params.count("evil") == 0);
    CHECK(m->params.at("path").find("\\x0a") != std::string::npos);
    CHECK(m->params.at("path").find("\\xff\\xfe") != std::string::npos);
    CHECK(m->params.at("path").find("\\u202e") != std::string::npos);
    CHECK(m->msg.find("\\x0a") != std::string::npos);
}

TEST_CASE("rfc5424: non-ASCII text gets a BOM, ASCII none", "[unit][syslog]") {
    const auto m = parse_rfc5424(vigil::format_rfc5424(vigil::view_of(sample("/srv/Größe.txt")), who(), 8192));
    REQUIRE(m);
    CHECK(m->had_bom);
    CHECK(m->params.at("path") == "/srv/Größe.txt");
    CHECK(m->msg.find("/srv/Größe.txt") != std::string::npos);
}

TEST_CASE("rfc5424: the size bound cuts MSG first, then long values on whole escapes", "[unit][syslog]") {
    SECTION("MSG only") {
        auto s = sample("/srv/" + std::string(3000, 'a'));
        s.event.actor.cmdline.reset();
        const std::string d = vigil::format_rfc5424(vigil::view_of(s), who(), 4096);
        CHECK(d.size() <= 4096);
        const auto m = parse_rfc5424(d);
        REQUIRE(m);
        CHECK(m->params.at("path") == *s.event.path);  // the SD is whole
        CHECK(m->params.count("truncated") == 0);
        CHECK(m->msg.size() < 3000);
        CHECK_THAT(m->msg, Catch::StartsWith("modify /srv/aaa"));
    }
    SECTION("values cut, named in truncated") {
        // Every byte a 4-byte escape (and a backslash the RFC escapes again): the worst case.
        auto s = sample("/srv/" + std::string(5000, '\n'));
        s.event.actor.cmdline = std::string(20000, '"');
        s.event.actor.exe = std::string(4000, ']');
        for (const std::size_t max : {std::size_t{4096}, std::size_t{8192}, std::size_t{65507}}) {
            const std::string d = vigil::format_rfc5424(vigil::view_of(s), who(), max);
            INFO(max);
            CHECK(d.size() <= max);
            CHECK(clean(d));
            const auto m = parse_rfc5424(d);
            REQUIRE(m);
            CHECK_THAT(m->params.at("truncated"), Catch::Contains("path") && Catch::Contains("cmdline"));
            const std::string full = vigil::escape_bytes(*s.event.path);
            const std::string& cut = m->params.at("path");
            CHECK(cut.size() < full.size());
            CHECK(full.compare(0, cut.size(), cut) == 0);  // a prefix of the full text
            CHECK((cut.size() - 5) % 4 == 0);              // "/srv/" then whole "\x0a" escapes only
            CHECK(m->params.at("id") == "42");             // short fields are never cut
            CHECK(m->params.at("sha256_after").size() == 64);
        }
    }
}

TEST_CASE("rfc5424: severity of events without a rule's severity", "[unit][syslog]") {
    vigil::StoredEvent s;
    s.id = 1;
    s.source = "scan";
    s.action = "overflow";
    auto m = parse_rfc5424(vigil::format_rfc5424(vigil::view_of(s), who(), 8192));
    REQUIRE(m);
    CHECK(m->pri == 19 * 8 + 4);  // warning
    s.action = "agent_start";
    m = parse_rfc5424(vigil::format_rfc5424(vigil::view_of(s), who(), 8192));
    REQUIRE(m);
    CHECK(m->pri == 19 * 8 + 6);  // info
    CHECK(m->params.count("path") == 0);
    s.event.severity = std::string("low");
    CHECK(vigil::effective_severity(vigil::view_of(s)) == vigil::Severity::Low);
}

TEST_CASE("rfc5424: cut_escaped never splits an escape sequence or a character", "[unit][syslog]") {
    const std::string e = vigil::escape_bytes(
        "a\n\\é\xe2\x80\xae"
        "b");  // a \x0a \\ é \u202e b
    REQUIRE(e == "a\\x0a\\\\é\\u202eb");
    // RFC-escaped costs: a 1, \x0a 5, \\ 4, é 2, \u202e 7, b 1.
    CHECK(vigil::cut_escaped(e, 0).empty());
    CHECK(vigil::cut_escaped(e, 5) == "a");
    CHECK(vigil::cut_escaped(e, 6) == "a\\x0a");
    CHECK(vigil::cut_escaped(e, 9) == "a\\x0a");
    CHECK(vigil::cut_escaped(e, 10) == "a\\x0a\\\\");
    CHECK(vigil::cut_escaped(e, 11) == "a\\x0a\\\\");
    CHECK(vigil::cut_escaped(e, 12) == "a\\x0a\\\\é");
    CHECK(vigil::cut_escaped(e, 19) == "a\\x0a\\\\é\\u202e");
    CHECK(vigil::cut_escaped(e, 100) == e);
}
