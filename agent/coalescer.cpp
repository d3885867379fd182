#include "agent/coalescer.h"

#include <functional>
#include <string_view>

namespace vigil::agent {
namespace {

constexpr std::int64_t kWindowNs = 1'000'000'000;

std::string key_of(const Event& e, const RawEvent& raw) {
    std::string key;
    key.push_back(static_cast<char>(e.action));
    key.append(std::to_string(raw.pid)).push_back('\0');
    key.append(raw.path);
    return key;
}

}  // namespace

bool Coalescer::admit(Event& event, RawEvent& raw) {
    if (!foldable(event.action) || raw.path.empty()) return true;
    const std::int64_t now = raw.time_ns;
    std::uint64_t h = std::hash<std::string_view>{}(raw.path);
    h ^= (static_cast<std::uint64_t>(raw.pid) << 8 | static_cast<std::uint64_t>(event.action)) * 0x9e3779b97f4a7c15ULL;
    Slot& slot = slots_[h % kSlots];
    if (slot.hash != h || now - slot.window_start_ns >= kWindowNs || now < slot.window_start_ns) {
        slot = Slot{h, now, 0};
    }
    if (slot.passed < per_second_) {
        ++slot.passed;
        return true;
    }
    // Over the bound this second: fold it into the key's pending row (the newest wins).
    const std::string key = key_of(event, raw);
    auto [it, inserted] = pending_.try_emplace(key);
    Pending& p = it->second;
    if (inserted) {
        p.row.first_ns = event.time_ns;
        p.window_end_ns = slot.window_start_ns + kWindowNs;
    }
    ++p.row.count;
    ++folded_total_;
    p.row.event = std::move(event);
    p.row.raw = std::move(raw);
    return false;
}

std::vector<Coalescer::Folded> Coalescer::due(std::int64_t now_ns) {
    std::vector<Folded> out;
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.window_end_ns <= now_ns) {
            out.push_back(std::move(it->second.row));
            it = pending_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

}  // namespace vigil::agent
