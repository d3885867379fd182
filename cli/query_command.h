// vigil query: who did what to which file, when — filtered, in table/json/jsonl/csv.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "cli/options.h"
#include "common/event_query.h"

namespace vigil::cli {

int run_query(const Options& opts);

// The format of query/history: --format, else table on a terminal and jsonl otherwise;
// nullopt (after printing why) when it is not one of table, json, jsonl, csv.
std::optional<std::string> event_format(const Options& opts);

// Runs a query that streams its rows to the sink it is given.
using EventSource = std::function<Result<void>(const EventSink&)>;

// Writes the events of `source` in `format` to stdout as they come, in large writes;
// returns the exit code. `empty_table` replaces the table when there is nothing to show;
// `with_hash` adds content hashes to the table.
int emit_events(const EventSource& source, const std::string& format, const std::string& empty_table, bool with_hash);

}  // namespace vigil::cli
