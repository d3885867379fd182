// Sealing benchmark for bench/seal.sh (issue 5): the cost of sealing on the agent's write
// path, and a sealed log for timing `vigil verify`.
//
//   seal_bench throughput DIR N RUNS   N events into a fresh database per run, in
//                                      transactions of 1024 rows as the agent's writer
//                                      does, unsealed (EventAppender) and sealed
//                                      (EventChain): one "mode=... run=... rows_per_s=..." line each
//   seal_bench fill DB N               a sealed database of N events in epochs of 10,000,
//                                      keys beside it as `vigil init` leaves them
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common/baseline_store.h"
#include "common/db/sqlite.h"
#include "common/event_chain.h"
#include "common/seal_state.h"

using namespace vigil;

namespace {

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "seal_bench: %s\n", msg.c_str());
    std::exit(1);
}

template <class T>
T need(Result<T> r, const char* what) {
    if (!r) die(std::string(what) + ": " + r.error().message());
    return std::move(r.value());
}
void need(Result<void> r, const char* what) {
    if (!r) die(std::string(what) + ": " + r.error().message());
}

// Events shaped like the agent's: a path among 10,000, a full actor, hashes on modify.
std::vector<Event> make_events(std::size_t n, std::int64_t start_ns) {
    std::mt19937_64 rng(42);
    std::vector<Event> out(n);
    const Action actions[] = {Action::Open, Action::Read, Action::Modify, Action::Create};
    for (std::size_t i = 0; i < n; ++i) {
        Event& e = out[i];
        e.time_ns = start_ns + static_cast<std::int64_t>(i) * 1000;
        e.action = actions[rng() % 4];
        e.source = Source::Fanotify;
        e.path = "/srv/customers/eu/" + std::to_string(rng() % 10000) + ".csv";
        const auto uid = static_cast<std::int64_t>(1000 + rng() % 50);
        e.actor.uid = e.actor.euid = e.actor.gid = e.actor.auid = uid;
        e.actor.user = e.actor.login_user = "user" + std::to_string(uid);
        e.actor.pid = static_cast<std::int64_t>(rng() % 100000);
        e.actor.ppid = 1;
        e.actor.exe = "/usr/bin/python3.11";
        e.actor.comm = "python3";
        e.actor.cmdline = "python3 /opt/app/export.py --all";
        e.label = "customers";
        e.severity = "high";
        if (e.action == Action::Modify) {
            e.sha256_before = std::string(32, 'a');
            e.sha256_after = std::string(32, 'b');
        }
    }
    return out;
}

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Rate {
    double rows_per_s;
    double cpu_us_per_row;  // user + system: what sealing costs, without fsync's wait
};

Rate throughput(const std::string& dir, const std::vector<Event>& events, bool sealed, int run) {
    const std::string db_path = dir + "/tp-" + (sealed ? "sealed" : "plain") + "-" + std::to_string(run) + ".db";
    for (const char* suffix : {"", "-wal", "-shm", ".key", ".verification-key"}) ::unlink((db_path + suffix).c_str());
    auto db = need(db::Database::open(db_path, db::OpenMode::Create), "open");
    need(db.exec("PRAGMA cache_size = -65536"), "pragma");  // as the agent's writer
    std::optional<EventChain> chain;
    std::optional<EventAppender> plain;
    if (sealed) {
        auto txn = need(db::WriteTxn::begin(db), "begin");
        auto s = need(create_sealing(db, db_path, 900, 1), "create_sealing");
        need(txn.commit(), "commit");
        chain.emplace(need(EventChain::open(db, s.k0), "chain"));
    } else {
        plain.emplace(need(EventAppender::prepare(db), "appender"));
    }
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    for (std::size_t i = 0; i < events.size(); i += 1024) {
        auto txn = need(db::WriteTxn::begin(db), "begin");
        if (chain) need(chain->reload_tail(), "tail");  // as the writer, every batch
        for (std::size_t j = i; j < std::min(events.size(), i + 1024); ++j) {
            if (chain) {
                need(chain->append(events[j], "{}"), "append");
            } else {
                need(plain->append(events[j]), "append");
            }
        }
        need(txn.commit(), "commit");
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - c0;
    const auto n = static_cast<double>(events.size());
    return {n / s, cpu / n * 1e6};
}

void fill(const std::string& db_path, std::size_t n) {
    auto db = need(db::Database::open(db_path, db::OpenMode::Create), "open");
    SealKey key;
    {
        auto txn = need(db::WriteTxn::begin(db), "begin");
        key = need(create_sealing(db, db_path, 900, 1), "create_sealing").k0;
        need(txn.commit(), "commit");
    }
    const std::int64_t start = realtime_now_ns() - static_cast<std::int64_t>(n) * 1000 - 1'000'000'000;
    const auto events = make_events(n, start);
    auto chain = need(EventChain::open(db, key), "chain");
    for (std::size_t i = 0; i < n; i += 10'000) {
        auto txn = need(db::WriteTxn::begin(db), "begin");
        key = need(evolve_key_file(db_path, key), "evolve");
        need(chain.set_key(key), "set_key");
        need(chain.open_epoch("{\"reason\":\"bench\"}", events[i].time_ns), "checkpoint");
        for (std::size_t j = i; j < std::min(n, i + 10'000); ++j) need(chain.append(events[j], "{}"), "append");
        need(txn.commit(), "commit");
    }
    std::printf("filled=%zu tail_seq=%lld\n", n, static_cast<long long>(chain.tail().seq));
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 4 && args[0] == "throughput") {
        const auto n = std::stoul(args[2]);
        const int runs = std::stoi(args[3]);
        const auto events = make_events(n, realtime_now_ns() - 3'600'000'000'000);
        for (int run = 1; run <= runs; ++run) {
            for (const bool sealed : {false, true}) {
                const Rate rate = throughput(args[1], events, sealed, run);
                std::printf("mode=%s run=%d rows_per_s=%.0f cpu_us_per_row=%.2f\n", sealed ? "sealed" : "unsealed", run,
                            rate.rows_per_s, rate.cpu_us_per_row);
                std::fflush(stdout);
            }
        }
        return 0;
    }
    if (args.size() == 3 && args[0] == "fill") {
        fill(args[1], std::stoul(args[2]));
        return 0;
    }
    die("usage: seal_bench throughput DIR N RUNS | seal_bench fill DB N");
}
