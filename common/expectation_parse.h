// Parsing and validation of a policy rule's "expect" and "alert" objects (the rest of the
// rule is parsed in common/policy.cpp). Errors come back through `fail`, which prefixes
// the policy file and the rule, so every message names where the problem is.
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "common/expectation.h"
#include "common/policy.h"
#include "common/result.h"

namespace vigil {

using RuleError = std::function<Error(const std::string&)>;

Result<Expectation> parse_expect(const nlohmann::json& value, WatchMode watch, const RuleError& fail);
Result<AlertRule> parse_alert(const nlohmann::json& value, WatchMode watch, const RuleError& fail);

}  // namespace vigil
