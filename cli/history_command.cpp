#include "cli/history_command.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/escape.h"
#include "common/event_format.h"
#include "common/event_query.h"

namespace vigil::cli {

int run_history(const Options& opts) {
    if (opts.positional.size() != 1) {
        print_error("vigil history needs exactly one PATH");
        return kExitUsage;
    }
    const std::string& path = opts.positional.front();
    if (path.empty() || path.front() != '/') {
        print_error("history: \"" + escape_bytes(path) + "\" is not an absolute path");
        return kExitUsage;
    }
    std::string format = opts.format;
    if (!opts.format_given) format = ::isatty(STDOUT_FILENO) == 1 ? "table" : "jsonl";
    if (format != "table" && format != "json" && format != "jsonl" && format != "csv") {
        print_error("--format must be table, json, jsonl or csv, not \"" + escape_bytes(format) + "\"");
        return kExitUsage;
    }
    auto db = db::Database::open(opts.db, db::OpenMode::ReadOnly);
    if (!db) {
        print_error(db.error().message());
        return kExitDatabase;
    }
    auto events = history_events(db.value(), path);
    if (!events) {
        print_error(events.error().message());
        return kExitDatabase;
    }
    std::string out;
    if (format == "json") out = events_to_json_array(events.value());
    if (format == "jsonl") out = events_to_jsonl(events.value());
    if (format == "csv") out = events_to_csv(events.value());
    if (format == "table") {
        winsize ws{};
        const std::size_t width = ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 120;
        out = events.value().empty() ? "No baseline entry and no events for " + escape_bytes(path) + ".\n"
                                     : events_to_table(events.value(), width, true);
    }
    if (!write_stdout(out)) {
        if (errno == EPIPE) return kExitClean;
        print_error("cannot write the result: " + std::generic_category().message(errno));
        return kExitOutput;
    }
    return kExitClean;
}

}  // namespace vigil::cli
