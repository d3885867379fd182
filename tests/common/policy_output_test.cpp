// The policy's "output" object: off by default, every key checked, errors that say what
// is wrong and where.
#include "common/policy_output.h"

#include <catch2/catch.hpp>

#include <string>

using namespace vigil;

namespace {

Result<Policy> with_output(const std::string& output) {
    return parse_policy(R"({"output":)" + output + R"(,"rules":[{"path":"/etc"}]})", "/etc/vigil/test.json");
}

std::string error_of(const std::string& output) {
    auto p = with_output(output);
    REQUIRE_FALSE(p);
    return p.error().message();
}

}  // namespace

TEST_CASE("output: off unless configured; every key parsed", "[unit][policy]") {
    auto none = parse_policy(R"({"rules":[{"path":"/etc"}]})", "t.json");
    REQUIRE(none);
    CHECK_FALSE(none->output.jsonl);
    CHECK_FALSE(none->output.syslog);

    auto p = with_output(R"({"jsonl": {"path": "/var/log/vigil/events.jsonl", "max_size_mb": 100, "keep": 10},
                             "syslog": {"facility": "local3", "socket": "/run/x/log", "min_severity": "high",
                                        "max_bytes": 16384, "max_backlog": 0}})");
    REQUIRE(p);
    REQUIRE(p->output.jsonl);
    CHECK(p->output.jsonl->path == "/var/log/vigil/events.jsonl");
    CHECK(p->output.jsonl->max_size_bytes == 100U << 20U);
    CHECK(p->output.jsonl->keep == 10);
    REQUIRE(p->output.syslog);
    CHECK(p->output.syslog->facility == 19);
    CHECK(p->output.syslog->socket == "/run/x/log");
    CHECK(p->output.syslog->min_severity == Severity::High);
    CHECK(p->output.syslog->max_bytes == 16384);
    CHECK(p->output.syslog->max_backlog == 0);

    auto defaults = with_output(R"({"jsonl": {"path": "/var/log/e.jsonl"}, "syslog": {}})");
    REQUIRE(defaults);
    CHECK(defaults->output.jsonl->max_size_bytes == 100U << 20U);
    CHECK(defaults->output.jsonl->keep == 10);
    CHECK(defaults->output.syslog->facility == 16);  // local0
    CHECK(defaults->output.syslog->socket == "/dev/log");
    CHECK(defaults->output.syslog->min_severity == Severity::Info);
    CHECK(defaults->output.syslog->max_bytes == 8192);
    CHECK(defaults->output.syslog->max_backlog == 10000);

    auto small = with_output(R"({"jsonl": {"path": "/var/log/e.jsonl", "max_size_mb": 0.0625}})");
    REQUIRE(small);
    CHECK(small->output.jsonl->max_size_bytes == 65536);
    auto unrotated = with_output(R"({"jsonl": {"path": "/var/log/e.jsonl", "max_size_mb": 0}})");
    REQUIRE(unrotated);
    CHECK(unrotated->output.jsonl->max_size_bytes == 0);
}

TEST_CASE("output: bad values are refused with the key and the reason", "[unit][policy]") {
    CHECK_THAT(error_of(R"({"jsonl": {"path": "/x"}, "kafka": {}})"),
               Catch::Contains("/etc/vigil/test.json") && Catch::Contains("\"output\": unknown key \"kafka\""));
    CHECK_THAT(error_of(R"([])"), Catch::Contains("\"output\" must be an object"));
    CHECK_THAT(error_of(R"({"jsonl": {}})"), Catch::Contains("\"jsonl\": \"path\" (a string) is required"));
    CHECK_THAT(error_of(R"({"jsonl": {"path": "logs/e.jsonl"}})"), Catch::Contains("is relative"));
    CHECK_THAT(error_of(R"({"jsonl": {"path": "/var/log/../e.jsonl"}})"), Catch::Contains("'..'"));
    CHECK_THAT(error_of(R"({"jsonl": {"path": "/var/log/"}})"), Catch::Contains("must name a file"));
    CHECK_THAT(error_of(R"({"jsonl": {"path": "/x", "max_size_mb": 0.01}})"),
               Catch::Contains("\"max_size_mb\" must be 0 (no rotation) or a number from 0.0625"));
    CHECK_THAT(error_of(R"({"jsonl": {"path": "/x", "max_size_mb": "100"}})"), Catch::Contains("\"max_size_mb\""));
    CHECK_THAT(error_of(R"({"jsonl": {"path": "/x", "keep": 0}})"),
               Catch::Contains("\"keep\" must be a whole number from 1 to 1000"));
    CHECK_THAT(error_of(R"({"jsonl": {"path": "/x", "max_size": 5}})"),
               Catch::Contains("unknown key \"max_size\" (known: path, max_size_mb, keep)"));
    CHECK_THAT(error_of(R"({"syslog": {"facility": "local9"}})"),
               Catch::Contains("\"facility\" must be one of") && Catch::Contains("not \"local9\""));
    CHECK_THAT(error_of(R"({"syslog": {"facility": 16}})"), Catch::Contains("\"facility\" must be one of"));
    CHECK_THAT(error_of(R"({"syslog": {"socket": "/run/)" + std::string(120, 'x') + R"("}})"),
               Catch::Contains("longer than a Unix socket path"));
    CHECK_THAT(error_of(R"({"syslog": {"min_severity": "urgent"}})"),
               Catch::Contains("\"min_severity\" must be info, low, medium, high or critical"));
    CHECK_THAT(error_of(R"({"syslog": {"max_bytes": 100}})"),
               Catch::Contains("\"max_bytes\" must be a whole number from 4096 to 65507"));
    CHECK_THAT(error_of(R"({"syslog": {"max_backlog": -1}})"),
               Catch::Contains("\"max_backlog\" must be a whole number from 0 to 1000000"));
    CHECK_THAT(error_of(R"({"syslog": true})"), Catch::Contains("\"syslog\" must be an object"));
}

TEST_CASE("output: the JSON-lines file may not lie in a watched tree", "[unit][policy]") {
    auto policy = [](const std::string& rule) {
        return parse_policy(R"({"output":{"jsonl":{"path":"/var/log/vigil/events.jsonl"}},"rules":[)" + rule + "]}",
                            "/etc/vigil/test.json");
    };
    auto watched = policy(R"({"path":"/etc"},{"path":"/var/log"})");
    REQUIRE_FALSE(watched);
    CHECK_THAT(watched.error().message(),
               Catch::Contains("lies in the tree of rule 2 (\"/var/log\")") && Catch::Contains("own writes"));
    CHECK(policy(R"({"path":"/var/log","exclude":["/var/log/vigil"]})"));
    CHECK(policy(R"({"path":"/var/log","watch":"none"})"));
    CHECK(policy(R"({"path":"/var/log","recursive":false})"));
    CHECK_FALSE(policy(R"({"path":"/var/log/vigil/events.jsonl"})"));
}
