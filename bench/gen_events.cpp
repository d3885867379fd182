// Synthetic event log for bench/query.sh (issue 4): fills a fresh Vigil database with N
// events through vigil's own writer (EventAppender, 10,000 rows per transaction), spread
// over the 30 days that end at "now", so that `--since 24h` means the last day of data.
//
//   gen_events gen DB N [SEED]     write the database; prints what it wrote and the probe
//                                  values the benchmark queries (key=value lines)
//   gen_events report DB [RUNS]    time vigil::build_report (the nightly report's event
//                                  summary) over the last 24 h with an empty DiffResult:
//                                  prints one "ms=... accesses=... events=..." line per run
//   gen_events plans DB PATH USER  EXPLAIN QUERY PLAN of the SQL vigil query builds
//                                  (vigil::explain_event_query) for the benchmark's filters
//
// The shape (deterministic for a given SEED):
// - 100,000 distinct paths: /srv/customers/<region>/<id>.csv (40k, label "customers"),
//   /srv/finance/<year>/<n>.xlsx (10k, label "finance"), /home/<user>/... (40k),
//   /etc/... (2k; /etc/ssh and /etc/sudoers.d labelled "auth", a few files severity
//   critical), /var/log/... (1k), /opt/app/... (7k). Popularity is Zipf (s = 0.9) over a
//   random permutation of the paths, so a few files get most events and most get few.
// - 50 users, Zipf (s = 1.1): root first (uid 0), then service accounts and people.
// - actions: open 35%, read 30%, modify 24%, create 4%, delete 3%, rename 2%, attrib 2%;
//   sources: fanotify 90% (full actor), inotify 5% (no actor), scan 5% (no actor);
//   modify rows carry sha256 before/after; 0.1% of rows unexpected; one agent restart a day.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common/baseline_store.h"
#include "common/db/sqlite.h"
#include "common/event.h"
#include "common/event_query.h"
#include "common/report.h"

using namespace vigil;

namespace {

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "gen_events: %s\n", msg.c_str());
    std::exit(1);
}

struct PathInfo {
    std::string path;
    std::optional<std::string> label;
    std::optional<std::string> severity;
};

struct User {
    std::string name;
    std::int64_t uid;
};

class Zipf {
public:
    Zipf(std::size_t n, double s) : cdf_(n) {
        double sum = 0;
        for (std::size_t k = 0; k < n; ++k) cdf_[k] = (sum += 1.0 / std::pow(double(k + 1), s));
        for (auto& c : cdf_) c /= sum;
    }
    template <class R>
    std::size_t operator()(R& rng) {
        const double u = std::uniform_real_distribution<double>(0, 1)(rng);
        return std::min<std::size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin(), cdf_.size() - 1);
    }
    double p(std::size_t k) const { return cdf_[k] - (k ? cdf_[k - 1] : 0); }

private:
    std::vector<double> cdf_;
};

const char* kRegions[] = {"eu", "us", "apac", "latam"};
const int kRegionShare[] = {16000, 12000, 8000, 4000};  // 40k customer files

std::vector<PathInfo> make_paths(std::mt19937_64& rng, const std::vector<User>& users) {
    std::vector<PathInfo> p;
    p.reserve(100000);
    for (int r = 0; r < 4; ++r)
        for (int i = 0; i < kRegionShare[r]; ++i)
            p.push_back({"/srv/customers/" + std::string(kRegions[r]) + "/" + std::to_string(100000 + i * 7) + ".csv",
                         "customers", std::nullopt});
    for (int i = 0; i < 10000; ++i)
        p.push_back({"/srv/finance/" + std::to_string(2016 + i % 10) + "/ledger-" + std::to_string(i) + ".xlsx",
                     "finance", std::nullopt});
    // 40k files in the home directories of the 49 non-root users (~816 each).
    const char* kinds[] = {"notes/", "src/", "Downloads/", ".cache/", "reports/"};
    for (int i = 0; i < 40000; ++i) {
        const User& u = users[1 + i % 49];
        p.push_back({"/home/" + u.name + "/" + kinds[(i / 49) % 5] + "f" + std::to_string(i) + ".txt", std::nullopt,
                     std::nullopt});
    }
    const char* crit[] = {"/etc/shadow", "/etc/passwd", "/etc/sudoers", "/etc/ssh/sshd_config", "/etc/group"};
    for (const char* c : crit) {
        const std::string s(c);
        const bool auth = s.rfind("/etc/ssh/", 0) == 0 || s == "/etc/sudoers";
        p.push_back({s, auth ? std::optional<std::string>("auth") : std::nullopt, "critical"});
    }
    for (int i = 0; i < 1995; ++i) {
        if (i < 200)
            p.push_back({"/etc/ssh/keys-" + std::to_string(i), "auth", std::nullopt});
        else if (i < 300)
            p.push_back({"/etc/sudoers.d/rule-" + std::to_string(i), "auth", std::nullopt});
        else
            p.push_back({"/etc/conf.d/pkg" + std::to_string(i / 10) + "/file" + std::to_string(i) + ".conf",
                         std::nullopt, std::nullopt});
    }
    for (int i = 0; i < 1000; ++i)
        p.push_back(
            {"/var/log/app/" + std::to_string(i / 50) + "/log." + std::to_string(i), std::nullopt, std::nullopt});
    for (int i = 0; i < 7000; ++i)
        p.push_back({"/opt/app/lib/mod" + std::to_string(i / 100) + "/part" + std::to_string(i) + ".py", std::nullopt,
                     std::nullopt});
    if (p.size() != 100000) die("path count " + std::to_string(p.size()));
    std::shuffle(p.begin(), p.end(), rng);  // popularity rank = position
    return p;
}

std::vector<User> make_users() {
    std::vector<User> u{{"root", 0}, {"svc-etl", 990}, {"svc-backup", 991}, {"alice", 1001}, {"bob", 1002}};
    for (int i = 5; i < 50; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "user%02d", i);
        u.push_back({name, 1000 + i});
    }
    return u;
}

std::string hash32(std::mt19937_64& rng) {
    std::string h(32, '\0');
    for (int i = 0; i < 32; i += 8) {
        const std::uint64_t v = rng();
        for (int j = 0; j < 8; ++j) h[i + j] = char(v >> (8 * j));
    }
    return h;
}

int gen(const std::string& path, std::int64_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto users = make_users();
    const auto paths = make_paths(rng, users);
    Zipf path_rank(paths.size(), 0.9);
    Zipf user_rank(users.size(), 1.1);
    const char* exes[] = {"/usr/bin/python3", "/usr/bin/cat",  "/usr/bin/vim",  "/usr/bin/rsync",
                          "/usr/sbin/sshd",   "/usr/bin/bash", "/usr/bin/less", "/opt/app/bin/etl"};

    auto db = db::Database::open(path, db::OpenMode::Create);
    if (!db) die(db.error().message());
    auto app = EventAppender::prepare(db.value());
    if (!app) die(app.error().message());

    const std::int64_t end = realtime_now_ns();
    const std::int64_t span = std::int64_t(30) * 86400 * 1000000000LL;
    const std::int64_t start = end - span;
    const std::int64_t step = span / std::max<std::int64_t>(n, 1);
    const std::int64_t day = 86400 * 1000000000LL;
    std::int64_t next_restart = start + day / 2;
    std::uniform_int_distribution<int> pct(0, 999);
    const auto t0 = std::chrono::steady_clock::now();
    std::int64_t written = 0, extra = 0;
    const std::int64_t batch = 10000;
    while (written < n) {
        auto txn = db::WriteTxn::begin(db.value());
        if (!txn) die(txn.error().message());
        for (std::int64_t b = 0; b < batch && written < n; ++b, ++written) {
            const std::int64_t t =
                start + written * step + std::int64_t(rng() % std::uint64_t(std::max<std::int64_t>(step, 1)));
            if (t >= next_restart) {  // a daily agent restart (upgrade, reboot): 2 s down
                Event s;
                s.time_ns = next_restart;
                s.action = Action::AgentStop;
                s.source = Source::Cli;
                Event a = s;
                a.time_ns = next_restart + 2000000000LL;
                a.action = Action::AgentStart;
                if (auto r = app->append(s); !r) die(r.error().message());
                if (auto r = app->append(a); !r) die(r.error().message());
                extra += 2;
                next_restart += day;
            }
            const PathInfo& pi = paths[path_rank(rng)];
            Event e;
            e.time_ns = t;
            e.path = pi.path;
            e.label = pi.label;
            e.severity = pi.severity;
            const int a = pct(rng);
            e.action = a < 350   ? Action::Open
                       : a < 650 ? Action::Read
                       : a < 890 ? Action::Modify
                       : a < 930 ? Action::Create
                       : a < 960 ? Action::Delete
                       : a < 980 ? Action::Rename
                                 : Action::Attrib;
            if (e.action == Action::Rename) e.old_path = pi.path + ".tmp";
            if (e.action == Action::Modify) {
                e.sha256_before = hash32(rng);
                e.sha256_after = hash32(rng);
            }
            const int s = pct(rng);
            e.source = s < 900 ? Source::Fanotify : s < 950 ? Source::Inotify : Source::Scan;
            if (e.source == Source::Fanotify) {
                const User& u = users[user_rank(rng)];
                // 10% of root's rows come through sudo: auid/login_user name the human.
                const User& login = (u.uid == 0 && pct(rng) < 100) ? users[3 + pct(rng) % 2] : u;
                e.actor.uid = u.uid;
                e.actor.euid = u.uid;
                e.actor.gid = u.uid;
                e.actor.auid = login.uid;
                e.actor.user = u.name;
                e.actor.login_user = login.name;
                e.actor.pid = 1000 + std::int64_t(rng() % 400000);
                e.actor.ppid = 1 + std::int64_t(rng() % 5000);
                const char* exe = exes[rng() % 8];
                e.actor.exe = exe;
                const std::string comm = std::string(exe).substr(std::string(exe).rfind('/') + 1);
                e.actor.comm = comm;
                e.actor.cmdline = comm + " " + pi.path;
            }
            e.unexpected = pct(rng) < 1;
            if (auto r = app->append(e); !r) die(r.error().message());
        }
        if (auto r = txn->commit(); !r) die(r.error().message());
        if (written % 500000 == 0 || written == n)
            std::fprintf(stderr, "  %lld events, %.1f s\n", (long long)written,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    // Probe values for the queries (rank 0 = the busiest path, rank 1000 = a typical one).
    std::printf("events=%lld\nextra_rows=%lld\nend_ns=%lld\n", (long long)written, (long long)extra, (long long)end);
    std::printf("hot_path=%s\nhot_path_share=%.5f\n", paths[0].path.c_str(), path_rank.p(0));
    std::printf("typical_path=%s\ntypical_path_share=%.7f\n", paths[1000].path.c_str(), path_rank.p(1000));
    std::printf("typical_user=%s\ntypical_user_share=%.4f\n", users[5].name.c_str(), user_rank.p(5));
    std::printf("root_share=%.4f\n", user_rank.p(0));
    std::printf("insert_s=%.1f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
}

int report(const std::string& path, int runs) {
    auto db = db::Database::open(path, db::OpenMode::ReadOnly);
    if (!db) die(db.error().message());
    for (int i = 0; i < runs; ++i) {
        const std::int64_t now = realtime_now_ns();
        const DiffResult diff;  // no findings: only the event summary of the window
        const auto t0 = std::chrono::steady_clock::now();
        auto r = build_report(db.value(), diff, CheckContext{}, now - 86400 * 1000000000LL, now);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (!r) die(r.error().message());
        std::int64_t acc = 0;
        for (const auto& g : r->accesses) acc += g.events;
        std::printf("ms=%.1f access_groups=%zu access_events=%lld window_events=%lld unexpected=%lld downtimes=%zu\n",
                    ms, r->accesses.size(), (long long)acc, (long long)r->health.events, (long long)r->unexpected,
                    r->health.downtime.size());
    }
    return 0;
}

int plans(const std::string& path, const std::string& probe_path, const std::string& probe_user) {
    auto db = db::Database::open(path, db::OpenMode::ReadOnly);
    if (!db) die(db.error().message());
    const std::int64_t now = realtime_now_ns();
    const std::int64_t day = 86400 * 1000000000LL;
    auto show = [&](const std::string& title, const EventFilter& f) {
        auto p = explain_event_query(db.value(), f);
        if (!p) die(p.error().message());
        std::printf("%s\n", title.c_str());
        for (const auto& line : p.value()) std::printf("    %s\n", line.c_str());
    };
    EventFilter f;
    f.path = probe_path;
    show("--path " + probe_path + " (vigil history runs the same two index searches per name)", f);
    f = {};
    f.user = probe_user;  // not in this machine's passwd: by name only
    f.since_ns = now - day;
    show("--user " + probe_user + " --since 24h", f);
    f = {};
    f.uid = 0;  // what getpwnam("root") adds
    f.user = "root";
    f.since_ns = now - day;
    show("--user root --since 24h", f);
    f.limit = 20;
    show("--user root --since 24h --limit 20", f);
    f = {};
    f.under = "/srv/customers/eu";
    f.since_ns = now - 7 * day;
    show("--under /srv/customers/eu --since 7d", f);
    f = {};
    f.label = "customers";
    f.since_ns = now - day;
    show("--label customers --since 24h", f);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 4 && std::string(argv[1]) == "gen")
        return gen(argv[2], std::atoll(argv[3]), argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 4);
    if (argc >= 3 && std::string(argv[1]) == "report") return report(argv[2], argc > 3 ? std::atoi(argv[3]) : 1);
    if (argc >= 5 && std::string(argv[1]) == "plans") return plans(argv[2], argv[3], argv[4]);
    std::fprintf(stderr,
                 "usage: gen_events gen DB N [SEED] | gen_events report DB [RUNS] | gen_events plans DB PATH USER\n");
    return 2;
}
