#include "common/diff.h"

#include <catch2/catch.hpp>

using namespace vigil;

namespace {

FileRecord file(std::string path, std::string content) {
    FileRecord r;
    r.path = std::move(path);
    r.type = FileType::Regular;
    r.mode = 0644;
    r.size = content.size();
    r.sha256 = sha256_bytes(content).value();
    r.inode = 10;
    r.nlink = 1;
    return r;
}

Policy policy(const std::string& check = "") {
    auto p = parse_policy(R"({"rules":[{"path":"/t")" + (check.empty() ? "" : ",\"check\":" + check) + "}]}", "t");
    REQUIRE(p);
    return std::move(p.value());
}

const AttrChange* find(const ChangedEntry& c, std::string_view attr) {
    for (const auto& ch : c.changes)
        if (ch.attr == attr) return &ch;
    return nullptr;
}

}  // namespace

TEST_CASE("added, removed, changed by a merge of sorted lists", "[unit][diff]") {
    const std::vector<FileRecord> before = {file("/t/a", "1"), file("/t/b", "2"), file("/t/c", "3")};
    std::vector<FileRecord> after = {file("/t/b", "2"), file("/t/c", "changed"), file("/t/d", "4")};
    const auto d = diff_records(before, after, policy());
    REQUIRE(d.removed.size() == 1);
    CHECK(d.removed[0]->path == "/t/a");
    REQUIRE(d.added.size() == 1);
    CHECK(d.added[0]->path == "/t/d");
    REQUIRE(d.changed.size() == 1);
    CHECK(d.changed[0].after->path == "/t/c");
    const auto* sha = find(d.changed[0], "sha256");
    REQUIRE(sha);
    CHECK(sha->old_value.text == digest_hex(sha256_bytes("3").value()));
    CHECK(sha->new_value.text == digest_hex(sha256_bytes("changed").value()));
    CHECK(find(d.changed[0], "size"));
    CHECK(d.exit_bits() == 7);
}

TEST_CASE("each attribute is compared and shown old -> new", "[unit][diff]") {
    FileRecord a = file("/t/f", "x");
    FileRecord b = a;
    b.mode = 04755;
    b.uid = 1003;
    b.nlink = 2;
    b.mtime_ns = 1'000'000'000;
    const auto d = diff_records({a}, {b}, policy());
    REQUIRE(d.changed.size() == 1);
    CHECK(find(d.changed[0], "mode")->old_value.text == "0644");
    CHECK(find(d.changed[0], "mode")->new_value.text == "4755");
    CHECK(find(d.changed[0], "uid")->new_value.number == 1003);
    CHECK(find(d.changed[0], "nlink"));
    CHECK(find(d.changed[0], "mtime")->new_value.text == "1970-01-01T00:00:01.000000000Z");
    CHECK_FALSE(find(d.changed[0], "sha256"));
    CHECK(d.exit_bits() == 4);
}

TEST_CASE("the rule's check list limits what counts as a change", "[unit][diff]") {
    FileRecord a = file("/t/f", "x");
    FileRecord b = a;
    b.mtime_ns = 99;
    CHECK(diff_records({a}, {b}, policy(R"(["sha256"])")).clean());
    b.sha256 = sha256_bytes("y").value();
    CHECK_FALSE(diff_records({a}, {b}, policy(R"(["sha256"])")).clean());
}

TEST_CASE("type changes, symlink retargets, xattr and error changes", "[unit][diff]") {
    FileRecord f = file("/t/f", "x");
    FileRecord dir = f;
    dir.type = FileType::Directory;
    dir.sha256.reset();
    auto d = diff_records({f}, {dir}, policy());
    REQUIRE(d.changed.size() == 1);
    CHECK(find(d.changed[0], "type")->old_value.text == "file");
    CHECK(find(d.changed[0], "type")->new_value.text == "directory");
    CHECK(find(d.changed[0], "sha256")->new_value.kind == AttrValue::Kind::Null);

    FileRecord l1 = f;
    l1.type = FileType::Symlink;
    l1.sha256.reset();
    l1.target = "/etc/a";
    FileRecord l2 = l1;
    l2.target = "/etc/\nb";
    d = diff_records({l1}, {l2}, policy());
    REQUIRE(d.changed.size() == 1);
    CHECK(find(d.changed[0], "target")->new_value.text == "/etc/\\x0ab");

    FileRecord x = f;
    x.xattrs = std::string("\x08\0\0\0user.key\x01\0\0\0v", 17);
    d = diff_records({f}, {x}, policy());
    REQUIRE(d.changed.size() == 1);
    CHECK(find(d.changed[0], "xattrs")->new_value.text == "user.key=\"v\"");
    FileRecord caps = f;
    caps.xattrs = std::string("\x13\0\0\0security.capability\x02\0\0\0\x01\x02", 29);
    d = diff_records({f}, {caps}, policy());
    REQUIRE(d.changed.size() == 1);
    CHECK(find(d.changed[0], "caps")->new_value.text == "security.capability=0x0102");
    CHECK_FALSE(find(d.changed[0], "xattrs"));

    FileRecord unreadable = f;
    unreadable.sha256.reset();
    unreadable.error = "open: Permission denied";
    d = diff_records({f}, {unreadable}, policy(R"(["mode"])"));
    REQUIRE(d.changed.size() == 1);
    CHECK(find(d.changed[0], "error")->new_value.text == "open: Permission denied");
}
