// vigild against the real kernel: start the built agent on a temporary tree, act as real
// users (useradd, fork, setuid; a login uid written first, as a login would), stop it
// with SIGTERM, then read the rows it wrote.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sha256.h"
#include "tests/agent/agent_fixture.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using vigil::test::Agent;
using vigil::test::BackgroundProcess;
using vigil::test::find;
using vigil::test::Row;

TEST_CASE("fanotify: each kind of change is recorded with its actor", "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    const auto alice = vigil::test::ensure_user("vigilalice");
    Agent agent("fanotify");
    const std::string f = agent.root + "/report.txt";
    const std::string g = agent.root + "/final.txt";
    vigil::test::act_change_sequence(agent, alice, f, g);
    const auto rows = agent.stop();

    const auto created = find(rows, "create", f);
    REQUIRE(created.size() == 1);
    const Row& c = created[0];
    CHECK(c.at("uid") == std::to_string(alice.uid));
    CHECK(c.at("euid") == std::to_string(alice.uid));
    CHECK(c.at("auid") == "4242");
    CHECK(c.at("user") == "vigilalice");
    CHECK(c.at("source") == "fanotify");
    CHECK(c.at("label") == "data");
    CHECK(c.at("pid").has_value());
    CHECK(c.at("exe").has_value());
    CHECK(c.at("cmdline").has_value());

    const auto modified = find(rows, "modify", f);
    REQUIRE(modified.size() == 1);
    REQUIRE(modified[0].at("sha256_after").has_value());
    CHECK(modified[0].at("sha256_after")->size() == 32);
    CHECK_FALSE(modified[0].at("sha256_before").has_value());  // a new file has no previous content
    CHECK(modified[0].at("uid") == std::to_string(alice.uid));

    const auto attrib = find(rows, "attrib", f);
    REQUIRE(attrib.size() == 1);
    CHECK(attrib[0].at("auid") == "4242");
    const auto renamed = find(rows, "rename", g);
    REQUIRE(renamed.size() == 1);
    CHECK(renamed[0].at("old_path") == f);
    CHECK(renamed[0].at("user") == "vigilalice");
    const auto deleted = find(rows, "delete", g);
    REQUIRE(deleted.size() == 1);
    CHECK(deleted[0].at("sha256_before") == modified[0].at("sha256_after"));
    CHECK(deleted[0].at("uid") == std::to_string(alice.uid));

    const auto chowned = find(rows, "attrib", agent.root + "/existing");
    REQUIRE(chowned.size() == 1);
    CHECK(chowned[0].at("uid") == "0");

    CHECK(rows.front().at("action") == "checkpoint");  // the sealed chain opens each epoch with one
    CHECK(rows.at(1).at("action") == "agent_start");
    CHECK(rows.back().at("action") == "agent_stop");
}

TEST_CASE("fanotify: reads of access-watched files are recorded, the agent's own are not", "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    const auto bob = vigil::test::ensure_user("vigilbob");
    Agent agent("fanotify");
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
    const auto rows = agent.stop();
    const auto opens = find(rows, "open", secret);
    REQUIRE(opens.size() == 1);
    CHECK(opens[0].at("uid") == std::to_string(bob.uid));
    CHECK(opens[0].at("label") == "customers");
    CHECK(opens[0].at("severity") == "critical");
    CHECK(find(rows, "read", secret).size() == 1);
    CHECK(find(rows, "open", agent.root + "/existing").empty());
    // The agent's own rows (start, stop, and under load overflow or rescan) name no file:
    // its hashing and walking never show up as an access.
    for (const auto& r : rows) {
        if (r.at("comm") != "vigild") continue;
        INFO(r.at("action").value_or("") << " " << r.at("path").value_or("") << " " << r.at("detail").value_or(""));
        CHECK_FALSE(r.at("path").has_value());
    }
}

TEST_CASE("fanotify: mkdir then a file inside at once, excluded subtrees stay silent", "[kernel][agent]") {
    Agent agent("fanotify");
    const std::string d = agent.root + "/fresh/deeper";
    vigil::test::make_dirs(d);
    vigil::test::write_file(d + "/inner", "written immediately\n");
    vigil::test::write_file(agent.root + "/cache/ignored", "x");
    const auto rows = agent.stop();
    // The filesystem mark covers a directory from its first instant: every step is the
    // kernel's own event, with its actor, none rebuilt by a scan.
    for (const std::string& p : {agent.root + "/fresh", d, d + "/inner"}) {
        const auto created = find(rows, "create", p);
        REQUIRE(created.size() == 1);
        CHECK(created[0].at("source") == "fanotify");
        CHECK(created[0].at("pid").has_value());
    }
    const auto written = find(rows, "modify", d + "/inner");
    REQUIRE(written.size() == 1);
    CHECK(written[0].at("source") == "fanotify");
    CHECK(written[0].at("pid") == std::to_string(::getpid()));
    const auto digest = vigil::sha256_bytes("written immediately\n").value();
    CHECK(written[0].at("sha256_after") == std::string(vigil::digest_bytes(digest)));
    for (const auto& r : rows) {
        if (!r.at("path")) continue;  // agent_start, agent_stop
        CHECK(r.at("path")->find("/cache/") == std::string::npos);
        CHECK(r.at("source") != "scan");
    }
}

TEST_CASE("fanotify: a new directory in an access-watched tree has its first reads recorded", "[kernel][agent]") {
    Agent agent("fanotify");
    const std::string d = agent.root + "/secret/new/deeper";
    vigil::test::make_dirs(d);
    vigil::test::write_file(d + "/export.csv", "id\n");
    CHECK(vigil::test::read_file(d + "/export.csv") == "id\n");
    vigil::test::make_dirs(agent.root + "/plain/new");
    vigil::test::write_file(agent.root + "/plain/new/f", "x");
    CHECK(vigil::test::read_file(agent.root + "/plain/new/f") == "x");
    const auto rows = agent.stop();
    const auto opens = find(rows, "open", d + "/export.csv");
    REQUIRE_FALSE(opens.empty());  // to write it, then to read it (the kernel may merge the two)
    for (const auto& o : opens) CHECK(o.at("pid") == std::to_string(::getpid()));
    CHECK(find(rows, "read", d + "/export.csv").size() == 1);
    // The modify-only tree beside it: its change is recorded, its opens and reads are not.
    CHECK(find(rows, "modify", agent.root + "/plain/new/f").size() == 1);
    CHECK(find(rows, "open", agent.root + "/plain/new/f").empty());
    CHECK(find(rows, "read", agent.root + "/plain/new/f").empty());
}

TEST_CASE("fanotify on inode marks: a new directory's early writes are found by its scan", "[kernel][agent]") {
    // What a filesystem that refuses filesystem marks gets (btrfs subvolumes, some FUSE).
    REQUIRE(::setenv("VIGIL_FANOTIFY_INODE_MARKS", "1", 1) == 0);
    Agent agent("fanotify");
    REQUIRE(::unsetenv("VIGIL_FANOTIFY_INODE_MARKS") == 0);
    const std::string d = agent.root + "/fresh/deeper";
    vigil::test::make_dirs(d);
    vigil::test::write_file(d + "/inner", "written immediately\n");
    const auto rows = agent.stop();
    CHECK(find(rows, "create", agent.root + "/fresh").size() == 1);
    CHECK_FALSE(find(rows, "create", d + "/inner").empty());
    // Its content is known whether the kernel reported the write or the new directory's
    // scan found it already written: a change is never undetected.
    const auto written = find(rows, "modify", d + "/inner");
    REQUIRE_FALSE(written.empty());
    const auto digest = vigil::sha256_bytes("written immediately\n").value();
    CHECK(written.back().at("sha256_after") == std::string(vigil::digest_bytes(digest)));
}

TEST_CASE("fanotify: directories moved into the tree are watched, moved out are not", "[kernel][agent]") {
    Agent agent("fanotify");
    const std::string outside = agent.dir / "outside";
    vigil::test::make_dirs(outside + "/sub");
    vigil::test::write_file(outside + "/sub/before", "noise\n");  // an event the agent learns to ignore
    vigil::test::write_file(agent.root + "/existing", "v2\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/existing"));

    const std::string moved_in = agent.root + "/arrived";
    REQUIRE(::rename(outside.c_str(), moved_in.c_str()) == 0);
    REQUIRE(agent.wait_for("rename", moved_in));
    vigil::test::write_file(moved_in + "/sub/after", "inside now\n");
    REQUIRE(agent.wait_for("modify", moved_in + "/sub/after"));

    const std::string gone = agent.dir / "gone";
    REQUIRE(::rename(moved_in.c_str(), gone.c_str()) == 0);
    REQUIRE(agent.wait_until([&](const Row& r) { return r.at("action") == "rename" && r.at("old_path") == moved_in; }));
    vigil::test::write_file(gone + "/sub/later", "outside again\n");
    vigil::test::write_file(agent.root + "/existing", "v3\n");  // a marker after the write outside
    const auto digest3 = vigil::sha256_bytes("v3\n").value();
    REQUIRE(agent.wait_until([&](const Row& r) {
        return r.at("action") == "modify" && r.at("sha256_after") == std::string(vigil::digest_bytes(digest3));
    }));
    const auto rows = agent.stop();

    CHECK(find(rows, "create", moved_in + "/sub/before").size() == 1);  // found by the scan
    const auto after = find(rows, "modify", moved_in + "/sub/after");
    REQUIRE(after.size() == 1);
    CHECK(after[0].at("source") == "fanotify");
    const auto moved_out = find(rows, "rename", gone);  // recorded with where it went
    REQUIRE(moved_out.size() == 1);
    CHECK(moved_out[0].at("old_path") == moved_in);
    for (const auto& r : rows) {
        const std::string p = r.at("path").value_or("");
        CHECK(p.find("/outside") == std::string::npos);
        CHECK(p.find("/later") == std::string::npos);
    }
}

TEST_CASE("fanotify: a write that leaves the content as it was says so", "[kernel][agent]") {
    Agent agent("fanotify");
    vigil::test::write_file(agent.root + "/existing", "v1\n");
    const auto rows = agent.stop();
    const auto m = find(rows, "modify", agent.root + "/existing");
    REQUIRE(m.size() == 1);
    CHECK(m[0].at("sha256_before") == m[0].at("sha256_after"));
    CHECK_THAT(m[0].at("detail").value_or(""), Catch::Contains("\"content_changed\":false"));
}

TEST_CASE("SIGTERM with events still queued loses none", "[kernel][agent]") {
    Agent agent;
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

TEST_CASE("SIGHUP with a broken policy keeps the old one", "[kernel][agent]") {
    Agent agent;
    vigil::test::write_file(agent.policy, "{ broken");
    agent.proc->signal(SIGHUP);
    REQUIRE(agent.proc->wait_for_output("refused"));
    vigil::test::write_file(agent.root + "/after-hup", "still watched");
    const auto rows = agent.stop();
    CHECK(find(rows, "create", agent.root + "/after-hup").size() == 1);
}

TEST_CASE("two agents never write one database", "[kernel][agent]") {
    Agent agent;
    BackgroundProcess second(VIGILD_BIN, {"--policy", agent.policy, "--db", agent.db});
    CHECK(second.wait() == 18);
    CHECK_THAT(second.output(), Catch::Contains("another vigild"));
    agent.stop();
}

TEST_CASE("fanotify: the agent's hashing does not come back to it as events", "[kernel][root][agent]") {
    // The hasher opens files through a private clone of their mount that carries an
    // ignore mark: the kernel drops its opens and reads instead of queueing them.
    REQUIRE(vigil::test::running_as_root());
    Agent agent("fanotify");
    const auto before = vigil::test::wait_caught_up(agent);
    constexpr int kFiles = 200;
    for (int i = 0; i < kFiles; ++i)
        vigil::test::write_file(agent.root + "/secret/f" + std::to_string(i), "content " + std::to_string(i) + "\n");
    const auto after = vigil::test::wait_caught_up(agent);
    const auto own =
        after.at("own_events_dropped").get<std::uint64_t>() - before.at("own_events_dropped").get<std::uint64_t>();
    CHECK(own < kFiles / 10);  // each hash would bring an open and a read back otherwise
    const auto rows = agent.stop();
    int hashed = 0;
    for (int i = 0; i < kFiles; ++i) {
        const std::string f = agent.root + "/secret/f" + std::to_string(i);
        const auto digest = vigil::sha256_bytes("content " + std::to_string(i) + "\n");
        REQUIRE(digest);
        for (const auto& r : find(rows, "modify", f))
            if (r.at("sha256_after") == std::string(vigil::digest_bytes(digest.value()))) ++hashed;
        CHECK(find(rows, "open", f).size() == 1);  // the writer's open; none of the agent's
        CHECK(find(rows, "read", f).empty());
    }
    CHECK(hashed == kFiles);
}
