#include "cli/report_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "cli/comparison.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/escape.h"
#include "common/report.h"
#include "common/sys.h"
#include "common/time_parse.h"

namespace vigil::cli {
namespace {

// Writes `text` to `path` through a new file in the same directory (mkstemp: O_EXCL,
// 0600), fsynced, then renamed over `path`: a reader never sees half a report, and a
// symlink planted at `path` is replaced, never written through.
Result<void> write_file_atomic(const std::string& path, std::string_view text) {
    std::string tmpl = path + ".XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    const int fd = ::mkostemp(buf.data(), O_CLOEXEC);
    if (fd < 0) return Error::from_errno(errno, "create a file beside '" + escape_bytes(path) + "'");
    const UniqueFd owner(fd);
    const std::string tmp(buf.data());
    std::string_view rest = text;
    while (!rest.empty()) {
        const ssize_t n = retry_eintr([&] { return ::write(fd, rest.data(), rest.size()); });
        if (n < 0) {
            const int err = errno;
            ::unlink(tmp.c_str());
            return Error::from_errno(err, "write '" + escape_bytes(tmp) + "'");
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fsync(fd) < 0 || ::rename(tmp.c_str(), path.c_str()) < 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return Error::from_errno(err, "write '" + escape_bytes(path) + "'");
    }
    return {};
}

}  // namespace

int run_report(const Options& opts) {
    if (opts.format != "text" && opts.format != "json" && opts.format != "html") {
        print_error("--format must be text, json or html, not \"" + escape_bytes(opts.format) + "\"");
        return kExitUsage;
    }
    const std::int64_t now = realtime_now_ns();
    auto since = parse_when(opts.since.value_or("24h"), now);
    if (!since) {
        print_error("--since: " + since.error().message());
        return kExitUsage;
    }
    auto result = run_comparison(opts.policy, opts.db, db::OpenMode::ReadOnly, opts.threads);
    if (const int* code = std::get_if<int>(&result)) return *code;
    CheckRun& run = *std::get<std::unique_ptr<CheckRun>>(result);
    auto report = build_report(run.db, run.diff, context_for(run.cmp, run.policy, "report", false), since.value(), now);
    if (!report) {
        print_error(report.error().message());
        return kExitDatabase;
    }
    const std::string text = opts.format == "json"   ? render_report_json(report.value())
                             : opts.format == "html" ? render_report_html(report.value())
                                                     : render_report_text(report.value());
    if (opts.output) {
        if (auto r = write_file_atomic(*opts.output, text); !r) {
            print_error(r.error().message());
            return kExitOutput;
        }
    } else if (!write_stdout(text)) {
        print_error("cannot write the report: " + std::generic_category().message(errno));
        return kExitOutput;
    }
    return report->exit_bits;
}

}  // namespace vigil::cli
