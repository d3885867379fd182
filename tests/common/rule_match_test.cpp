#include "common/rule_match.h"

#include <catch2/catch.hpp>

using namespace vigil;

TEST_CASE("the most specific rule owns a path, excludes and recursion apply", "[unit][rules]") {
    auto p = parse_policy(R"({"rules":[
        {"path":"/etc","exclude":["*.swp","/etc/cache"]},
        {"path":"/etc/ssh"},
        {"path":"/srv","recursive":false},
        {"path":"/"}]})",
                          "t");
    REQUIRE(p);
    const RuleMatcher m(p.value());
    CHECK(m.rule_for("/etc/passwd") == 0u);
    CHECK(m.rule_for("/etc") == 0u);
    CHECK(m.rule_for("/etc/ssh/sshd_config") == 1u);
    CHECK(m.rule_for("/etc/sshd") == 0u);  // whole components: /etc/ssh does not own /etc/sshd
    CHECK_FALSE(m.rule_for("/etc/x.swp"));
    CHECK_FALSE(m.rule_for("/etc/cache/deep/file"));
    CHECK(m.rule_for("/etc/cachefoo") == 0u);
    CHECK(m.rule_for("/srv/a") == 2u);
    CHECK_FALSE(m.rule_for("/srv/a/b"));
    CHECK(m.rule_for("/usr/bin/ls") == 3u);
    CHECK(path_is_under("/a/b", "/a"));
    CHECK_FALSE(path_is_under("/ab", "/a"));
    CHECK(path_is_under("/x", "/"));
}
