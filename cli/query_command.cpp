#include "cli/query_command.h"

#include <pwd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <system_error>

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/escape.h"
#include "common/event_format.h"
#include "common/event_query.h"
#include "common/seal_verify.h"
#include "common/time_parse.h"

namespace vigil::cli {
namespace {

std::size_t terminal_width() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 120;
}

std::optional<std::int64_t> as_number(const std::string& s) {
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// Builds the filter from the options, or an error message for the user.
Result<EventFilter> filter_from(const Options& o) {
    EventFilter f;
    const std::int64_t now = realtime_now_ns();
    if (o.path) {
        if (o.path->empty() || o.path->front() != '/') return Error::msg("--path needs an absolute path");
        f.path = *o.path;
    }
    if (o.under) {
        if (o.under->empty() || o.under->front() != '/') return Error::msg("--under needs an absolute directory");
        f.under = *o.under;
    }
    if (o.user) {
        if (o.user->empty()) return Error::msg("--user needs a name or a uid");
        if (auto uid = as_number(*o.user)) {
            if (*uid < 0 || *uid > 4294967294LL) return Error::msg("--user: uid out of range");
            f.uid = *uid;
        } else {
            f.user = *o.user;
            // The name's uid too: rows whose name could not be resolved still carry the uid.
            if (const passwd* pw = ::getpwnam(o.user->c_str())) f.uid = pw->pw_uid;
        }
    }
    if (o.action) {
        std::string_view rest = *o.action;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const std::string name(rest.substr(0, comma));
            if (!action_from_name(name))
                return Error::msg("--action: unknown action \"" + escape_bytes(name) +
                                  "\" (open, read, modify, create, delete, rename, attrib, denied, alert, overflow, "
                                  "rescan, baseline_update, agent_start, agent_stop)");
            f.actions.push_back(name);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
        if (f.actions.empty()) return Error::msg("--action needs at least one action");
    }
    if (o.label) f.label = *o.label;
    f.unexpected_only = o.unexpected;
    if (o.since) {
        auto t = parse_when(*o.since, now);
        if (!t) return Error::msg("--since: " + t.error().message());
        f.since_ns = t.value();
    }
    if (o.until) {
        auto t = parse_when(*o.until, now);
        if (!t) return Error::msg("--until: " + t.error().message());
        f.until_ns = t.value();
    }
    if (f.since_ns && f.until_ns && *f.since_ns > *f.until_ns) return Error::msg("--since is after --until");
    if (o.limit) {
        auto n = as_number(*o.limit);
        if (!n || *n < 1) return Error::msg("--limit needs a positive number");
        f.limit = n;
    }
    f.oldest_first = o.reverse;
    return f;
}

}  // namespace

std::optional<std::string> event_format(const Options& opts) {
    std::string format = opts.format;
    if (!opts.format_given) format = ::isatty(STDOUT_FILENO) == 1 ? "table" : "jsonl";
    if (format != "table" && format != "json" && format != "jsonl" && format != "csv") {
        print_error("--format must be table, json, jsonl or csv, not \"" + escape_bytes(format) + "\"");
        return std::nullopt;
    }
    return format;
}

int emit_events(const EventSource& source, const std::string& format, const std::string& empty_table, bool with_hash) {
    // Big enough that syscalls cost nothing next to formatting, small enough that a reader
    // of a pipe sees the first rows at once.
    constexpr std::size_t kFlushAt = std::size_t{1} << 20;
    const auto writer = make_event_writer(format, format == "table" ? terminal_width() : 0, with_hash, empty_table);
    std::string buf;
    buf.reserve(kFlushAt + (kFlushAt >> 2));
    int write_errno = 0;
    auto flush = [&] {
        if (!write_stdout(buf)) {
            write_errno = errno;
            return false;
        }
        buf.clear();
        return true;
    };
    const auto read = source([&](const EventView& e) {
        writer->row(buf, e);
        return buf.size() < kFlushAt || flush();
    });
    if (read && write_errno == 0) {
        writer->finish(buf);
        flush();
    }
    if (write_errno != 0) {
        if (write_errno == EPIPE) return kExitClean;  // `vigil query | head`: the reader had enough
        print_error("cannot write the result: " + std::generic_category().message(write_errno));
        return kExitOutput;
    }
    if (!read) {
        print_error(read.error().message());
        return kExitDatabase;
    }
    return kExitClean;
}

int run_query(const Options& opts) {
    const auto format = event_format(opts);
    if (!format) return kExitUsage;
    auto filter = filter_from(opts);
    if (!filter) {
        print_error(filter.error().message());
        return kExitUsage;
    }
    auto db = db::Database::open(opts.db, db::OpenMode::ReadOnly);
    if (!db) {
        print_error(db.error().message());
        return kExitDatabase;
    }
    if (auto warning = baseline_seal_warning(db.value(), opts.db)) print_warning(*warning);
    return emit_events([&](const EventSink& sink) { return for_each_event(db.value(), filter.value(), sink); }, *format,
                       "No events match.\n", false);
}

}  // namespace vigil::cli
