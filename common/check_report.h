// Rendering of an integrity check (vigil check / update) as text or JSON.
// Every path and value is escaped (common/escape.h) before it is printed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/baseline_store.h"
#include "common/diff.h"
#include "common/policy.h"

namespace vigil {

struct CheckContext {
    std::string title = "integrity check";  // "integrity check" or "accepted changes"
    std::int64_t started_ns = 0;
    double seconds = 0;
    std::uint64_t entries_checked = 0;
    std::uint64_t unreadable = 0;  // entries of the fresh walk recorded with an error
    std::optional<BaselineInfo> baseline;
    const Policy* policy = nullptr;
    std::vector<std::string> warnings;
    std::vector<const FileRecord*> unreadable_entries;
    bool color = false;
};

std::string render_check_text(const DiffResult& diff, const CheckContext& ctx);
std::string render_check_json(const DiffResult& diff, const CheckContext& ctx);

}  // namespace vigil
