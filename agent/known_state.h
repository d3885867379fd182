// The agent's last known content per path (known_ in agent.h) and how recorded changes
// move it: what a rescan compares a walk with, and what a restarted agent rebuilds from
// the record so that its first rescan reports only what changed while it was down.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/db/sqlite.h"
#include "common/result.h"
#include "common/sha256.h"

namespace vigil::agent {

using KnownState = std::map<std::string, std::optional<Sha256Digest>>;

// Calls f(path, digest) for every entry strictly below the directory `dir`. They are
// contiguous from "dir/" on; from "dir" itself a sibling such as "dir.bak" sorts in
// between and would end the range early.
template <class F>
void for_each_below(const KnownState& known, const std::string& dir, F&& f) {
    const std::string below = dir + "/";
    for (auto it = known.lower_bound(below); it != known.end() && it->first.starts_with(below); ++it)
        f(it->first, it->second);
}

// A rename of `from` (a file, or a directory with everything below it) to `to`; `stays`
// false: moved out of every watched tree, so forgotten. `touched` sees every name that
// changed, old and new.
void rename_known(KnownState& known, const std::string& from, const std::string& to, bool stays,
                  const std::function<void(const std::string&)>& touched);

// Applies every change recorded after `since_ns` (the baseline's creation), in order:
// creates, writes, deletes and renames, whatever their source; `watched` says whether a
// rename's new name is still in a tree. Returns how many rows were applied.
Result<std::uint64_t> replay_recorded_changes(db::Database& db, std::int64_t since_ns, KnownState& known,
                                              const std::function<bool(const std::string&)>& watched);

}  // namespace vigil::agent
