// The database's filesystem fills up while the agent records: it keeps what it accepted
// in memory, says so loudly, retries, and writes everything once space returns — no gap,
// no corrupt database, a sealed chain that still verifies. The filesystem is a small
// tmpfs the test mounts (CI runs as root).
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <sqlite3.h>
#include <thread>

#include "tests/agent/agent_fixture.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace {

class SmallTmpfs {
public:
    SmallTmpfs(const std::string& dir, const char* size) : dir_(dir) {
        vigil::test::make_dirs(dir);
        const std::string options = std::string("size=") + size + ",mode=0700";
        REQUIRE(::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0);
    }
    ~SmallTmpfs() { ::umount2(dir_.c_str(), MNT_DETACH); }
    SmallTmpfs(const SmallTmpfs&) = delete;
    SmallTmpfs& operator=(const SmallTmpfs&) = delete;

private:
    std::string dir_;
};

// Writes zeros to `path` until the filesystem is full; returns the bytes written.
std::size_t fill(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const std::string chunk(4096, '\0');
    std::size_t total = 0;
    while (::write(fd, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size())) total += chunk.size();
    CHECK(errno == ENOSPC);
    ::close(fd);
    return total;
}

std::string integrity(const std::string& db) {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    std::string result = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(raw);
    return result;
}

}  // namespace

TEST_CASE("a full disk under the database loses nothing the agent accepted", "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    vigil::test::Agent agent("fanotify", "", false);
    const std::string state = agent.dir / "state";
    const SmallTmpfs fs(state, "8m");
    agent.start();  // database, baseline and keys on the small filesystem

    const std::string filler = state + "/filler";
    REQUIRE(fill(filler) > 0);
    constexpr int kFiles = 300;
    for (int i = 0; i < kFiles; ++i) vigil::test::write_file(agent.root + "/f" + std::to_string(i), "data\n");
    // The writer cannot commit: it must say so and hold on to the batch.
    REQUIRE(agent.proc->wait_for_output("retrying", 30));

    REQUIRE(::unlink(filler.c_str()) == 0);  // space returns
    REQUIRE(agent.wait_until(
        [&](const vigil::test::Row& r) {
            return r.at("action") == "modify" && r.at("path") == agent.root + "/f" + std::to_string(kFiles - 1);
        },
        60));
    const auto rows = agent.stop();
    int created = 0;
    int modified = 0;
    for (int i = 0; i < kFiles; ++i) {
        const std::string p = agent.root + "/f" + std::to_string(i);
        created += vigil::test::find(rows, "create", p).empty() ? 0 : 1;
        modified += vigil::test::find(rows, "modify", p).empty() ? 0 : 1;
    }
    CHECK(created == kFiles);
    CHECK(modified == kFiles);
    for (const auto& r : rows) CHECK(r.at("action") != "overflow");  // held in memory, not dropped
    CHECK(integrity(agent.db) == "ok");
    auto verify = vigil::test::run_vigil({"verify", "--db", agent.db, "--key-file", agent.db + ".verification-key"});
    INFO(verify.out << verify.err);
    CHECK(verify.exit_code == 0);
}

TEST_CASE("past its memory bound under a full disk the agent counts what it lost, then repairs it",
          "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    vigil::test::Agent agent("fanotify", "", false);
    std::string text = vigil::test::read_file(agent.policy);
    text.insert(1, R"("limits":{"queue_memory_mb":16},)");
    vigil::test::write_file(agent.policy, text);
    ::chmod(agent.policy.c_str(), 0644);
    const std::string state = agent.dir / "state";
    // Room for the whole record once space returns (~60,000 rows with their indexes and
    // WAL): on a filesystem smaller than that, the disk would simply fill up again.
    const SmallTmpfs fs(state, "128m");
    agent.start();

    const std::string filler = state + "/filler";
    REQUIRE(fill(filler) > 0);
    // ~60,000 events (a create and a write each): far more than 16 MiB of queued events.
    constexpr int kFiles = 30'000;
    vigil::test::make_dirs(agent.root + "/burst");
    for (int i = 0; i < kFiles; ++i) vigil::test::write_file(agent.root + "/burst/f" + std::to_string(i), "d\n");
    REQUIRE(agent.proc->wait_for_output("retrying", 30));

    REQUIRE(::unlink(filler.c_str()) == 0);
    // The count of what was lost is recorded, and the rescan finds every file.
    auto missing_in = [&](const std::vector<vigil::test::Row>& rows) {
        std::set<std::string> seen;
        for (const auto& r : rows)
            if (r.at("path") && (r.at("action") == "create" || r.at("action") == "modify")) seen.insert(*r.at("path"));
        int missing = 0;
        for (int i = 0; i < kFiles; ++i) missing += seen.count(agent.root + "/burst/f" + std::to_string(i)) ? 0 : 1;
        return missing;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    while (missing_in(vigil::test::read_events(agent.db)) != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto rows = agent.stop();
    std::uint64_t lost = 0;
    bool rescanned = false;
    for (const auto& r : rows) {
        rescanned = rescanned || r.at("action") == "rescan";
        if (r.at("action") != "overflow") continue;
        INFO(r.at("detail").value_or(""));
        const auto detail = r.at("detail").value_or("");
        CHECK_THAT(detail, Catch::Contains("\"first_lost\"") && Catch::Contains("\"last_lost\""));
        const auto at = detail.find("\"lost\":");
        REQUIRE(at != std::string::npos);
        lost += std::stoull(detail.substr(at + 7));
    }
    CHECK(lost > 0);
    CHECK(rescanned);
    const int missing = missing_in(rows);
    CHECK(missing == 0);  // by its own row, or found by the rescan (source scan)
    CHECK(integrity(agent.db) == "ok");
    auto verify = vigil::test::run_vigil({"verify", "--db", agent.db, "--key-file", agent.db + ".verification-key"});
    INFO(verify.out << verify.err);
    CHECK(verify.exit_code == 0);
}
