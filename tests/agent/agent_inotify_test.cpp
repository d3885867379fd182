// vigild with --watcher inotify against the real kernel: the scenarios of the fanotify
// tests, where every event must arrive with its actor unknown (null, never guessed), plus
// what only inotify has to get right itself: renames paired from two events, directories
// moved in and out, a queue overflow (a lowered fs.inotify.max_queued_events) and an
// exhausted watch table (a private limit in a user namespace).
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/agent/agent_fixture.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using vigil::test::Agent;
using vigil::test::BackgroundProcess;
using vigil::test::find;
using vigil::test::InotifyQueueLock;
using vigil::test::QueuedEventsLimit;
using vigil::test::Row;
using vigil::test::trimmed;

namespace {

// inotify says nothing about who: every actor column stays null.
void check_no_actor(const Row& r) {
    for (const char* column :
         {"uid", "euid", "gid", "auid", "user", "login_user", "pid", "ppid", "exe", "comm", "cmdline"}) {
        INFO("column " << column << " of a " << r.at("action").value_or("?") << " row");
        CHECK_FALSE(r.at(column).has_value());
    }
}

}  // namespace

TEST_CASE("inotify: each kind of change is recorded, with no actor", "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    const auto alice = vigil::test::ensure_user("vigilalice");
    Agent agent("inotify");
    const std::string f = agent.root + "/report.txt";
    const std::string g = agent.root + "/final.txt";
    vigil::test::act_change_sequence(agent, alice, f, g);
    const auto rows = agent.stop();

    const auto created = find(rows, "create", f);
    REQUIRE(created.size() == 1);
    CHECK(created[0].at("source") == "inotify");
    CHECK(created[0].at("label") == "data");
    check_no_actor(created[0]);

    const auto modified = find(rows, "modify", f);
    REQUIRE(modified.size() == 1);
    REQUIRE(modified[0].at("sha256_after").has_value());
    CHECK(modified[0].at("sha256_after")->size() == 32);
    CHECK_FALSE(modified[0].at("sha256_before").has_value());  // a new file has no previous content
    check_no_actor(modified[0]);

    const auto attrib = find(rows, "attrib", f);
    REQUIRE(attrib.size() == 1);
    check_no_actor(attrib[0]);

    // One row for the rename, from the MOVED_FROM/MOVED_TO pair: no delete of the old name,
    // no create of the new one.
    const auto renamed = find(rows, "rename", g);
    REQUIRE(renamed.size() == 1);
    CHECK(renamed[0].at("old_path") == f);
    CHECK(renamed[0].at("source") == "inotify");
    check_no_actor(renamed[0]);
    CHECK(find(rows, "delete", f).empty());
    CHECK(find(rows, "create", g).empty());

    const auto deleted = find(rows, "delete", g);
    REQUIRE(deleted.size() == 1);
    CHECK(deleted[0].at("sha256_before") == modified[0].at("sha256_after"));
    check_no_actor(deleted[0]);

    const auto chowned = find(rows, "attrib", agent.root + "/existing");
    REQUIRE(chowned.size() == 1);
    check_no_actor(chowned[0]);

    for (const auto& r : rows) {
        if (r.at("source") == "inotify") check_no_actor(r);
    }
    CHECK(rows.front().at("action") == "checkpoint");  // the sealed chain opens each epoch with one
    CHECK(rows.at(1).at("action") == "agent_start");
    CHECK_THAT(rows.at(1).at("detail").value_or(""), Catch::Contains("\"watcher\":\"inotify\""));
    CHECK(rows.back().at("action") == "agent_stop");
}

TEST_CASE("inotify: reads of access-watched files are recorded without actor, the agent's own are not",
          "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    const auto bob = vigil::test::ensure_user("vigilbob");
    Agent agent("inotify");
    const std::string secret = agent.root + "/secret/customers.csv";
    {
        vigil::test::ActAs act(bob.uid, bob.gid, std::nullopt, {[&] {
                                   char buf[64];
                                   const int fd = ::open(secret.c_str(), O_RDONLY);
                                   if (fd < 0) return 1;
                                   const ssize_t n = ::read(fd, buf, sizeof buf);
                                   ::close(fd);
                                   return n > 0 ? 0 : 2;
                               }});
        REQUIRE(act.run_next() == 0);
        REQUIRE(agent.wait_for("read", secret));
    }
    vigil::test::read_file(agent.root + "/existing");  // modify-only rule: a read is not recorded
    // A write: one more open (the writer's), then the agent opens and reads the file to hash
    // it. inotify cannot tell that open and read from anyone's: the watcher must.
    vigil::test::append_file(secret, "2,Grace\n");
    REQUIRE(agent.wait_for("modify", secret));
    const auto rows = agent.stop();

    const auto opens = find(rows, "open", secret);
    CHECK(opens.size() == 2);  // bob's read, the append; not the hasher's
    for (const auto& o : opens) {
        CHECK(o.at("label") == "customers");
        CHECK(o.at("severity") == "critical");
        CHECK(o.at("source") == "inotify");
        check_no_actor(o);
    }
    const auto reads = find(rows, "read", secret);
    REQUIRE(reads.size() == 1);  // bob's only
    check_no_actor(reads[0]);
    const auto modified = find(rows, "modify", secret);
    REQUIRE(modified.size() == 1);
    CHECK(modified[0].at("sha256_after").has_value());
    CHECK_THAT(modified[0].at("detail").value_or(""), Catch::Contains("\"content_changed\":true"));
    CHECK(find(rows, "open", agent.root + "/existing").empty());
    // Directory listings (the agent's own when it marks and scans) are not recorded.
    CHECK(find(rows, "open", agent.root + "/secret").empty());
    CHECK(find(rows, "read", agent.root + "/secret").empty());
}

TEST_CASE("inotify: mkdir then a file inside at once, excluded subtrees stay silent", "[kernel][agent]") {
    Agent agent("inotify");
    const std::string d = agent.root + "/fresh/deeper";
    vigil::test::make_dirs(d);
    vigil::test::write_file(d + "/inner", "written immediately\n");
    vigil::test::write_file(agent.root + "/cache/ignored", "x");
    const auto rows = agent.stop();
    const auto fresh = find(rows, "create", agent.root + "/fresh");
    REQUIRE(fresh.size() == 1);
    CHECK(fresh[0].at("source") == "inotify");
    // Whether the kernel saw it (a watch was already there) or the scan of the new directory
    // found it (created before the watch), the file is recorded.
    const auto inner = find(rows, "create", d + "/inner");
    REQUIRE_FALSE(inner.empty());
    for (const auto& r : inner) {
        CHECK((r.at("source") == "inotify" || r.at("source") == "scan"));
        check_no_actor(r);
    }
    for (const auto& r : rows) {
        if (r.at("path")) CHECK(r.at("path")->find("/cache/") == std::string::npos);
    }
}

TEST_CASE("inotify: a write that leaves the content as it was says so", "[kernel][agent]") {
    Agent agent("inotify");
    vigil::test::write_file(agent.root + "/existing", "v1\n");
    const auto rows = agent.stop();
    const auto m = find(rows, "modify", agent.root + "/existing");
    REQUIRE(m.size() == 1);
    CHECK(m[0].at("sha256_before") == m[0].at("sha256_after"));
    CHECK_THAT(m[0].at("detail").value_or(""), Catch::Contains("\"content_changed\":false"));
    check_no_actor(m[0]);
}

TEST_CASE("inotify: directories moved in are watched, renamed ones followed, moved-out ones dropped",
          "[kernel][agent]") {
    Agent agent("inotify");
    const std::string outside = agent.dir / "outside";
    vigil::test::make_dirs(outside + "/sub");
    vigil::test::write_file(outside + "/before", "b");
    vigil::test::write_file(outside + "/sub/deep", "d");

    // Moved in from outside the tree: a create, its content found by the scan, then watched.
    const std::string moved = agent.root + "/moved";
    REQUIRE(::rename(outside.c_str(), moved.c_str()) == 0);
    REQUIRE(agent.wait_for("create", moved));
    vigil::test::write_file(moved + "/after", "a");
    vigil::test::write_file(moved + "/sub/after", "a");
    REQUIRE(agent.wait_for("create", moved + "/after"));
    REQUIRE(agent.wait_for("create", moved + "/sub/after"));

    // Renamed inside the tree: one rename, and the watches below it answer to the new name.
    const std::string renamed = agent.root + "/renamed";
    REQUIRE(::rename(moved.c_str(), renamed.c_str()) == 0);
    REQUIRE(agent.wait_for("rename", renamed));
    vigil::test::write_file(renamed + "/sub/again", "x");
    REQUIRE(agent.wait_for("create", renamed + "/sub/again"));

    // Moved out: a delete, and whatever happens to it afterwards is elsewhere, not here.
    const std::string gone = agent.dir / "gone";
    REQUIRE(::rename(renamed.c_str(), gone.c_str()) == 0);
    REQUIRE(agent.wait_for("delete", renamed));
    vigil::test::write_file(gone + "/sub/late", "l");
    vigil::test::write_file(gone + "/late", "l");
    vigil::test::write_file(agent.root + "/marker", "m");  // processed after the writes above
    REQUIRE(agent.wait_for("create", agent.root + "/marker"));
    const auto rows = agent.stop();

    const auto moved_in = find(rows, "create", moved);
    REQUIRE(moved_in.size() == 1);
    CHECK(moved_in[0].at("source") == "inotify");
    check_no_actor(moved_in[0]);
    const auto before = find(rows, "create", moved + "/before");
    REQUIRE(before.size() == 1);
    CHECK(before[0].at("source") == "scan");
    CHECK(find(rows, "create", moved + "/sub/deep").size() == 1);
    const auto after = find(rows, "create", moved + "/sub/after");
    REQUIRE(after.size() == 1);
    CHECK(after[0].at("source") == "inotify");

    const auto rename = find(rows, "rename", renamed);
    REQUIRE(rename.size() == 1);
    CHECK(rename[0].at("old_path") == moved);
    check_no_actor(rename[0]);
    CHECK(find(rows, "delete", moved).empty());
    CHECK(find(rows, "create", renamed).empty());
    const auto again = find(rows, "create", renamed + "/sub/again");
    REQUIRE(again.size() == 1);
    CHECK(again[0].at("source") == "inotify");

    CHECK(find(rows, "delete", renamed).size() == 1);
    for (const auto& r : rows) {
        if (r.at("path")) CHECK(r.at("path")->find("/late") == std::string::npos);
    }
}

TEST_CASE("inotify: a queue overflow is recorded, rescanned, and no file is missed", "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());  // writes /proc/sys/fs/inotify/max_queued_events
    Agent agent("inotify", "", false);
    {
        QueuedEventsLimit limit(16);
        agent.start(false);  // we hold the queue lock exclusively
        limit.restore();     // the agent's instance keeps its 16; nobody else gets it
    }
    // Stopped, the agent reads nothing: the kernel queues 16 events, then drops the rest.
    agent.proc->signal(SIGSTOP);
    constexpr int kFiles = 500;
    for (int i = 0; i < kFiles; ++i) vigil::test::write_file(agent.root + "/flood-" + std::to_string(i), "x");
    // A directory whose create is lost too: the rescan must watch it from now on.
    const std::string during = agent.root + "/during";
    vigil::test::make_dirs(during);
    vigil::test::write_file(during + "/inside", "y");
    agent.proc->signal(SIGCONT);

    REQUIRE(agent.wait_until([](const Row& r) { return r.at("action") == "rescan"; }, 60));
    vigil::test::write_file(during + "/later", "z");
    CHECK(agent.wait_for("create", during + "/later"));
    const auto rows = agent.stop();

    int overflows = 0;
    int rescans = 0;
    int scan_creates = 0;
    std::set<std::string> created;
    for (const auto& r : rows) {
        if (r.at("action") == "overflow" && r.at("source") == "inotify") {
            ++overflows;
            CHECK_THAT(r.at("detail").value_or(""), Catch::Contains("max_queued_events"));
        }
        rescans += r.at("action") == "rescan";
        if (r.at("action") == "create" && r.at("path")) {
            created.insert(*r.at("path"));
            scan_creates += r.at("source") == "scan";
        }
    }
    CHECK(overflows >= 1);
    CHECK(rescans >= 1);
    CHECK(scan_creates >= kFiles - 16);  // at most 16 were in the queue; the rest came from the rescan
    int missing = 0;
    for (int i = 0; i < kFiles; ++i) missing += created.count(agent.root + "/flood-" + std::to_string(i)) == 0;
    CHECK(missing == 0);
    CHECK(created.count(during + "/inside") == 1);
    const auto later = find(rows, "create", during + "/later");
    REQUIRE(later.size() == 1);
    CHECK(later[0].at("source") == "inotify");
}

TEST_CASE("inotify: an exhausted watch limit names the sysctl to raise", "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());  // a user namespace with a private watch limit
    Agent agent("inotify", "", false);
    for (int i = 0; i < 8; ++i) vigil::test::make_dirs(agent.root + "/many/d" + std::to_string(i));
    // fs.inotify.max_user_watches is shared by every root process on the host; the limit of
    // a fresh user namespace (user.max_inotify_watches) applies to this agent alone. Four:
    // one is the agent's overflow marker (a pipe), three are directories.
    {
        const InotifyQueueLock queue_lock(LOCK_SH);
        agent.proc = std::make_unique<BackgroundProcess>(
            "/usr/bin/unshare",
            std::vector<std::string>{"--user", "--map-root-user", "--", "/bin/sh", "-c",
                                     "echo 4 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"", VIGILD_BIN,
                                     "--policy", agent.policy, "--db", agent.db, "--watcher", "inotify"});
        INFO(agent.proc->output());
        REQUIRE(agent.proc->wait_for_output("ready"));
    }
    const std::string out = agent.proc->output();
    INFO(out);
    CHECK_THAT(out, Catch::Contains("inotify watch limit is exhausted"));
    CHECK_THAT(out, Catch::Contains("fs.inotify.max_user_watches = " +
                                    trimmed(vigil::test::read_file("/proc/sys/fs/inotify/max_user_watches"))));
    CHECK_THAT(out, Catch::Contains("sysctl fs.inotify.max_user_watches="));
    CHECK_THAT(out, Catch::Contains("ready: watching 3 directories with inotify"));
    agent.stop();
}

TEST_CASE("auto falls back to inotify when fanotify is refused, and says why", "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    const auto carol = vigil::test::ensure_user("vigilcarol");
    Agent agent("auto", "", false);
    const std::string state = agent.dir / "state";
    vigil::test::make_dirs(state);
    REQUIRE(::chown(state.c_str(), carol.uid, carol.gid) == 0);
    {
        // Not root: fanotify_init is refused (EPERM), inotify works for any user.
        const InotifyQueueLock queue_lock(LOCK_SH);
        agent.proc = std::make_unique<BackgroundProcess>(
            "/usr/bin/setpriv",
            std::vector<std::string>{"--reuid", std::to_string(carol.uid), "--regid", std::to_string(carol.gid),
                                     "--clear-groups", "--", VIGILD_BIN, "--policy", agent.policy, "--db", agent.db});
        INFO(agent.proc->output());
        REQUIRE(agent.proc->wait_for_output("ready"));
    }
    CHECK_THAT(agent.proc->output(), Catch::Contains("fanotify is not available"));
    CHECK_THAT(agent.proc->output(), Catch::Contains("falling back to inotify"));
    CHECK_THAT(agent.proc->output(), Catch::Contains("with inotify"));
    vigil::test::write_file(agent.root + "/unprivileged", "seen");
    REQUIRE(agent.wait_for("modify", agent.root + "/unprivileged"));
    const auto rows = agent.stop();
    const auto created = find(rows, "create", agent.root + "/unprivileged");
    REQUIRE(created.size() == 1);
    CHECK(created[0].at("source") == "inotify");
    check_no_actor(created[0]);
}

TEST_CASE("inotify: SIGTERM with events still queued loses none", "[kernel][agent]") {
    Agent agent("inotify");
    constexpr int kFiles = 3000;
    for (int i = 0; i < kFiles; ++i) vigil::test::write_file(agent.root + "/burst-" + std::to_string(i), "x");
    const auto rows = agent.stop();  // immediately: most events are still in the kernel queue
    int creates = 0;
    int modifies = 0;
    for (const auto& r : rows) {
        if (!r.at("path") || r.at("path")->find("/burst-") == std::string::npos) continue;
        creates += r.at("action") == "create";
        modifies += r.at("action") == "modify";
    }
    CHECK(creates == kFiles);
    CHECK(modifies == kFiles);
}

TEST_CASE("inotify: SIGHUP with a broken policy keeps the old one", "[kernel][agent]") {
    Agent agent("inotify");
    vigil::test::write_file(agent.policy, "{ broken");
    agent.proc->signal(SIGHUP);
    REQUIRE(agent.proc->wait_for_output("refused"));
    vigil::test::write_file(agent.root + "/after-hup", "still watched");
    const auto rows = agent.stop();
    CHECK(find(rows, "create", agent.root + "/after-hup").size() == 1);
}
