// Which rule covers a path: the most specific rule root that is a prefix of the path (on
// whole components), provided no exclude of that rule matches the path or any directory
// between the root and it, and the rule is recursive or the path is a direct child.
// Used by the watchers for paths that appear after the walk (new files and directories).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy.h"

namespace vigil {

class RuleMatcher {
public:
    explicit RuleMatcher(const Policy& policy);  // expands glob rule paths once, now
    std::optional<std::uint32_t> rule_for(std::string_view path) const;
    void refresh_roots();  // re-expand glob roots (a new /home/NAME/.ssh appeared)

private:
    const Policy& policy_;
    std::vector<std::pair<std::string, std::uint32_t>> roots_;  // longest first
};

// True when `path` lies under `dir` (or is `dir`), comparing whole components.
bool path_is_under(std::string_view path, std::string_view dir);

}  // namespace vigil
