#include "common/xattrs.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/xattr.h>

#include "common/unique_fd.h"
#include "tests/support/temp_dir.h"

using namespace vigil;

TEST_CASE("xattr encoding round-trips hostile names and values", "[unit][xattrs]") {
    const XattrList list = {{"security.capability", std::string("\x01\x00\x00\x02", 4)},
                            {"user.a,b=c\nd", ""},
                            {"user.bin", std::string("\0\xff\x00", 3)}};
    auto decoded = decode_xattrs(encode_xattrs(list));
    REQUIRE(decoded);
    CHECK(decoded.value() == list);
}

TEST_CASE("corrupt xattr encodings are rejected, not trusted", "[unit][xattrs]") {
    std::string blob = encode_xattrs({{"user.x", "value"}});
    CHECK_FALSE(decode_xattrs(blob.substr(0, blob.size() - 1)));
    CHECK_FALSE(decode_xattrs(std::string("\xff\xff\xff\x7f", 4) + "x"));
    CHECK_FALSE(decode_xattrs("ab"));
    CHECK(decode_xattrs("").value().empty());
}

TEST_CASE("xattr groups", "[unit][xattrs]") {
    CHECK(xattr_group("system.posix_acl_access") == "acl");
    CHECK(xattr_group("system.posix_acl_default") == "acl");
    CHECK(xattr_group("security.capability") == "caps");
    CHECK(xattr_group("security.selinux") == "xattrs");
    CHECK(xattr_group("user.foo") == "xattrs");
}

TEST_CASE("reading xattrs of a real file, large values included", "[kernel][xattrs]") {
    test::TempDir dir;
    const std::string path = dir / "f";
    test::write_file(path, "x");
    const std::string big(4000, 'v');  // tmpfs and ext4 both allow values this large
    REQUIRE(::setxattr(path.c_str(), "user.big", big.data(), big.size(), 0) == 0);
    REQUIRE(::setxattr(path.c_str(), "user.empty", "", 0, 0) == 0);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    auto list = read_xattrs_fd(fd.get(), path);
    REQUIRE(list);
    REQUIRE(list->size() >= 2);
    bool saw_big = false;
    bool saw_empty = false;
    for (const auto& [name, value] : list.value()) {
        saw_big = saw_big || (name == "user.big" && value == big);
        saw_empty = saw_empty || (name == "user.empty" && value.empty());
    }
    CHECK(saw_big);
    CHECK(saw_empty);
}
