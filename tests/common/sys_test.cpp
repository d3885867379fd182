// open_dir_beneath: the one way the agent opens a directory inside a watched tree. Both
// of its paths are exercised — openat2 (this kernel) and the component walk that kernels
// before 5.6, or seccomp filters refusing openat2, get — with the same answers.
#include "common/sys.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/temp_dir.h"

using vigil::open_dir_beneath;

TEST_CASE("open_dir_beneath never crosses a symlink or leaves the tree, with openat2 and without", "[unit]") {
    vigil::test::TempDir dir;
    const std::string root = dir / "root";
    vigil::test::make_dirs(root + "/a/b/c");
    vigil::test::make_dirs(dir / "outside/x");
    REQUIRE(::symlink((dir / "outside").c_str(), (root + "/a/link").c_str()) == 0);
    REQUIRE(::symlink("/etc", (root + "/a/b/etc").c_str()) == 0);
    vigil::test::write_file(root + "/a/file", "f\n");
    auto root_fd = vigil::open_at(AT_FDCWD, root.c_str(), O_RDONLY | O_DIRECTORY, root);
    REQUIRE(root_fd);
    for (const bool walk : {false, true}) {
        INFO((walk ? "component walk" : "openat2"));
        auto inode_of = [](int fd) {
            struct stat st {};
            REQUIRE(::fstat(fd, &st) == 0);
            return st.st_ino;
        };
        struct stat c {};
        REQUIRE(::stat((root + "/a/b/c").c_str(), &c) == 0);
        auto deep = open_dir_beneath(root_fd->get(), "a/b/c", O_RDONLY, walk);
        REQUIRE(deep);
        CHECK(inode_of(deep->get()) == c.st_ino);
        auto trailing = open_dir_beneath(root_fd->get(), "a/b/", O_PATH, walk);
        CHECK(trailing);
        auto itself = open_dir_beneath(root_fd->get(), "", O_RDONLY, walk);
        REQUIRE(itself);
        CHECK(inode_of(itself->get()) == inode_of(root_fd->get()));
        // A link as the last component, or on the way, or "..": refused, never followed.
        CHECK_FALSE(open_dir_beneath(root_fd->get(), "a/link", O_RDONLY, walk));
        CHECK_FALSE(open_dir_beneath(root_fd->get(), "a/link/x", O_RDONLY, walk));
        CHECK_FALSE(open_dir_beneath(root_fd->get(), "a/b/etc", O_PATH, walk));
        CHECK_FALSE(open_dir_beneath(root_fd->get(), "a/../../outside", O_RDONLY, walk));
        CHECK_FALSE(open_dir_beneath(root_fd->get(), "a/file", O_RDONLY, walk));  // not a directory
        auto missing = open_dir_beneath(root_fd->get(), "a/none", O_RDONLY, walk);
        REQUIRE_FALSE(missing);
        CHECK(missing.error().code == std::errc::no_such_file_or_directory);
    }
}
