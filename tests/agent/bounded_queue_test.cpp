// The agent's queue between the kernel reader and the writer: bounded by count and by the
// bytes its items hold, never waiting on push, moving an item only when it was queued,
// keeping the order of places reserved for items completed later.
#include "agent/bounded_queue.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
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

TEST_CASE("a reserved place holds back what follows it until it is filled", "[unit]") {
    vigil::agent::BoundedQueue<std::string> q(10, &cost_of, 100);
    REQUIRE(q.try_push("before"));
    auto slot = q.reserve();
    REQUIRE(slot.reserved());
    REQUIRE(q.try_push("after"));
    std::vector<std::string> out;
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 1);  // stops at the open place
    CHECK(out == std::vector<std::string>{"before"});
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(20)) == 0);  // waited, still open
    // Filled from another thread while the consumer waits: it wakes and takes both, in order.
    std::thread filler([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        slot.fill(std::string(70, 'f'));  // past the byte bound: a reserved place never fails
    });
    out.clear();
    CHECK(q.pop_batch(out, 10, std::chrono::seconds(10)) == 2);
    filler.join();
    REQUIRE(out.size() == 2);
    CHECK(out[0] == std::string(70, 'f'));
    CHECK(out[1] == "after");
    CHECK_FALSE(slot.reserved());
    CHECK(q.stats().bytes == 0);
}

TEST_CASE("a place cancelled or dropped unfilled is skipped, never waited for", "[unit]") {
    vigil::agent::BoundedQueue<std::string> q(10);
    auto cancelled = q.reserve();
    {
        auto dropped = q.reserve();  // its owner goes away without filling it
        REQUIRE(dropped.reserved());
    }
    auto moved_from = q.reserve();
    auto owner = std::move(moved_from);  // the place follows the move; cancelled once
    REQUIRE(q.try_push("x"));
    cancelled.cancel();
    owner.cancel();
    owner.cancel();  // a second cancel is a no-op
    std::vector<std::string> out;
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 1);
    CHECK(out == std::vector<std::string>{"x"});
    q.close();
    CHECK(q.closed_and_empty());
}

TEST_CASE("no place is reserved in a full or closed queue", "[unit]") {
    vigil::agent::BoundedQueue<std::string> q(1);
    REQUIRE(q.try_push("a"));
    CHECK_FALSE(q.reserve().reserved());
    CHECK(q.stats().dropped == 1);
    std::vector<std::string> out;
    q.pop_batch(out, 10, std::chrono::milliseconds(0));
    auto open = q.reserve();
    REQUIRE(open.reserved());
    q.close();
    CHECK_FALSE(q.reserve().reserved());
    CHECK_FALSE(q.closed_and_empty());  // the open place still has to come
    open.fill("late");                  // and may still be filled after close
    out.clear();
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 1);
    CHECK(q.closed_and_empty());
}

TEST_CASE("a reserved place is filled within the byte bound, unless it is next in line", "[unit]") {
    vigil::agent::BoundedQueue<std::string> q(10, &cost_of, 100);
    auto first = q.reserve();
    auto second = q.reserve();
    REQUIRE(q.try_push(std::string(90, 'x')));
    // The next place in line is filled at once, past the bound: nothing else could make room.
    first.fill(std::string(50, 'a'));
    CHECK(q.stats().bytes == 140);
    // The second waits for room: the consumer takes the first (stopping at the second).
    std::thread filler([&] { second.fill(std::string(50, 'b')); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(q.stats().bytes == 140);  // still waiting: 90 + 50 + 50 > 100, and not next
    std::vector<std::string> out;
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 1);  // "a": now "b" is next
    filler.join();
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 2);
    REQUIRE(out.size() == 3);
    CHECK(out[1] == std::string(50, 'b'));
    CHECK(out[2] == std::string(90, 'x'));
}

TEST_CASE("one place streams several items, taken as they come, and holds back what follows it", "[unit]") {
    vigil::agent::BoundedQueue<std::string> q(10, &cost_of, 100);
    REQUIRE(q.try_push("before"));
    auto stream = q.reserve(true);
    REQUIRE(q.try_push("after"));
    stream.add("s1");
    stream.add("s2");
    std::vector<std::string> out;
    // The stream's items come as soon as their place is next; "after" waits for its end.
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 3);
    CHECK(out == std::vector<std::string>{"before", "s1", "s2"});
    // A batch limit may stop in the middle of a stream, and the rest follows in order.
    stream.add("s3");
    stream.add("s4");
    out.clear();
    CHECK(q.pop_batch(out, 1, std::chrono::milliseconds(0)) == 1);
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 1);
    CHECK(out == std::vector<std::string>{"s3", "s4"});
    // An item filled in after the stream comes last of the place.
    stream.add("s5");
    stream.fill("last");
    out.clear();
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 3);
    CHECK(out == std::vector<std::string>{"s5", "last", "after"});
    CHECK(q.stats().bytes == 0);
}

TEST_CASE("a streaming place keeps the byte bound, one item past it when it is next in line", "[unit]") {
    vigil::agent::BoundedQueue<std::string> q(10, &cost_of, 100);
    auto stream = q.reserve(true);
    REQUIRE(q.try_push(std::string(90, 'x')));  // behind the stream: cannot go before it ends
    // Next in line with nothing of its own queued: one item goes past the bound.
    stream.add(std::string(50, 'a'));
    CHECK(q.stats().bytes == 140);
    // The second waits until the consumer has taken the first.
    std::thread adder([&] {
        stream.add(std::string(50, 'b'));
        stream.cancel();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(q.stats().bytes == 140);
    std::vector<std::string> out;
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 1);
    adder.join();
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 2);
    REQUIRE(out.size() == 3);
    CHECK(out[1] == std::string(50, 'b'));
    CHECK(out[2] == std::string(90, 'x'));
    CHECK(q.stats().max_bytes <= 140);
}

TEST_CASE("a streaming place next in line queues within its slack past the byte bound, then waits", "[unit]") {
    vigil::agent::BoundedQueue<std::string> q(10, &cost_of, 100);
    q.set_next_in_line_slack(120);
    auto stream = q.reserve(true);
    REQUIRE(q.try_push(std::string(90, 'x')));  // behind the stream
    stream.add(std::string(50, 'a'));
    stream.add(std::string(50, 'b'));  // 100 of its own: within the slack, so one batch takes both
    CHECK(q.stats().bytes == 190);
    std::thread adder([&] {
        stream.add(std::string(50, 'c'));  // 150 > 120: waits for the consumer
        stream.cancel();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(q.stats().bytes == 190);
    std::vector<std::string> out;
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 2);
    adder.join();
    CHECK(q.pop_batch(out, 10, std::chrono::milliseconds(0)) == 2);
    REQUIRE(out.size() == 4);
    CHECK(out[2] == std::string(50, 'c'));
    CHECK(out[3] == std::string(90, 'x'));
}
