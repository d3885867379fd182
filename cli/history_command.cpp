#include "cli/history_command.h"

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "cli/query_command.h"
#include "common/escape.h"
#include "common/event_history.h"

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
    const auto format = event_format(opts);
    if (!format) return kExitUsage;
    auto db = db::Database::open(opts.db, db::OpenMode::ReadOnly);
    if (!db) {
        print_error(db.error().message());
        return kExitDatabase;
    }
    return emit_events([&](const EventSink& sink) { return for_each_history_event(db.value(), path, sink); }, *format,
                       "No baseline entry and no events for " + escape_bytes(path) + ".\n", true);
}

}  // namespace vigil::cli
