#include "common/expectation_directory.h"

#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <vector>

namespace vigil {
namespace {

constexpr std::size_t kMaxCached = 4096;
constexpr std::size_t kMaxBuffer = std::size_t{1} << 20U;  // a group with 100,000 members fits
constexpr int kMaxGroups = 65'536;                         // NGROUPS_MAX on Linux

}  // namespace

Identity nss_user(std::int64_t uid) {
    Identity who;
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(4096);
    for (;;) {
        const int rc = ::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found);
        if (rc == ERANGE && buf.size() < kMaxBuffer) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc != 0 || found == nullptr) return who;  // no passwd entry: only uid:N can match
        break;
    }
    who.name = pw.pw_name;
    std::vector<gid_t> groups(64);
    for (;;) {
        int n = static_cast<int>(groups.size());
        if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) >= 0) {
            groups.resize(static_cast<std::size_t>(n));
            break;
        }
        // -1: too small, n says how many there are.
        if (n <= static_cast<int>(groups.size()) || n > kMaxGroups) {
            groups.assign(1, pw.pw_gid);  // the backend misbehaves: the primary group at least
            break;
        }
        groups.resize(static_cast<std::size_t>(n));
    }
    for (const gid_t g : groups) who.gids.push_back(g);
    return who;
}

std::optional<std::int64_t> nss_user_id(const std::string& name) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(4096);
    for (;;) {
        const int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
        if (rc == ERANGE && buf.size() < kMaxBuffer) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc != 0 || found == nullptr) return std::nullopt;
        return pw.pw_uid;
    }
}

std::optional<std::int64_t> nss_group_id(const std::string& name) {
    group gr{};
    group* found = nullptr;
    std::vector<char> buf(4096);
    for (;;) {
        const int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found);
        if (rc == ERANGE && buf.size() < kMaxBuffer) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc != 0 || found == nullptr) return std::nullopt;
        return gr.gr_gid;
    }
}

std::optional<std::string> nss_group_name(std::int64_t gid) {
    group gr{};
    group* found = nullptr;
    std::vector<char> buf(4096);
    for (;;) {
        const int rc = ::getgrgid_r(static_cast<gid_t>(gid), &gr, buf.data(), buf.size(), &found);
        if (rc == ERANGE && buf.size() < kMaxBuffer) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc != 0 || found == nullptr) return std::nullopt;
        return std::string(gr.gr_name);
    }
}

NssDirectory::NssDirectory(std::chrono::seconds ttl, Clock clock) : ttl_(ttl), clock_(std::move(clock)) {
    if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
}

template <class K, class V, class F>
V NssDirectory::cached(std::unordered_map<K, Entry<V>>& cache, const K& key, F&& fetch) {
    const auto now = clock_();
    auto it = cache.find(key);
    if (it != cache.end() && now - it->second.fetched < ttl_) return it->second.value;
    ++lookups_;
    V value = fetch();
    if (it != cache.end()) {
        it->second = {value, now};
    } else {
        if (cache.size() >= kMaxCached) cache.clear();
        cache.emplace(key, Entry<V>{value, now});
    }
    return value;
}

Identity NssDirectory::user(std::int64_t uid) {
    return cached(users_, uid, [&] { return nss_user(uid); });
}

std::optional<std::int64_t> NssDirectory::group_id(const std::string& name) {
    return cached(group_ids_, name, [&] { return nss_group_id(name); });
}

std::optional<std::string> NssDirectory::group_name(std::int64_t gid) {
    return cached(group_names_, gid, [&] { return nss_group_name(gid); });
}

}  // namespace vigil
