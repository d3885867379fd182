// vigil: the command-line tool of Vigil. Subcommands per DESIGN.md's contract.
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/baseline_commands.h"
#include "cli/exit_codes.h"
#include "cli/history_command.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/prune_command.h"
#include "cli/query_command.h"
#include "cli/report_command.h"
#include "cli/status_command.h"
#include "cli/verify_command.h"
#include "common/escape.h"
#include "common/sys.h"

namespace {

using namespace vigil::cli;

constexpr const char* kUsage =
    "usage: vigil <command> [options]\n"
    "\n"
    "commands:\n"
    "  init    build the baseline of every file the policy covers\n"
    "  check   compare the files with the baseline (exit 0 clean, 1 added, 2 removed, 4 changed)\n"
    "  update  accept the current state as the new baseline (recorded with who accepted it)\n"
    "  report  nightly report: integrity check, who explains each change, accesses, agent health\n"
    "  query   who did what to which file, when (filters; table, json, jsonl, csv)\n"
    "  history one file's timeline: baseline entry, every event, hashes, across renames\n"
    "  status  is an agent running on the database; its watcher, queue, overflows\n"
    "  verify  prove the sealed baseline and event log were not altered, removed or cut\n"
    "  prune   remove events older than a retention period, by whole sealed epochs\n"
    "\n"
    "Run `vigil <command> --help` for a command's options. `vigil --version` prints the version.\n"
    "Exit codes 16 and above are errors: 16 usage, 17 policy, 18 database, 19 output, 20 internal.\n";

constexpr const char* kInitHelp =
    "usage: vigil init [--policy FILE] [--db FILE] [--threads N]\n"
    "\n"
    "Walks every path of the policy, hashes regular files with SHA-256 and records type, mode,\n"
    "owner, size, times, inode, link count, symlink target and extended attributes (ACLs,\n"
    "capabilities, SELinux labels) in the database, in one transaction.\n"
    "\n"
    "  --policy FILE  policy to use (default /etc/vigil/policy.json, else the embedded default)\n"
    "  --db FILE      database (default /var/lib/vigil/vigil.db; created 0600 in a 0700 directory)\n"
    "  --threads N    hashing threads (default: one per core)\n"
    "\n"
    "Refuses a database that already holds a baseline: use `vigil update` to accept changes.\n";

constexpr const char* kCheckHelp =
    "usage: vigil check [--policy FILE] [--db FILE] [--format text|json] [--threads N]\n"
    "\n"
    "Walks the policy's paths again and lists entries added, removed and changed since the\n"
    "baseline, with every changed attribute as old -> new. Opens the database read-only.\n"
    "\n"
    "  --format text|json  report format (default text; JSON: {added, removed, changed, summary})\n"
    "\n"
    "Exit code: 0 clean, else 1 (added) | 2 (removed) | 4 (changed); 16 or above on error.\n";

constexpr const char* kUpdateHelp =
    "usage: vigil update [--policy FILE] [--db FILE] [--format text|json] [--threads N]\n"
    "\n"
    "Accepts the current state as the new baseline, in one transaction, and records a\n"
    "baseline_update event with who accepted it (uid, login uid, process). Prints what was\n"
    "accepted, in the format of `vigil check`.\n";

constexpr const char* kStatusHelp =
    "usage: vigil status [--db FILE] [--format text|json]\n"
    "\n"
    "Says whether a vigild runs on the database (its lock is held), which watcher it uses, how\n"
    "many directories it watches, its queue depth, how many events carry an actor, and from\n"
    "the database: events recorded, overflows and the last one, the current baseline.\n"
    "Exit code: 0 an agent runs, 3 none runs, 16 or above on error.\n";

constexpr const char* kQueryHelp =
    "usage: vigil query [--db FILE] [--path P] [--under DIR] [--user NAME|UID] [--action A,B]\n"
    "                   [--label L] [--unexpected] [--since WHEN] [--until WHEN] [--limit N]\n"
    "                   [--reverse] [--format table|json|jsonl|csv]\n"
    "\n"
    "Events recorded by vigild (and vigil update), newest first; filters combine.\n"
    "  --path P        exactly this path (also as the old name of a rename)\n"
    "  --under DIR     this directory and below, on whole components (/etc/ssh is not /etc/sshd)\n"
    "  --user U        a user name or uid: matches uid, euid or login uid, and names\n"
    "  --action A,B    any of: open read modify create delete rename attrib denied alert\n"
    "                  overflow rescan baseline_update agent_start agent_stop checkpoint prune\n"
    "  --since/--until WHEN  RFC 3339 (2026-11-24T08:00:00Z or +02:00), a date, or 90m/24h/7d back\n"
    "  --limit N       at most N events;  --reverse  oldest first\n"
    "  --format F      table (default on a terminal), jsonl (default otherwise), json, csv\n"
    "Paths and names print escaped (\\xNN for control bytes and invalid UTF-8) in every format.\n"
    "Opens the database read-only; works while vigild writes. Exit 0, even when nothing matches.\n";

constexpr const char* kHistoryHelp =
    "usage: vigil history PATH [--db FILE] [--format table|json|jsonl|csv]\n"
    "\n"
    "The timeline of one file, oldest first: its baseline entry, then every recorded event\n"
    "with its actor and the content hash after each change. Renames are followed backwards:\n"
    "events under the file's earlier names, up to the rename that left each, are included.\n";

constexpr const char* kVerifyHelp =
    "usage: vigil verify [--db FILE] [--key-file FILE] [--checkpoints FILE]\n"
    "\n"
    "Walks the sealed baseline and the event chain and names the first place each breaks:\n"
    "altered, deleted, inserted or reordered rows, skipped epochs, backdated rows, a cut tail.\n"
    "--key-file: the verification key `vigil init` wrote (DB.verification-key); without it only\n"
    "the chain's structure is checked and authenticity is not proven.\n"
    "--checkpoints: syslog or journal lines with the agent's \"vigil checkpoint\" records; the\n"
    "newest proves the log was not cut after it.\n"
    "Exit code: 0 verified with the key, 1 intact but unproven (no key), 2 broken, 16+ error.\n";

constexpr const char* kPruneHelp =
    "usage: vigil prune --older-than WHEN [--db FILE] [--dry-run]\n"
    "\n"
    "Removes old events by whole sealing epochs (every epoch that ended before WHEN: 90d,\n"
    "2w, or an RFC 3339 date), oldest first, never the newest epoch. Each removal is recorded\n"
    "as a sealed `prune` event (what went, and the MAC the chain goes on from), so `vigil\n"
    "verify` still proves the rest and an unrecorded gap is still a deletion. Works while\n"
    "vigild runs; the agent prunes daily by itself with the policy's retention.days.\n"
    "--dry-run says what would go and changes nothing.\n";

constexpr const char* kReportHelp =
    "usage: vigil report [--policy FILE] [--db FILE] [--since WHEN] [--format text|json|html]\n"
    "                    [--output FILE]\n"
    "\n"
    "Runs the integrity check and joins each finding with the recorded events that explain it\n"
    "(a change with none is flagged \"unexplained — changed while unobserved\"), then summarises\n"
    "the window (default --since 24h): unexpected events, accesses to labelled and critical files\n"
    "by user, and agent health (overflows, rescans, unattributed events, downtime).\n"
    "--format html writes one self-contained page. --output writes atomically (0600).\n"
    "Exit code as vigil check: 0 clean, 1 added | 2 removed | 4 changed, 16 or above on error.\n";

int run(const std::string& command, const std::vector<std::string>& args) {
    struct Command {
        const char* name;
        const char* help;
        std::vector<std::string> options;
        int (*fn)(const Options&);
    };
    const Command commands[] = {
        {"init", kInitHelp, {"policy", "db", "threads"}, &run_init},
        {"check", kCheckHelp, {"policy", "db", "format", "threads"}, &run_check},
        {"update", kUpdateHelp, {"policy", "db", "format", "threads"}, &run_update},
        {"status", kStatusHelp, {"db", "format"}, &run_status},
        {"report", kReportHelp, {"policy", "db", "since", "format", "output", "threads"}, &run_report},
        {"history", kHistoryHelp, {"db", "format"}, &run_history},
        {"verify", kVerifyHelp, {"db", "key-file", "checkpoints"}, &run_verify},
        {"prune", kPruneHelp, {"db", "older-than", "dry-run"}, &run_prune},
        {"query",
         kQueryHelp,
         {"db", "path", "under", "user", "action", "label", "unexpected", "since", "until", "limit", "reverse",
          "format"},
         &run_query},
    };
    for (const auto& c : commands) {
        if (command != c.name) continue;
        auto opts = parse_options(args, c.options);
        if (!opts) {
            print_error(opts.error().message() + " (see `vigil " + command + " --help`)");
            return kExitUsage;
        }
        if (opts->help) return write_stdout(c.help) ? kExitClean : kExitOutput;
        if (!opts->positional.empty() && command != "history") {
            print_error("unexpected argument \"" + vigil::escape_bytes(opts->positional.front()) + "\"");
            return kExitUsage;
        }
        return c.fn(opts.value());
    }
    print_error("unknown command \"" + vigil::escape_bytes(command) + "\"\n" + kUsage);
    return kExitUsage;
}

void raise_fd_limit() {
    // A deep tree walked by many threads keeps a directory fd per pending level.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

}  // namespace

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);  // a closed pipe becomes EPIPE, handled where we write
    // Baselines are hundreds of thousands of small records: with glibc's adaptive mmap
    // threshold, freed vector buffers stay in the heap and peak memory grows by a third
    // (measured in bench/RESULTS.md). A fixed threshold returns them to the system.
    ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    ::umask(077);  // the database, its WAL and anything else we create: owner only
    vigil::ensure_std_fds();
    raise_fd_limit();
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        (void)write_stdout(kUsage);
        return kExitUsage;
    }
    if (args[0] == "--version" || args[0] == "-V") {
        return write_stdout(std::string("vigil ") + VIGIL_VERSION + "\n") ? kExitClean : kExitOutput;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        return write_stdout(kUsage) ? kExitClean : kExitOutput;
    }
    const std::string command = args[0];
    args.erase(args.begin());
    try {
        return run(command, args);
    } catch (const std::exception& e) {
        print_error(std::string("internal error: ") + vigil::escape_bytes(e.what()));
        return kExitInternal;
    }
}
