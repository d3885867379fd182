#include "agent/known_state.h"

#include <cstring>
#include <utility>
#include <vector>

namespace vigil::agent {

void rename_known(KnownState& known, const std::string& from, const std::string& to, bool stays,
                  const std::function<void(const std::string&)>& touched) {
    std::vector<std::pair<std::string, std::optional<Sha256Digest>>> moved;
    if (auto self = known.find(from); self != known.end()) {
        if (stays) moved.emplace_back(to, self->second);
        known.erase(self);
    }
    // Erasing as it goes, so not for_each_below; the same range, from "from/" on.
    const std::string below = from + "/";
    auto it = known.lower_bound(below);
    while (it != known.end() && it->first.starts_with(below)) {
        if (stays) moved.emplace_back(to + it->first.substr(from.size()), it->second);
        touched(it->first);
        it = known.erase(it);
    }
    for (auto& [path, digest] : moved) {
        touched(path);
        known[path] = digest;
    }
    touched(from);
    if (!to.empty()) touched(to);
}

Result<std::uint64_t> replay_recorded_changes(db::Database& db, std::int64_t since_ns, KnownState& known,
                                              const std::function<bool(const std::string&)>& watched) {
    auto st = db.prepare(
        "SELECT action, coalesce(path, x''), old_path, sha256_after FROM events WHERE time_ns >= :since "
        "AND (path IS NOT NULL OR old_path IS NOT NULL) AND action IN ('create','modify','attrib','delete','rename') "
        "ORDER BY id");
    if (!st) return st.error();
    if (auto r = st->bind_int(":since", since_ns); !r) return r.error();
    std::uint64_t rows = 0;
    const auto ignore = [](const std::string&) {};
    for (;;) {
        auto row = st->step();
        if (!row) return db.error(sqlite3_errcode(db.handle()), "read the recorded changes");
        if (!row.value()) break;
        ++rows;
        const std::string action = st->col_blob(0);
        std::string path = st->col_blob(1);
        const auto after = st->col_opt_blob(3);
        std::optional<Sha256Digest> digest;
        if (after && after->size() == 32) {
            digest.emplace();
            std::memcpy(digest->data(), after->data(), 32);
        }
        if (action == "rename") {
            const auto old_path = st->col_opt_blob(2);
            const bool stays = !path.empty() && watched(path);
            if (old_path) rename_known(known, *old_path, path, stays, ignore);
            if (digest && stays) known[path] = digest;
        } else if (path.empty()) {
            continue;
        } else if (action == "delete") {
            known.erase(path);
        } else if (digest) {
            known[path] = digest;
        } else {
            known.emplace(std::move(path), std::nullopt);  // a create not hashed (yet): exists
        }
    }
    return rows;
}

}  // namespace vigil::agent
