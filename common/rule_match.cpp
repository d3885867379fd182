#include "common/rule_match.h"

#include <algorithm>

#include "common/walker.h"

namespace vigil {

bool path_is_under(std::string_view path, std::string_view dir) {
    if (dir == "/") return !path.empty() && path.front() == '/';
    if (path.size() < dir.size() || path.compare(0, dir.size(), dir) != 0) return false;
    return path.size() == dir.size() || path[dir.size()] == '/';
}

RuleMatcher::RuleMatcher(const Policy& policy) : policy_(policy) { refresh_roots(); }

void RuleMatcher::refresh_roots() {
    roots_.clear();
    for (std::uint32_t i = 0; i < policy_.rules.size(); ++i) {
        const auto& path = policy_.rules[i].path;
        if (has_glob_chars(path)) {
            for (auto& root : expand_rule_roots(path)) roots_.emplace_back(std::move(root), i);
        } else {
            roots_.emplace_back(path, i);  // may not exist yet: it still owns its path
        }
    }
    // Longest first: the most specific root wins; stable keeps the first rule on a tie.
    std::stable_sort(roots_.begin(), roots_.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

std::optional<std::uint32_t> RuleMatcher::rule_for(std::string_view path) const {
    for (const auto& [root, index] : roots_) {
        if (!path_is_under(path, root)) continue;
        const Rule& rule = policy_.rules[index];
        if (path.size() == root.size()) return index;
        // Walk the components below the root: each must survive the excludes.
        std::size_t pos = root == "/" ? 1 : root.size() + 1;
        int depth = 0;
        while (pos <= path.size()) {
            const std::size_t end = std::min(path.find('/', pos), path.size());
            const std::string_view prefix = path.substr(0, end);
            const std::string_view name = path.substr(pos, end - pos);
            if (rule.excludes(prefix, name)) return std::nullopt;
            ++depth;
            pos = end + 1;
        }
        if (!rule.recursive && depth > 1) return std::nullopt;
        return index;
    }
    return std::nullopt;
}

}  // namespace vigil
