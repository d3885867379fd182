// One process rewriting one file thousands of times: a bounded number of rows, the rest
// counted in them, and the last row holding the content after the last write.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "tests/agent/agent_fixture.h"
#include "tests/support/temp_dir.h"

using vigil::test::Agent;

TEST_CASE("a file rewritten thousands of times yields a bounded number of rows with counts", "[kernel][agent]") {
    Agent agent("fanotify", "", false);
    std::string text = vigil::test::read_file(agent.policy);
    text.insert(1, R"("limits":{"path_events_per_second":20},)");
    vigil::test::write_file(agent.policy, text);
    agent.start();

    const std::string hot = agent.root + "/hot.log";
    constexpr int kWrites = 3000;
    std::string last;
    for (int i = 0; i < kWrites; ++i) {
        last = "version " + std::to_string(i) + "\n";
        const int fd = ::open(hot.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, last.data(), last.size()) == static_cast<ssize_t>(last.size()));
        ::close(fd);
    }
    const auto rows = agent.stop();
    const auto modifies = vigil::test::find(rows, "modify", hot);
    std::uint64_t folded = 0;
    for (const auto& r : modifies) {
        const auto detail = nlohmann::json::parse(r.at("detail").value_or("{}"), nullptr, false);
        if (detail.is_object() && detail.contains("coalesced")) folded += detail["coalesced"].get<std::uint64_t>();
    }
    INFO(modifies.size() << " modify rows, " << folded << " folded into them");
    CHECK(modifies.size() < 300);  // 20 a second and one folded row per second, not 3,000
    CHECK(folded > 0);
    CHECK(modifies.size() + folded > 1000);  // counted, not dropped (the kernel merges some while queued)
    const auto digest = vigil::sha256_bytes(last).value();
    CHECK(modifies.back().at("sha256_after") == std::string(vigil::digest_bytes(digest)));
}
