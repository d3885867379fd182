// NssDirectory: who a uid is and which groups it is in, through NSS (getpwuid_r,
// getgrouplist, getgrnam_r, getgrgid_r), so LDAP and SSSD users and groups count like
// local ones. Answers are cached for a short time (60 s by default): a group change in
// LDAP is seen within a minute, and a slow NSS backend costs one lookup per uid or group
// per minute, never one per event. Each cache holds at most 4096 entries and is emptied
// when full (a bound, not an LRU: with that many distinct users, a minute's extra
// lookups are the lesser harm). Not thread-safe: the agent uses it on its main thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/expectation.h"

namespace vigil {

class NssDirectory final : public IdentityDirectory {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    explicit NssDirectory(std::chrono::seconds ttl = std::chrono::seconds(60), Clock clock = nullptr);

    Identity user(std::int64_t uid) override;
    std::optional<std::int64_t> group_id(const std::string& name) override;
    std::optional<std::string> group_name(std::int64_t gid) override;

    std::uint64_t lookups() const { return lookups_; }  // NSS calls made (cache misses)

private:
    template <class V>
    struct Entry {
        V value;
        std::chrono::steady_clock::time_point fetched;
    };
    template <class K, class V, class F>
    V cached(std::unordered_map<K, Entry<V>>& cache, const K& key, F&& fetch);

    std::chrono::seconds ttl_;
    Clock clock_;
    std::unordered_map<std::int64_t, Entry<Identity>> users_;
    std::unordered_map<std::string, Entry<std::optional<std::int64_t>>> group_ids_;
    std::unordered_map<std::int64_t, Entry<std::optional<std::string>>> group_names_;
    std::uint64_t lookups_ = 0;
};

// The NSS lookups themselves, uncached.
Identity nss_user(std::int64_t uid);
std::optional<std::int64_t> nss_user_id(const std::string& name);
std::optional<std::int64_t> nss_group_id(const std::string& name);
std::optional<std::string> nss_group_name(std::int64_t gid);

}  // namespace vigil
