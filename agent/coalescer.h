// Per-path rate bound: a process rewriting (or reading) one file 100,000 times must not
// write 100,000 rows, and must not lose them silently either. Per (action, path, pid), at
// most `per_second` events a second become rows at once; the rest of that second are
// folded into one row, recorded when the second ends: the last of them, with
// {"coalesced": N, "first_coalesced": time} in its detail (for a write, hashed then, so
// its sha256_after is the content after the last write).
//
// Counting is a fixed table of 65,536 slots indexed by a hash of the key (no allocation
// per event, bounded memory); two keys sharing a slot only restart each other's count, so
// each passes at most `per_second` rows per second of its own. Only folded rows are kept,
// one per key. Thread: the agent's main thread.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/raw_event.h"
#include "common/event.h"

namespace vigil::agent {

class Coalescer {
public:
    explicit Coalescer(std::uint32_t per_second) : per_second_(per_second), slots_(kSlots) {}
    void set_limit(std::uint32_t per_second) { per_second_ = per_second; }

    // Whether this event may repeat often enough to be folded (changes of the tree never are).
    static bool foldable(Action a) {
        return a == Action::Modify || a == Action::Open || a == Action::Read || a == Action::Attrib;
    }

    struct Folded {
        Event event;
        RawEvent raw;
        std::uint64_t count = 0;
        std::int64_t first_ns = 0;
    };

    // True: record the event now. False: it was folded (moved from) into its key's row.
    bool admit(Event& event, RawEvent& raw);
    // The folded rows whose second has ended by `now_ns` (all of them with INT64_MAX).
    std::vector<Folded> due(std::int64_t now_ns);
    std::uint64_t folded_total() const { return folded_total_; }

private:
    static constexpr std::size_t kSlots = 65'536;
    struct Slot {
        std::uint64_t hash = 0;
        std::int64_t window_start_ns = 0;
        std::uint32_t passed = 0;
    };
    struct Pending {
        Folded row;
        std::int64_t window_end_ns = 0;
    };
    std::uint32_t per_second_;
    std::vector<Slot> slots_;
    std::unordered_map<std::string, Pending> pending_;  // key -> its folded row
    std::uint64_t folded_total_ = 0;
};

}  // namespace vigil::agent
