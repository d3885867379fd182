// Comparison of a baseline with a fresh walk: added, removed, and changed entries with
// every attribute that moved (old -> new). Both inputs are sorted by path; one merge pass.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_record.h"
#include "common/policy.h"

namespace vigil {

// An attribute value as reports show it: a number, a string (already escaped), or null.
struct AttrValue {
    enum class Kind : std::uint8_t { Null, Int, Text } kind = Kind::Null;
    std::int64_t number = 0;
    std::string text;

    static AttrValue null() { return {}; }
    static AttrValue of(std::int64_t v) { return {Kind::Int, v, {}}; }
    static AttrValue of(std::string v) { return {Kind::Text, 0, std::move(v)}; }
    std::string display() const;  // "null", the number, or the text
    bool operator==(const AttrValue&) const = default;
};

struct AttrChange {
    std::string attr;  // sha256, mode, uid, ..., type, error
    AttrValue old_value;
    AttrValue new_value;
};

struct ChangedEntry {
    const FileRecord* before = nullptr;
    const FileRecord* after = nullptr;
    std::vector<AttrChange> changes;
};

struct DiffResult {
    std::vector<const FileRecord*> added;    // point into `current`
    std::vector<const FileRecord*> removed;  // point into `baseline`
    std::vector<ChangedEntry> changed;

    bool clean() const { return added.empty() && removed.empty() && changed.empty(); }
    // The exit-code bits of DESIGN.md: 1 added, 2 removed, 4 changed.
    int exit_bits() const;
};

// Rule indexes in `current` refer to `policy`; its check lists decide what is compared.
DiffResult diff_records(const std::vector<FileRecord>& baseline, const std::vector<FileRecord>& current,
                        const Policy& policy);

// Every reportable attribute of one record (for added/removed listings).
std::vector<std::pair<std::string, AttrValue>> describe_record(const FileRecord& r);

}  // namespace vigil
