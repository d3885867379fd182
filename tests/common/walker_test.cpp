#include "common/walker.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "tests/support/temp_dir.h"

using namespace vigil;

namespace {

Policy policy_for(const std::string& json) {
    auto p = parse_policy(json, "test");
    REQUIRE(p);
    return std::move(p.value());
}

std::map<std::string, FileRecord> walk_map(const Policy& p, unsigned threads = 2) {
    auto result = walk_policy(p, WalkOptions{threads});
    std::map<std::string, FileRecord> out;
    for (auto& r : result.records) {
        INFO(r.path);
        CHECK(out.count(r.path) == 0);  // one record per path
        out[r.path] = r;
    }
    return out;
}

}  // namespace

TEST_CASE("walk records every type with its attributes and never follows links", "[kernel][walk]") {
    test::TempDir dir;
    const std::string root = dir / "tree";
    test::make_dirs(root + "/sub/deeper");
    test::write_file(root + "/a", "alpha");
    test::write_file(root + "/sub/deeper/b", "beta");
    REQUIRE(::symlink("/etc", (root + "/to-etc").c_str()) == 0);
    REQUIRE(::symlink("loop", (root + "/loop").c_str()) == 0);
    REQUIRE(::mkfifo((root + "/fifo").c_str(), 0600) == 0);
    REQUIRE(::chmod((root + "/a").c_str(), 04755) == 0);

    auto m = walk_map(policy_for(R"({"rules":[{"path":")" + root + R"("}]})"));
    REQUIRE(m.size() == 8);
    CHECK(m[root].type == FileType::Directory);
    CHECK(m[root + "/a"].type == FileType::Regular);
    CHECK(m[root + "/a"].mode == 04755);
    CHECK(m[root + "/a"].size == 5);
    REQUIRE(m[root + "/a"].sha256);
    CHECK(digest_hex(*m[root + "/a"].sha256) == "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8");
    CHECK(m[root + "/to-etc"].type == FileType::Symlink);
    CHECK(m[root + "/to-etc"].target == "/etc");
    CHECK(m[root + "/loop"].target == "loop");
    CHECK(m[root + "/fifo"].type == FileType::Fifo);
    CHECK_FALSE(m[root + "/fifo"].sha256);
    CHECK(m[root + "/sub/deeper/b"].nlink == 1);
    for (const auto& [path, rec] : m) {
        CHECK(path.rfind(root, 0) == 0);  // nothing outside the tree, /etc included
        CHECK(rec.error.empty());
    }
}

TEST_CASE("excludes apply before descending, non-recursive rules stop at children", "[kernel][walk]") {
    test::TempDir dir;
    const std::string root = dir / "tree";
    test::make_dirs(root + "/cache/inner");
    test::make_dirs(root + "/keep/inner");
    test::write_file(root + "/cache/inner/x", "x");
    test::write_file(root + "/keep/inner/y", "y");
    test::write_file(root + "/keep/junk.tmp", "t");

    auto m =
        walk_map(policy_for(R"({"rules":[{"path":")" + root + R"(","exclude":["*.tmp",")" + root + R"(/cache"]}]})"));
    CHECK(m.count(root + "/cache") == 0);
    CHECK(m.count(root + "/cache/inner/x") == 0);
    CHECK(m.count(root + "/keep/junk.tmp") == 0);
    CHECK(m.count(root + "/keep/inner/y") == 1);

    auto flat = walk_map(policy_for(R"({"rules":[{"path":")" + root + R"(","recursive":false}]})"));
    CHECK(flat.count(root + "/keep") == 1);
    CHECK(flat.count(root + "/keep/inner") == 0);
    CHECK(flat.count(root + "/keep/junk.tmp") == 0);
}

TEST_CASE("the most specific rule owns a path, glob rule paths expand", "[kernel][walk]") {
    test::TempDir dir;
    const std::string root = dir / "home";
    test::make_dirs(root + "/alice/.ssh");
    test::make_dirs(root + "/bob/.ssh");
    test::make_dirs(root + "/carol");
    test::write_file(root + "/alice/.ssh/authorized_keys", "ssh-ed25519 AAA");
    test::write_file(root + "/bob/.ssh/id_ed25519", "secret");
    test::write_file(root + "/carol/notes", "n");
    const Policy p =
        policy_for(R"({"rules":[{"path":")" + root + R"("},{"path":")" + root + R"(/*/.ssh","label":"ssh-keys"}]})");
    auto m = walk_map(p);
    CHECK(m[root + "/alice/.ssh/authorized_keys"].rule == 1);
    CHECK(m[root + "/bob/.ssh"].rule == 1);
    CHECK(m[root + "/bob/.ssh/id_ed25519"].rule == 1);
    CHECK(m[root + "/carol/notes"].rule == 0);
    CHECK(m[root + "/alice"].rule == 0);
}

TEST_CASE("a missing rule path and a symlinked root are warnings, not failures", "[kernel][walk]") {
    test::TempDir dir;
    test::make_dirs(dir / "real");
    REQUIRE(::symlink("real", (dir / "link").c_str()) == 0);
    const Policy p =
        policy_for(R"({"rules":[{"path":")" + dir.path() + R"(/missing"},{"path":")" + dir.path() + R"(/link"}]})");
    auto result = walk_policy(p, WalkOptions{2});
    REQUIRE(result.records.size() == 1);
    CHECK(result.records[0].type == FileType::Symlink);
    REQUIRE(result.warnings.size() == 2);
    CHECK_THAT(result.warnings[0] + result.warnings[1], Catch::Contains("missing") && Catch::Contains("symlink"));
}

TEST_CASE("a path longer than PATH_MAX is walked through directory fds", "[kernel][walk]") {
    test::TempDir dir;
    const std::string component(200, 'd');
    int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::string expected = dir.path();
    for (int depth = 0; depth < 25; ++depth) {  // 25 * 201 bytes: well past 4096
        REQUIRE(::mkdirat(fd, component.c_str(), 0755) == 0);
        const int next = ::openat(fd, component.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ::close(fd);
        REQUIRE(next >= 0);
        fd = next;
        expected += "/" + component;
    }
    const int file = ::openat(fd, "leaf", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(file >= 0);
    REQUIRE(::write(file, "deep", 4) == 4);
    ::close(file);
    ::close(fd);
    expected += "/leaf";
    REQUIRE(expected.size() > 5000);

    auto m = walk_map(policy_for(R"({"rules":[{"path":")" + dir.path() + R"("}]})"));
    REQUIRE(m.count(expected) == 1);
    CHECK(m[expected].sha256.has_value());
    CHECK(m[expected].error.empty());
}

TEST_CASE("one thread and many threads give the same records", "[kernel][walk]") {
    test::TempDir dir;
    for (int d = 0; d < 20; ++d) {
        test::make_dirs(dir / ("d" + std::to_string(d)));
        for (int f = 0; f < 50; ++f)
            test::write_file(dir / ("d" + std::to_string(d) + "/f" + std::to_string(f)), std::to_string(d * f));
    }
    const Policy p = policy_for(R"({"rules":[{"path":")" + dir.path() + R"("}]})");
    auto one = walk_policy(p, WalkOptions{1});
    auto many = walk_policy(p, WalkOptions{8});
    REQUIRE(one.records.size() == 20 * 50 + 20 + 1);
    REQUIRE(one.records.size() == many.records.size());
    for (std::size_t i = 0; i < one.records.size(); ++i) {
        CHECK(one.records[i].path == many.records[i].path);
        CHECK(one.records[i].sha256 == many.records[i].sha256);
    }
}

TEST_CASE("a bind mount loop is not entered, and walked once where the rule crosses mounts", "[root][walk]") {
    REQUIRE(::geteuid() == 0);
    test::TempDir dir;
    const std::string root = dir / "tree";
    test::make_dirs(root + "/sub/loop");
    test::write_file(root + "/sub/file", "f");
    REQUIRE(::mount(root.c_str(), (root + "/sub/loop").c_str(), nullptr, MS_BIND, nullptr) == 0);
    auto walk = [&](const std::string& extra) {
        return walk_policy(policy_for(R"({"rules":[{"path":")" + root + "\"" + extra + "}]}"), WalkOptions{2});
    };
    const auto kept = walk("");  // one_filesystem: the default
    const auto crossed = walk(R"(,"one_filesystem":false)");
    ::umount2((root + "/sub/loop").c_str(), MNT_DETACH);
    for (const auto* result : {&kept, &crossed}) {
        std::size_t loop_entries = 0;
        bool recorded = false;
        for (const auto& r : result->records) {
            if (r.path.find("/sub/loop/") != std::string::npos) ++loop_entries;
            if (r.path != root + "/sub/loop") continue;
            recorded = true;
            // Crossing mounts, the loop is met as a directory already walked; kept to one
            // filesystem, a bind mount is a mount point and not entered at all.
            if (result == &crossed) CHECK_THAT(r.error, Catch::Contains("already walked"));
        }
        CHECK(loop_entries == 0);
        CHECK(recorded);
    }
    REQUIRE(kept.warnings.size() == 1);
    CHECK_THAT(kept.warnings[0], Catch::Contains("sub/loop: a bind mount; recorded, not entered"));
}
