// The agent's queue between the kernel reader and the writer: bounded by count and by the
// bytes its items hold, never waiting on push, moving an item only when it was queued.
#include "agent/bounded_queue.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {
std::size_t cost_of(const std::string& s) { return s.size(); }
}  // namespace

TEST_CASE("the event queue is bounded by the bytes its items hold", "[unit]") {
    vigil::agent::BoundedQueue<std::string> q(1000, &cost_of, 100);
    std::string big(60, 'x');
    REQUIRE(q.try_push(std::string(60, 'a')));
    CHECK_FALSE(q.try_push(std::move(big)));  // 120 > 100: refused
    CHECK(big.size() == 60);                  // and left whole in the caller's hands
    REQUIRE(q.try_push(std::string(40, 'b')));
    auto stats = q.stats();
    CHECK(stats.bytes == 100);
    CHECK(stats.dropped == 1);
    std::vector<std::string> out;
    CHECK(q.pop_batch(out, 1, std::chrono::milliseconds(0)) == 1);
    CHECK(q.stats().bytes == 40);  // popping frees its share
    CHECK(q.try_push(std::move(big)));
    CHECK(q.stats().max_bytes == 100);
}

TEST_CASE("the event queue is bounded by count as well", "[unit]") {
    vigil::agent::BoundedQueue<std::string> q(2);
    REQUIRE(q.try_push("a"));
    REQUIRE(q.try_push("b"));
    CHECK_FALSE(q.try_push("c"));
    q.close();
    std::vector<std::string> out;
    q.pop_batch(out, 10, std::chrono::milliseconds(0));
    CHECK(out.size() == 2);
    CHECK(q.closed_and_empty());
}
