#include "agent/leak_detector.h"

#include <functional>
#include <string_view>

namespace vigil::agent {

void LeakDetector::forget_files(State& s) {
    tracked_files_ -= s.seen.size();
    s.seen.clear();
    s.order.clear();
    s.samples.clear();
}

void LeakDetector::evict_beyond_limits(const Key& keep) {
    while (!lru_.empty() && (pairs_.size() > limits_.max_pairs || tracked_files_ > limits_.max_tracked_files)) {
        const Key oldest = lru_.front();
        if (oldest == keep) {
            // The pair being fed is the only one left over the limit: trim its own oldest files.
            State& s = pairs_.at(keep);
            if (s.order.empty()) break;
            s.seen.erase(s.order.front().second);
            s.order.pop_front();
            --tracked_files_;
            continue;
        }
        auto it = pairs_.find(oldest);
        forget_files(it->second);
        pairs_.erase(it);
        lru_.pop_front();
    }
}

std::vector<LeakDetector::Signal> LeakDetector::observe(std::optional<std::int64_t> uid, const std::string& scope,
                                                        std::string_view path, const AlertRule& rule,
                                                        std::int64_t mono_ns, int local_minute) {
    std::vector<Signal> out;
    const bool off_hours = rule.hours && local_minute >= 0 && !rule.hours->contains(local_minute);
    if (!rule.bulk_read && !off_hours) return out;

    Key key{uid.value_or(-1), scope};
    auto it = pairs_.find(key);
    if (it == pairs_.end()) {
        it = pairs_.emplace(key, State{}).first;
        it->second.lru = lru_.insert(lru_.end(), key);
    } else {
        lru_.splice(lru_.end(), lru_, it->second.lru);  // most recently active now
    }
    State& s = it->second;

    if (off_hours && mono_ns >= s.hours_quiet_until) {
        s.hours_quiet_until = mono_ns + kHoursQuietNs;
        out.push_back({Signal::Kind::Hours, 0, {}});
    }
    if (rule.bulk_read && mono_ns >= s.bulk_quiet_until) {
        const BulkReadAlert& b = *rule.bulk_read;
        while (!s.order.empty() && s.order.front().first < mono_ns - b.window_ns) {
            s.seen.erase(s.order.front().second);
            s.order.pop_front();
            --tracked_files_;
        }
        // A 64-bit hash stands for the path: distinct paths colliding is negligible,
        // and a pair's memory stays a few bytes per file whatever the paths' length.
        const std::uint64_t h = std::hash<std::string_view>{}(path);
        if (s.seen.insert(h).second) {
            s.order.emplace_back(mono_ns, h);
            ++tracked_files_;
            s.samples.emplace_back(path);
            if (s.samples.size() > kSamplePaths) s.samples.pop_front();
        }
        if (s.seen.size() > b.files) {
            Signal sig{Signal::Kind::BulkRead, static_cast<std::uint32_t>(s.seen.size()),
                       std::vector<std::string>(s.samples.begin(), s.samples.end())};
            out.push_back(std::move(sig));
            forget_files(s);
            s.bulk_quiet_until = mono_ns + b.window_ns;
        }
    }
    evict_beyond_limits(key);
    return out;
}

}  // namespace vigil::agent
