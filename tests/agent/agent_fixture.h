// The shared fixture of the agent integration tests: a temporary tree and policy, the
// built vigild started on it with a chosen watcher (--watcher auto|fanotify|inotify),
// waiting for rows by polling the database (readers never block the agent), and stopping
// it with SIGTERM before reading every row it wrote.
#pragma once

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sqlite3.h>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace vigil::test {

using Row = std::map<std::string, std::optional<std::string>>;

inline std::vector<Row> read_events(const std::string& db) {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "SELECT * FROM events ORDER BY id", -1, &st, nullptr) == SQLITE_OK);
    std::vector<Row> rows;
    while (sqlite3_step(st) == SQLITE_ROW) {
        Row row;
        for (int c = 0; c < sqlite3_column_count(st); ++c) {
            const std::string name = sqlite3_column_name(st, c);
            if (sqlite3_column_type(st, c) == SQLITE_NULL) {
                row[name] = std::nullopt;
            } else {
                const void* p = sqlite3_column_blob(st, c);
                row[name] =
                    std::string(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(st, c)));
            }
        }
        rows.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    sqlite3_close(raw);
    return rows;
}

inline std::vector<Row> find(const std::vector<Row>& rows, const std::string& action, const std::string& path) {
    std::vector<Row> out;
    for (const auto& r : rows)
        if (r.at("action") == action && r.at("path") == path) out.push_back(r);
    return out;
}

// fs.inotify.max_queued_events is global and read when an inotify instance is created:
// the overflow test lowers it for a moment and holds this lock exclusively meanwhile, and
// every inotify agent is started under it shared, so none is born with the tiny queue.
class InotifyQueueLock {
public:
    explicit InotifyQueueLock(int operation) {
        fd_ = ::open("/tmp/vigil-test-inotify-queue.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        REQUIRE(fd_ >= 0);
        REQUIRE(::flock(fd_, operation) == 0);
    }
    ~InotifyQueueLock() { ::close(fd_); }
    InotifyQueueLock(const InotifyQueueLock&) = delete;
    InotifyQueueLock& operator=(const InotifyQueueLock&) = delete;

private:
    int fd_ = -1;
};

// A sysctl's text without its trailing newline (and spaces).
inline std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// Lowers fs.inotify.max_queued_events (read by the kernel when an inotify instance is
// created) and puts the old value back however the test ends. Holds the queue lock
// exclusively meanwhile, so no other test's inotify agent is born with the tiny queue.
// Use: construct, start the agent with start(false), then restore().
class QueuedEventsLimit {
public:
    explicit QueuedEventsLimit(int value) : lock_(std::in_place, LOCK_EX) {
        old_ = trimmed(read_file(kPath));
        REQUIRE_FALSE(old_.empty());
        write_file(kPath, std::to_string(value) + "\n");
        armed_ = true;
        REQUIRE(trimmed(read_file(kPath)) == std::to_string(value));
    }
    ~QueuedEventsLimit() { restore(); }
    QueuedEventsLimit(const QueuedEventsLimit&) = delete;
    QueuedEventsLimit& operator=(const QueuedEventsLimit&) = delete;

    void restore() {
        if (armed_) write_file(kPath, old_ + "\n");
        armed_ = false;
        lock_.reset();
    }

private:
    static constexpr const char* kPath = "/proc/sys/fs/inotify/max_queued_events";
    std::optional<InotifyQueueLock> lock_;
    std::string old_;
    bool armed_ = false;
};

struct Agent {
    TempDir dir;
    std::string root = dir / "watched";
    std::string db = dir / "state/vigil.db";
    std::string policy = dir / "policy.json";
    std::string watcher;
    std::unique_ptr<BackgroundProcess> proc;

    // `watcher`: auto | fanotify | inotify. `rules_json`: the rules, or the default pair (the
    // tree with /cache excluded, and /secret watched for access).
    explicit Agent(std::string watcher_name = "auto", const std::string& rules_json = "", bool start_now = true)
        : watcher(std::move(watcher_name)) {
        make_dirs(root + "/secret");
        make_dirs(root + "/cache");
        write_file(root + "/existing", "v1\n");
        write_file(root + "/secret/customers.csv", "id,name\n1,Ada\n");
        ::chmod(root.c_str(), 0777);  // test users act inside
        ::chmod((root + "/secret").c_str(), 0755);
        ::chmod((root + "/secret/customers.csv").c_str(), 0644);
        const std::string rules = rules_json.empty()
                                      ? R"({"path":")" + root + R"(","exclude":[")" + root +
                                            R"(/cache"],"label":"data"},{"path":")" + root +
                                            R"(/secret","watch":"access","label":"customers","severity":"critical"})"
                                      : rules_json;
        // The audit subsystem is one per host: only tests/agent/audit_test.cpp uses it.
        write_file(policy, "{\"audit\":{\"enabled\":false},\"rules\":[" + rules + "]}");
        ::chmod(policy.c_str(), 0644);
        if (start_now) start();
    }

    // Adds a top-level setting to the policy before start(), e.g. R"("limits":{...})".
    void add_policy_setting(const std::string& member) const {
        std::string text = read_file(policy);
        text.insert(1, member + ",");
        write_file(policy, text);
        ::chmod(policy.c_str(), 0644);
    }

    // `queue_lock`: false when the caller already holds the queue lock (exclusively).
    void start(bool queue_lock = true) {
        std::optional<InotifyQueueLock> shared;
        if (watcher == "inotify" && queue_lock) shared.emplace(LOCK_SH);
        proc = std::make_unique<BackgroundProcess>(
            VIGILD_BIN, std::vector<std::string>{"--policy", policy, "--db", db, "--watcher", watcher});
        INFO(proc->output());
        REQUIRE(proc->wait_for_output("ready"));
    }

    // Polls the database until a row satisfies `pred`.
    bool wait_until(const std::function<bool(const Row&)>& pred, int seconds = 20) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (std::chrono::steady_clock::now() < deadline) {
            for (const auto& r : read_events(db))
                if (pred(r)) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

    // Polls the database until the row is there.
    bool wait_for(const std::string& action, const std::string& path, int seconds = 20) {
        return wait_until([&](const Row& r) { return r.at("action") == action && r.at("path") == path; }, seconds);
    }

    std::vector<Row> stop() {
        proc->signal(SIGTERM);
        const int code = proc->wait();
        INFO(proc->output());
        REQUIRE(code == 0);
        return read_events(db);
    }
};

// The agent's own status (`vigil status --format json`, published every second): its
// "agent" object, empty before the first one.
inline nlohmann::json status_of(const Agent& agent) {
    auto r = run_vigil({"status", "--db", agent.db, "--format", "json"});
    REQUIRE(r.exit_code == 0);
    const auto j = nlohmann::json::parse(r.out);
    return j["agent"].is_object() ? j["agent"] : nlohmann::json::object();
}

// Waits until the agent has caught up: no rescan pending or walking, both queues empty,
// no refused event waiting for its overflow row, and nothing written over three status
// updates. Returns the last status.
inline nlohmann::json wait_caught_up(const Agent& agent, int max_seconds = 300) {
    nlohmann::json last;
    std::uint64_t last_written = UINT64_MAX;
    for (int quiet = 0, rounds = 0; quiet < 3; ++rounds) {
        REQUIRE(rounds < max_seconds);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        last = status_of(agent);
        const bool idle = !last.value("rescan_running", true) && !last.value("rescan_pending", true) &&
                          last.value("queue_depth", 1) == 0 && last.value("hash_queue_depth", 1) == 0 &&
                          last.value("lost_unrecorded", 1) == 0;
        const auto written = last.value("events_written", std::uint64_t{0});
        quiet = idle && written == last_written ? quiet + 1 : 0;
        last_written = written;
    }
    return last;
}

// The change sequence both watchers' tests act out: `user` (logged in as 4242, then
// switched to their own uid, so auid != uid as after sudo) creates and writes `f`, chmods
// it, renames it to `g` and deletes it, one step at a time; each step waits for its row,
// so the file still exists when it is hashed and the process is still there to be
// attributed. Then root chowns `existing`.
inline void act_change_sequence(Agent& agent, const TestUser& user, const std::string& f, const std::string& g) {
    {
        ActAs act(user.uid, user.gid, 4242,
                  {[&] {
                       const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
                       if (fd < 0 || ::write(fd, "draft\n", 6) != 6) return 1;
                       return ::close(fd);
                   },
                   [&] { return ::chmod(f.c_str(), 0600); }, [&] { return ::rename(f.c_str(), g.c_str()); },
                   [&] { return ::unlink(g.c_str()); }});
        REQUIRE(act.run_next() == 0);
        REQUIRE(agent.wait_for("modify", f));
        REQUIRE(act.run_next() == 0);
        REQUIRE(agent.wait_for("attrib", f));
        REQUIRE(act.run_next() == 0);
        REQUIRE(agent.wait_for("rename", g));
        REQUIRE(act.run_next() == 0);
        REQUIRE(agent.wait_for("delete", g));
    }
    REQUIRE(::chown((agent.root + "/existing").c_str(), user.uid, user.gid) == 0);
    REQUIRE(agent.wait_for("attrib", agent.root + "/existing"));
}

}  // namespace vigil::test
