// Files over the policy's limits.inline_hash_mb are hashed by a background thread at idle
// priority: the write's row is recorded at once (hash_pending) and the hash follows in a
// row of its own; a 1 TB sparse file never holds up the rows of other writes, and a stop
// cancels its hash instead of waiting for it.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sha256.h"
#include "tests/agent/agent_fixture.h"
#include "tests/support/temp_dir.h"

using vigil::test::Agent;
using vigil::test::Row;

namespace {

void limit_inline_hash_to_1mb(const Agent& agent) { agent.add_policy_setting(R"("limits":{"inline_hash_mb":1})"); }

bool detail_has(const Row& r, const std::string& what) {
    return r.at("detail") && r.at("detail")->find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("a file over the inline hash limit is recorded at once and its hash follows", "[kernel][agent]") {
    Agent agent("fanotify", "", false);
    limit_inline_hash_to_1mb(agent);
    agent.start();
    std::string content;
    for (int i = 0; content.size() < 3U << 20U; ++i) content += "line " + std::to_string(i) + " of a large file\n";
    const std::string big = agent.root + "/big.log";
    const std::string small = agent.root + "/small.conf";
    vigil::test::write_file(big, content);
    vigil::test::write_file(small, "small\n");
    REQUIRE(agent.wait_until([&](const Row& r) { return r.at("path") == big && detail_has(r, "background_hash"); }));
    REQUIRE(agent.wait_for("modify", small));
    auto rows = agent.stop();
    const auto digest = vigil::sha256_bytes(content);
    REQUIRE(digest);
    int pending = 0;
    int followed = 0;
    for (const auto& r : rows) {
        if (r.at("path") == small && r.at("action") == "modify") CHECK(r.at("sha256_after").has_value());
        if (r.at("path") != big || r.at("action") != "modify") continue;
        INFO(r.at("detail").value_or(""));
        if (detail_has(r, "hash_pending")) {
            ++pending;
            CHECK_FALSE(r.at("sha256_after").has_value());
            CHECK(detail_has(r, std::to_string(content.size())));
            CHECK(r.at("uid") == "0");  // the write's row keeps its actor
        } else if (detail_has(r, "background_hash")) {
            ++followed;
            REQUIRE(r.at("sha256_after").has_value());
            CHECK(*r.at("sha256_after") == vigil::digest_bytes(digest.value()));
            CHECK(detail_has(r, "write_observed"));
        }
    }
    CHECK(pending >= 1);
    CHECK(followed >= 1);
}

TEST_CASE("a 1 TB sparse file never holds up other writes, and a stop cancels its hash", "[kernel][agent]") {
    Agent agent("fanotify", "", false);
    limit_inline_hash_to_1mb(agent);
    agent.start();
    const std::string huge = agent.root + "/huge.img";
    {
        const int fd = ::open(huge.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        REQUIRE(::ftruncate(fd, off_t{1} << 40) == 0);  // 1 TiB, no blocks
        REQUIRE(::pwrite(fd, "x", 1, 0) == 1);
        REQUIRE(::close(fd) == 0);
    }
    REQUIRE(agent.wait_until([&](const Row& r) { return r.at("path") == huge && detail_has(r, "hash_pending"); }));
    // Hashing 1 TiB of zeros takes minutes at best; every other write is hashed meanwhile.
    for (int i = 0; i < 20; ++i) vigil::test::write_file(agent.root + "/f" + std::to_string(i), std::to_string(i));
    for (int i = 0; i < 20; ++i) {
        const std::string f = agent.root + "/f" + std::to_string(i);
        REQUIRE(agent.wait_until(
            [&](const Row& r) { return r.at("path") == f && r.at("action") == "modify" && r.at("sha256_after"); }));
    }
    auto rows = agent.stop();
    CHECK_THAT(agent.proc->output(), Catch::Contains("abandoned at stop"));
    for (const auto& r : rows)
        if (r.at("path") == huge) CHECK_FALSE(detail_has(r, "background_hash"));
    CHECK(::unlink(huge.c_str()) == 0);
}

TEST_CASE("a large file renamed before its background hash is done is not put back under its old name",
          "[kernel][agent]") {
    // The background hasher waits 500 ms before each hash: the rename below comes first.
    REQUIRE(::setenv("VIGIL_TEST_ONLY_BACKGROUND_HASH_STALL_MS", "500", 1) == 0);
    struct Unset {
        ~Unset() { ::unsetenv("VIGIL_TEST_ONLY_BACKGROUND_HASH_STALL_MS"); }
    } const unset;
    Agent agent("fanotify", "", false);
    limit_inline_hash_to_1mb(agent);
    agent.start();
    const std::string content(3U << 20U, 'b');
    const std::string big = agent.root + "/big.dat";
    const std::string moved = agent.root + "/moved.dat";
    vigil::test::write_file(big, content);
    REQUIRE(agent.wait_until([&](const Row& r) { return r.at("path") == big && detail_has(r, "hash_pending"); }));
    REQUIRE(::rename(big.c_str(), moved.c_str()) == 0);
    const auto digest = vigil::sha256_bytes(content);
    REQUIRE(digest);
    const std::string expected(vigil::digest_bytes(digest.value()));
    // Its content is recorded under the name it has now (by the rescan that follows).
    REQUIRE(agent.wait_until([&](const Row& r) { return r.at("path") == moved && r.at("sha256_after") == expected; }));
    vigil::test::wait_caught_up(agent);
    const auto rows = agent.stop();
    bool renamed = false;
    for (const auto& r : rows) {
        if (r.at("action") == "rename" && r.at("path") == moved) renamed = true;
        INFO(r.at("action").value_or("") << " " << r.at("detail").value_or(""));
        if (renamed) CHECK(r.at("path") != big);  // nothing names the old name after the rename
    }
    CHECK(renamed);
}
