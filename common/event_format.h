// Events as auditors and log pipelines read them: JSON (DESIGN.md's field list), CSV
// (RFC 4180) and an aligned table. Every byte string is escaped (common/escape.h) first,
// so a hostile path can forge neither a line, nor a CSV cell, nor terminal output.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/event_view.h"

namespace vigil {

// The contract's fields, in a stable order; unknown values are null. (The report embeds
// events in its own JSON document.)
nlohmann::ordered_json event_to_json(const StoredEvent& e);

// Writes events one at a time in one format, appending to `out`; the caller hands `out`
// to the reader in large writes whenever it likes, so a query streams in constant memory.
// The output is byte for byte event_to_json(...).dump() (jsonl), an array of them dumped
// with indent 2 (json), or CSV of the same values; the table needs every row for its
// column widths and writes at finish().
class EventWriter {
public:
    virtual ~EventWriter() = default;
    virtual void row(std::string& out, const EventView& e) = 0;
    virtual void finish(std::string& out) = 0;  // after the last row
};

// `format`: json, jsonl, csv or table. The table fits `width` columns by shortening the
// path column (with an ellipsis), never wraps, shows `empty_table` when there is no row
// and, `with_hash`, the content hash after each change (vigil history).
std::unique_ptr<EventWriter> make_event_writer(std::string_view format, std::size_t width, bool with_hash,
                                               std::string empty_table);

}  // namespace vigil
