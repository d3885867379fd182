#include "cli/verify_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/db/sqlite.h"
#include "common/escape.h"
#include "common/seal.h"
#include "common/seal_verify.h"
#include "common/sys.h"
#include "common/unique_fd.h"

namespace vigil::cli {
namespace {

// A checkpoints file (syslog or journal lines, a saved report): at most 64 MiB read.
Result<std::string> read_text_file(const std::string& path) {
    const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw < 0) return Error::from_errno(errno, "open '" + escape_bytes(path) + "'");
    const UniqueFd fd(raw);
    std::string text;
    char buf[65536];
    for (;;) {
        const ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf); });
        if (n < 0) return Error::from_errno(errno, "read '" + escape_bytes(path) + "'");
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > std::size_t{64} << 20)
            return Error::msg("'" + escape_bytes(path) + "' is larger than 64 MiB");
    }
    return text;
}

}  // namespace

int run_verify(const Options& opts) {
    std::optional<SealKey> k0;
    if (opts.key_file) {
        auto k = read_key_file(*opts.key_file);
        if (!k) {
            print_error(k.error().message());
            return kExitUsage;
        }
        if (k->epoch != 0) {
            print_error("'" + escape_bytes(*opts.key_file) + "' holds an epoch " + std::to_string(k->epoch) +
                        " key (the agent's DB.key?); verification needs the epoch-0 verification key that "
                        "`vigil init` wrote to DB.verification-key");
            return kExitUsage;
        }
        k0 = k.value();
    }
    std::optional<OutsideCheckpoint> outside;
    if (opts.checkpoints) {
        auto text = read_text_file(*opts.checkpoints);
        if (!text) {
            print_error(text.error().message());
            return kExitUsage;
        }
        outside = newest_checkpoint_in(text.value());
        if (!outside) {
            print_error("no \"vigil checkpoint ... seq=N ... mac=HEX\" line in '" + escape_bytes(*opts.checkpoints) +
                        "'");
            return kExitUsage;
        }
    }
    auto db = db::Database::open(opts.db, db::OpenMode::ReadOnly);
    if (!db) {
        print_error(db.error().message());
        return kExitDatabase;
    }
    auto result = verify_database(db.value(), k0, outside);
    if (!result) {
        print_error(result.error().message());
        return kExitDatabase;
    }
    const VerifyResult& r = result.value();
    std::string out = "Database " + escape_bytes(opts.db) + ": " + std::to_string(r.files_checked) +
                      " baseline entries, " + std::to_string(r.events_checked) + " sealed events checked" +
                      (r.authenticated ? " with the verification key" : "") + "\n";
    for (const auto& p : r.problems) out += "FAIL " + p.where + ": " + p.kind + " — " + p.what + "\n";
    for (const auto& n : r.notes) out += "note: " + n + "\n";
    if (r.ok())
        out += r.authenticated ? "OK: everything verifies\n"
                               : "UNPROVEN: intact as far as can be told without the verification key\n";
    if (!write_stdout(out)) return kExitOutput;
    if (!r.ok()) return kVerifyBroken;
    return r.authenticated ? kExitClean : kVerifyUnproven;
}

}  // namespace vigil::cli
