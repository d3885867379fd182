// Fuzz target: the policy parser (JSON with comments, strict validation) and the glob
// matcher its rules feed. A policy file is attacker-reachable wherever someone other than
// root can influence it (R6, RELIABILITY B7 #50): no crash, no UB, no hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto policy = vigil::parse_policy(text, "fuzz.json");
    if (!policy) {
        // Every error names its source (DESIGN: "file, line, what is wrong").
        if (policy.error().message().find("fuzz.json") == std::string::npos) __builtin_trap();
        return 0;
    }
    // Globs that passed validation must match without blowing up, against their own text
    // and a path under the rule.
    for (const auto& rule : policy->rules) {
        const std::string below = rule.path + "/a.tmp";
        (void)rule.excludes(below, "a.tmp");
        for (const auto& ex : rule.exclude) (void)rule.excludes(ex, ex);
    }
    return 0;
}
