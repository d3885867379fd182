// Events as auditors and log pipelines read them: JSON (DESIGN.md's field list), CSV
// (RFC 4180) and an aligned table. Every byte string is escaped (common/escape.h) first,
// so a hostile path can forge neither a line, nor a CSV cell, nor terminal output.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/event_query.h"

namespace vigil {

// The contract's fields, in a stable order; unknown values are null.
nlohmann::ordered_json event_to_json(const StoredEvent& e);

std::string events_to_json_array(const std::vector<StoredEvent>& events);
std::string events_to_jsonl(const std::vector<StoredEvent>& events);
std::string events_to_csv(const std::vector<StoredEvent>& events);
// Fits `width` columns by shortening the path column (with an ellipsis); never wraps.
// `with_hash` adds the content hash after each change (vigil history).
std::string events_to_table(const std::vector<StoredEvent>& events, std::size_t width, bool with_hash = false);

}  // namespace vigil
