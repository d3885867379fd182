#include "common/policy.h"

#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tests/support/temp_dir.h"

using namespace vigil;

namespace {

std::string error_of(std::string_view text) {
    auto p = parse_policy(text, "/etc/vigil/test.json");
    REQUIRE_FALSE(p);
    return p.error().message();
}

}  // namespace

TEST_CASE("a full rule parses with comments and every field", "[unit][policy]") {
    auto p = parse_policy(R"(
        // comment
        { "rules": [
            /* block comment */
            { "path": "/srv/customers", "recursive": true,
              "exclude": ["*.tmp", "/srv/customers/cache"],
              "check": ["sha256", "mode", "uid", "gid", "size", "mtime", "ctime", "inode", "nlink", "xattrs", "acl", "caps"],
              "watch": "access", "label": "customer-data", "severity": "critical", "one_filesystem": false }
        ] })",
                          "t.json");
    REQUIRE(p);
    REQUIRE(p->rules.size() == 1);
    const Rule& r = p->rules[0];
    CHECK(r.path == "/srv/customers");
    CHECK(r.watch == WatchMode::Access);
    CHECK(r.severity == Severity::Critical);
    CHECK(r.label == "customer-data");
    CHECK_FALSE(r.one_filesystem);
    CHECK((r.check & kAttrSha256) != 0);
    CHECK((r.check & kAttrTarget) == 0);
    CHECK(r.excludes("/srv/customers/a.tmp", "a.tmp"));
    CHECK(r.excludes("/srv/customers/cache", "cache"));
    CHECK_FALSE(r.excludes("/srv/customers/cache2", "cache2"));
    CHECK_FALSE(r.excludes("/srv/customers/x/cache", "cache"));  // absolute globs match the full path only
    CHECK(p->sha256_hex.size() == 64);
}

TEST_CASE("defaults when only path is given", "[unit][policy]") {
    auto p = parse_policy(R"({"rules":[{"path":"/etc"}]})", "t.json");
    REQUIRE(p);
    CHECK(p->rules[0].recursive);
    CHECK(p->rules[0].one_filesystem);
    CHECK(p->rules[0].watch == WatchMode::Modify);
    CHECK(p->rules[0].check == kAttrAll);
}

TEST_CASE("validation errors name the file, the rule and the problem", "[unit][policy]") {
    auto e = error_of(R"({"rules":[{"path":"/etc","recrusive":true}]})");
    CHECK_THAT(e, Catch::Contains("/etc/vigil/test.json") && Catch::Contains("rule 1") && Catch::Contains("\"/etc\"") &&
                      Catch::Contains("unknown key \"recrusive\""));

    CHECK_THAT(error_of(R"({"rules":[{"path":"/a"},{"path":"etc"}]})"),
               Catch::Contains("rule 2") && Catch::Contains("relative"));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a","exclude":["[abc"]}]})"),
               Catch::Contains("bad glob") && Catch::Contains("unclosed"));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a"},{"path":"/b"},{"path":"/a"}]})"),
               Catch::Contains("rule 3") && Catch::Contains("duplicate") && Catch::Contains("rule 1"));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a","check":["sha256","md5"]}]})"),
               Catch::Contains("unknown attribute \"md5\""));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a","watch":"everything"}]})"), Catch::Contains("\"watch\""));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a","severity":"urgent"}]})"), Catch::Contains("\"severity\""));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a/../etc"}]})"), Catch::Contains(".."));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a/"}]})"), Catch::Contains("trailing slash"));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a","exclude":["/b/x"]}]})"), Catch::Contains("not under"));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a","exclude":["sub/x"]}]})"), Catch::Contains("not absolute"));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a","recursive":"yes"}]})"), Catch::Contains("true or false"));
    CHECK_THAT(error_of(R"({"rules":[{"path":"/a","label":"a b"}]})"), Catch::Contains("\"label\""));
    CHECK_THAT(error_of(R"({"rules":[]})"), Catch::Contains("empty"));
    CHECK_THAT(error_of(R"({"rulez":[]})"), Catch::Contains("unknown top-level key \"rulez\""));
    CHECK_THAT(error_of(R"([1,2])"), Catch::Contains("top level must be an object"));
}

TEST_CASE("syntax errors give line and column", "[unit][policy]") {
    CHECK_THAT(error_of("{\n  \"rules\": [\n    { \"path\": \"/a\" \n  ]\n}"), Catch::Contains("line 4"));
}

TEST_CASE("hostile policies are refused without crashing", "[unit][policy]") {
    const std::string deep = std::string(10000, '[') + std::string(10000, ']');
    CHECK_THAT(error_of(deep), Catch::Contains("nesting"));
    const std::string huge = "{\"rules\":[{\"path\":\"/" + std::string(5'000'000, 'a') + "\"}]}";
    CHECK_THAT(error_of(huge), Catch::Contains("4 MiB"));
    const std::string long_path = "{\"rules\":[{\"path\":\"/" + std::string(5000, 'a') + "\"}]}";
    CHECK_THAT(error_of(long_path), Catch::Contains("4095"));
    CHECK_THAT(error_of(std::string_view("{\"rules\":[{\"path\":\"/a\\u0000b\"}]}")), Catch::Contains("NUL"));
    // Control bytes in a key are escaped in the message, never printed raw: a raw one is a
    // syntax error, a JSON-escaped one reaches the unknown-key message.
    const auto raw = error_of("{\"rules\":[{\"path\":\"/a\",\"\x1b[2J\":1}]}");
    CHECK(raw.find('\x1b') == std::string::npos);
    const auto escaped = error_of(R"({"rules":[{"path":"/a","\u001b[2J":1}]})");
    CHECK(escaped.find('\x1b') == std::string::npos);
    CHECK_THAT(escaped, Catch::Contains("unknown key \"\\x1b[2J\""));
}

TEST_CASE("glob validation", "[unit][policy]") {
    CHECK_FALSE(glob_problem("*.tmp"));
    CHECK_FALSE(glob_problem("[abc]*"));
    CHECK_FALSE(glob_problem("[]a]"));
    CHECK_FALSE(glob_problem("\\[literal"));
    CHECK(glob_problem("[abc"));
    CHECK(glob_problem("trailing\\"));
    CHECK(glob_problem(""));
}

TEST_CASE("the embedded default policy is valid and covers the essentials", "[unit][policy]") {
    auto p = parse_policy(embedded_default_policy_text(), kEmbeddedPolicyName);
    REQUIRE(p);
    auto has = [&](std::string_view path) {
        for (const auto& r : p->rules)
            if (r.path == path) return true;
        return false;
    };
    for (const auto* path : {"/usr/bin", "/usr/sbin", "/usr/lib", "/etc", "/boot", "/etc/shadow", "/etc/sudoers",
                             "/etc/pam.d", "/etc/ssh", "/root/.ssh", "/home/*/.ssh", "/etc/cron.d"})
        CHECK(has(path));
}

TEST_CASE("policy files must be trustworthy", "[kernel][policy]") {
    test::TempDir dir;
    const std::string path = dir / "p.json";
    test::write_file(path, R"({"rules":[{"path":"/etc"}]})");
    ::chmod(path.c_str(), 0644);
    CHECK(load_policy_file(path));
    ::chmod(path.c_str(), 0666);
    auto writable = load_policy_file(path);
    REQUIRE_FALSE(writable);
    CHECK_THAT(writable.error().message(), Catch::Contains("writable by group or others"));
    ::chmod(path.c_str(), 0644);
    const std::string link = dir / "link.json";
    REQUIRE(::symlink(path.c_str(), link.c_str()) == 0);
    auto linked = load_policy_file(link);
    REQUIRE_FALSE(linked);
    CHECK_THAT(linked.error().message(), Catch::Contains("symlink"));
    auto missing = load_policy_file(dir / "nope.json");
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message(), Catch::Contains("nope.json") && Catch::Contains("No such file"));
}

TEST_CASE("top-level sealing and limits settings, with their bounds", "[unit][policy]") {
    auto p = parse_policy(
        R"({"sealing":{"epoch_seconds":60},"limits":{"kernel_queue_events":65536},"rules":[{"path":"/etc"}]})",
        "t.json");
    REQUIRE(p);
    CHECK(p->seal_epoch_seconds == 60);
    CHECK(p->kernel_queue_events == 65536);
    auto d = parse_policy(R"({"rules":[{"path":"/etc"}]})", "t.json");
    REQUIRE(d);
    CHECK(d->seal_epoch_seconds == 900);
    CHECK(d->kernel_queue_events == 262144);
    CHECK_THAT(error_of(R"({"sealing":{"epoch_seconds":0},"rules":[{"path":"/etc"}]})"),
               Catch::Contains("\"epoch_seconds\" must be a whole number of seconds from 1 to 86400"));
    CHECK_THAT(error_of(R"({"sealing":{"epoch":5},"rules":[{"path":"/etc"}]})"), Catch::Contains("unknown key"));
    CHECK_THAT(error_of(R"({"limits":{"kernel_queue_events":10},"rules":[{"path":"/etc"}]})"),
               Catch::Contains("from 1024 to 4194304"));
    CHECK_THAT(error_of(R"({"limits":[],"rules":[{"path":"/etc"}]})"), Catch::Contains("\"limits\" must be an object"));
    CHECK(parse_policy(R"({"limits":{"queue_memory_mb":64},"rules":[{"path":"/etc"}]})", "t.json")->queue_memory_mb ==
          64);
    CHECK_THAT(error_of(R"({"limits":{"queue_memory_mb":1},"rules":[{"path":"/etc"}]})"),
               Catch::Contains("\"queue_memory_mb\" must be a whole number from 16 to 65536"));
}
