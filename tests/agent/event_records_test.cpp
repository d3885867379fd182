// The parsers of kernel event buffers (agent/fanotify_records.h, agent/inotify_records.h)
// on hand-built buffers: sound records decode field by field; a truncated or lying record
// is rejected and counted, and the walk goes on where the lie leaves the rest findable.
// Each buffer is copied into an allocation of exactly its size, so under ASan (CI) a read
// one byte past the end fails the test. Last, a buffer read from the real kernel.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "agent/fanotify_records.h"
#include "agent/inotify_records.h"
#include "common/unique_fd.h"
#include "tests/support/temp_dir.h"

using vigil::agent::FanotifyParseStats;
using vigil::agent::FanotifyRecord;
using vigil::agent::InotifyParseStats;

namespace {

using Bytes = std::vector<std::byte>;

// Appends with resize + memcpy: GCC 12 misreads vector::insert of a few bytes at -O2
// (-Wstringop-overflow, a false positive like GCC bug 105329).
void append(Bytes& out, const void* p, std::size_t n) {
    if (n == 0) return;
    const std::size_t at = out.size();
    out.resize(at + n);
    std::memcpy(out.data() + at, p, n);
}

void append(Bytes& out, const Bytes& more) { append(out, more.data(), more.size()); }

template <typename T>
void put(Bytes& out, const T& value) {
    append(out, &value, sizeof value);
}

void put_bytes(Bytes& out, std::string_view s) { append(out, s.data(), s.size()); }

void pad4(Bytes& out) {
    while (out.size() % 4 != 0) out.push_back(std::byte{0});
}

const char kFsid[8] = {1, 2, 3, 4, 5, 6, 7, 8};

// One fid info record as the kernel writes it: header, fsid, file_handle, handle bytes,
// then (for the *_NAME types) the name and its NUL, padded to 4 bytes.
Bytes fid_record(std::uint8_t type, std::string_view handle, const std::string* name = nullptr) {
    Bytes rec;
    fanotify_event_info_fid info{};
    info.hdr.info_type = type;
    std::memcpy(&info.fsid, kFsid, sizeof kFsid);
    put(rec, info);
    // struct file_handle's two fixed fields (its flexible array member makes GCC's
    // -Wstringop-overflow misjudge a copy of the struct itself).
    put(rec, static_cast<unsigned>(handle.size()));  // handle_bytes
    put(rec, 1);                                     // handle_type
    put_bytes(rec, handle);
    if (name != nullptr) {
        put_bytes(rec, *name);
        rec.push_back(std::byte{0});
    }
    pad4(rec);
    const auto len = static_cast<std::uint16_t>(rec.size());
    std::memcpy(rec.data() + offsetof(fanotify_event_info_header, len), &len, sizeof len);
    return rec;
}

Bytes pidfd_record(int pidfd) {
    Bytes rec;
    fanotify_event_info_pidfd info{};
    info.hdr.info_type = FAN_EVENT_INFO_TYPE_PIDFD;
    info.hdr.len = sizeof info;
    info.pidfd = pidfd;
    put(rec, info);
    return rec;
}

// Metadata (event_len and metadata_len filled in) followed by `info`.
Bytes event(std::uint64_t mask, int pid, const std::vector<Bytes>& info) {
    Bytes out;
    fanotify_event_metadata meta{};
    meta.vers = FANOTIFY_METADATA_VERSION;
    meta.metadata_len = sizeof meta;
    meta.mask = mask;
    meta.fd = FAN_NOFD;
    meta.pid = pid;
    std::size_t len = sizeof meta;
    for (const auto& r : info) len += r.size();
    meta.event_len = static_cast<std::uint32_t>(len);
    put(out, meta);
    for (const auto& r : info) append(out, r);
    return out;
}

Bytes concat(const std::vector<Bytes>& parts) {
    Bytes out;
    for (const auto& p : parts) append(out, p);
    return out;
}

std::string key_of(std::string_view handle) {
    const int type = 1;
    return vigil::agent::fanotify_handle_key(kFsid, type, handle.data(), handle.size());
}

// Parses a copy of `buf` in an allocation of exactly its size (ASan sees any over-read).
FanotifyParseStats parse_fan(const Bytes& buf, std::vector<FanotifyRecord>& out) {
    const auto exact = std::make_unique<std::byte[]>(buf.size());
    std::memcpy(exact.get(), buf.data(), buf.size());
    return vigil::agent::parse_fanotify_buffer(std::span<const std::byte>(exact.get(), buf.size()),
                                               [&](FanotifyRecord& r) { out.push_back(r); });
}

struct InRecord {
    int wd;
    std::uint32_t mask;
    std::uint32_t cookie;
    std::string name;
};

InotifyParseStats parse_in(const Bytes& buf, std::vector<InRecord>& out) {
    const auto exact = std::make_unique<std::byte[]>(buf.size());
    std::memcpy(exact.get(), buf.data(), buf.size());
    return vigil::agent::parse_inotify_buffer(std::span<const std::byte>(exact.get(), buf.size()),
                                              [&](const inotify_event& ev, std::string_view name) {
                                                  out.push_back({ev.wd, ev.mask, ev.cookie, std::string(name)});
                                              });
}

// An inotify record: header, then `name` NUL-padded to `padded` bytes (0: no name).
Bytes in_record(int wd, std::uint32_t mask, std::string_view name, std::uint32_t padded, std::uint32_t cookie = 0) {
    Bytes out;
    inotify_event ev{};
    ev.wd = wd;
    ev.mask = mask;
    ev.cookie = cookie;
    ev.len = padded;
    put(out, ev);
    put_bytes(out, name);
    out.resize(out.size() + (padded - name.size()), std::byte{0});
    return out;
}

void set_u32(Bytes& buf, std::size_t at, std::uint32_t v) { std::memcpy(buf.data() + at, &v, sizeof v); }
void set_u16(Bytes& buf, std::size_t at, std::uint16_t v) { std::memcpy(buf.data() + at, &v, sizeof v); }

constexpr std::size_t kMeta = sizeof(fanotify_event_metadata);
constexpr std::size_t kEventLenAt = offsetof(fanotify_event_metadata, event_len);
constexpr std::size_t kInfoLenAt = offsetof(fanotify_event_info_header, len);
constexpr std::size_t kHandleBytesAt = sizeof(fanotify_event_info_fid);  // file_handle.handle_bytes

}  // namespace

TEST_CASE("fanotify records decode: directory and name, object, pidfd, rename", "[unit][agent][records]") {
    const std::string name = "shadow";
    const std::string old_name = "a.tmp";
    const std::string new_name = "b";
    const Bytes buf = concat({
        event(FAN_CLOSE_WRITE, 4242,
              {fid_record(FAN_EVENT_INFO_TYPE_DFID_NAME, "DIRHANDLE", &name),
               fid_record(FAN_EVENT_INFO_TYPE_FID, "FILEHANDLE"), pidfd_record(77)}),
        event(FAN_RENAME, 7,
              {fid_record(FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, "OLD", &old_name),
               fid_record(FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, "NEW", &new_name),
               fid_record(FAN_EVENT_INFO_TYPE_FID, "OBJ")}),
        event(FAN_Q_OVERFLOW, 0, {}),
    });
    std::vector<FanotifyRecord> recs;
    const auto stats = parse_fan(buf, recs);
    CHECK(stats.rejected == 0);
    CHECK_FALSE(stats.wrong_version);
    REQUIRE(stats.events == 3);
    REQUIRE(recs.size() == 3);
    CHECK(recs[0].problem.empty());
    CHECK(recs[0].mask == FAN_CLOSE_WRITE);
    CHECK(recs[0].pid == 4242);
    CHECK(recs[0].fd == FAN_NOFD);
    CHECK(recs[0].pidfd == 77);
    CHECK(recs[0].dir_key == key_of("DIRHANDLE"));
    CHECK(recs[0].name == "shadow");
    CHECK(recs[0].object == key_of("FILEHANDLE"));
    CHECK(recs[1].old_dir_key == key_of("OLD"));
    CHECK(recs[1].old_name == "a.tmp");
    CHECK(recs[1].new_dir_key == key_of("NEW"));
    CHECK(recs[1].new_name == "b");
    CHECK(recs[1].object == key_of("OBJ"));
    CHECK(recs[1].pidfd == -1);
    CHECK(recs[2].mask == FAN_Q_OVERFLOW);
}

TEST_CASE("fanotify: a lying event_len rejects the rest of the buffer, counted", "[unit][agent][records]") {
    const std::string name = "f";
    const Bytes good = event(FAN_CREATE, 1, {fid_record(FAN_EVENT_INFO_TYPE_DFID_NAME, "D", &name)});
    std::vector<FanotifyRecord> recs;

    SECTION("event_len shorter than the metadata") {
        Bytes buf = concat({good, good});
        set_u32(buf, good.size() + kEventLenAt, 8);
        const auto stats = parse_fan(buf, recs);
        CHECK(stats.events == 1);
        CHECK(stats.rejected == 1);
        CHECK(stats.first_problem == "event_len shorter than the metadata");
    }
    SECTION("event_len longer than the buffer") {
        Bytes buf = concat({good, good});
        set_u32(buf, good.size() + kEventLenAt, static_cast<std::uint32_t>(good.size() + 1));
        const auto stats = parse_fan(buf, recs);
        CHECK(stats.events == 1);
        CHECK(stats.rejected == 1);
        CHECK(stats.first_problem == "event_len longer than the rest of the buffer");
    }
    SECTION("event_len of 0xffffffff") {
        Bytes buf = good;
        set_u32(buf, kEventLenAt, 0xffffffffU);
        const auto stats = parse_fan(buf, recs);
        CHECK(stats.events == 0);
        CHECK(stats.rejected == 1);
    }
    SECTION("buffer cut inside the next event's metadata") {
        Bytes buf = concat({good, good});
        buf.resize(good.size() + kMeta - 1);
        const auto stats = parse_fan(buf, recs);
        CHECK(stats.events == 1);
        CHECK(stats.rejected == 1);
        CHECK(stats.first_problem == "buffer ends inside an event's metadata");
    }
    SECTION("a metadata version this code does not know stops the walk") {
        Bytes buf = concat({good, good});
        buf[good.size() + offsetof(fanotify_event_metadata, vers)] = std::byte{FANOTIFY_METADATA_VERSION + 1};
        const auto stats = parse_fan(buf, recs);
        CHECK(stats.events == 1);
        CHECK(stats.wrong_version);
        CHECK(stats.version == FANOTIFY_METADATA_VERSION + 1);
    }
    for (const auto& r : recs) CHECK(r.problem.empty());
}

TEST_CASE("fanotify: a lying info record rejects its event only, counted, the next one parsed",
          "[unit][agent][records]") {
    const std::string name = "victim";
    const Bytes next = event(FAN_DELETE, 2, {fid_record(FAN_EVENT_INFO_TYPE_DFID_NAME, "NEXT", &name)});
    Bytes bad;
    std::string expected;

    SECTION("metadata_len past the event") {
        bad = event(FAN_CREATE, 1, {});
        set_u16(bad, offsetof(fanotify_event_metadata, metadata_len), static_cast<std::uint16_t>(kMeta + 4));
        expected = "metadata_len outside the event";
    }
    SECTION("info header len 0 (would loop forever)") {
        bad = event(FAN_CREATE, 1, {fid_record(FAN_EVENT_INFO_TYPE_DFID_NAME, "D", &name)});
        set_u16(bad, kMeta + kInfoLenAt, 0);
        expected = "info record shorter than its header";
    }
    SECTION("info header len past the event") {
        bad = event(FAN_CREATE, 1, {fid_record(FAN_EVENT_INFO_TYPE_DFID_NAME, "D", &name)});
        set_u16(bad, kMeta + kInfoLenAt, static_cast<std::uint16_t>(bad.size() - kMeta + 4));
        expected = "info record longer than its event";
    }
    SECTION("bytes after the last info record") {
        bad = event(FAN_CREATE, 1, {fid_record(FAN_EVENT_INFO_TYPE_FID, "H"), Bytes(2)});
        expected = "bytes after the last info record";
    }
    SECTION("fid record too short for its file handle header") {
        Bytes rec = fid_record(FAN_EVENT_INFO_TYPE_FID, "");
        rec.resize(sizeof(fanotify_event_info_fid) + 4);
        set_u16(rec, kInfoLenAt, static_cast<std::uint16_t>(rec.size()));
        bad = event(FAN_CREATE, 1, {rec});
        expected = "fid info record shorter than its file handle header";
    }
    SECTION("handle_bytes past the record") {
        bad = event(FAN_CREATE, 1, {fid_record(FAN_EVENT_INFO_TYPE_DFID_NAME, "HANDLE", &name)});
        set_u32(bad, kMeta + kHandleBytesAt, 4096);
        expected = "file handle longer than its info record";
    }
    SECTION("handle_bytes above MAX_HANDLE_SZ inside a record that holds them") {
        bad = event(FAN_CREATE, 1, {fid_record(FAN_EVENT_INFO_TYPE_FID, std::string(MAX_HANDLE_SZ + 4, 'h'))});
        expected = "file handle longer than MAX_HANDLE_SZ";
    }
    SECTION("name without its NUL") {
        Bytes rec = fid_record(FAN_EVENT_INFO_TYPE_DFID_NAME, "D", &name);
        for (std::size_t i = sizeof(fanotify_event_info_fid) + sizeof(file_handle) + 1; i < rec.size(); ++i)
            rec[i] = std::byte{'x'};
        bad = event(FAN_CREATE, 1, {rec});
        expected = "name not NUL-terminated inside its info record";
    }
    SECTION("name with a slash") {
        const std::string evil = "../../etc/shadow";
        bad = event(FAN_CREATE, 1, {fid_record(FAN_EVENT_INFO_TYPE_DFID_NAME, "D", &evil)});
        expected = "name is not a single path component";
    }
    SECTION("name ..") {
        const std::string evil = "..";
        bad = event(FAN_RENAME, 1, {fid_record(FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, "D", &evil)});
        expected = "name is not a single path component";
    }
    SECTION("pidfd record too short") {
        Bytes rec = pidfd_record(5);
        rec.resize(sizeof(fanotify_event_info_header));
        set_u16(rec, kInfoLenAt, static_cast<std::uint16_t>(rec.size()));
        bad = event(FAN_CREATE, 1, {rec});
        expected = "pidfd info record too short";
    }
    std::vector<FanotifyRecord> recs;
    const auto stats = parse_fan(concat({bad, next}), recs);
    CHECK(stats.rejected == 1);
    CHECK(stats.first_problem == expected);
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].problem == expected);
    CHECK(recs[1].problem.empty());
    CHECK(recs[1].mask == FAN_DELETE);
    CHECK(recs[1].name == "victim");
    CHECK(recs[1].dir_key == key_of("NEXT"));
}

TEST_CASE("fanotify: a rejected event still hands over the pidfd read before the lie", "[unit][agent][records]") {
    // The caller closes every fd the kernel put in an event, sound or not.
    Bytes bad = event(FAN_CREATE, 1, {pidfd_record(99), fid_record(FAN_EVENT_INFO_TYPE_FID, "H")});
    set_u32(bad, kMeta + sizeof(fanotify_event_info_pidfd) + kHandleBytesAt, 1000);
    std::vector<FanotifyRecord> recs;
    const auto stats = parse_fan(bad, recs);
    CHECK(stats.rejected == 1);
    REQUIRE(recs.size() == 1);
    CHECK_FALSE(recs[0].problem.empty());
    CHECK(recs[0].pidfd == 99);
}

TEST_CASE("inotify records decode: names without their padding, no name, cookies", "[unit][agent][records]") {
    const Bytes buf = concat({in_record(1, IN_CREATE, "file", 16), in_record(2, IN_ATTRIB | IN_ISDIR, "", 0),
                              in_record(3, IN_MOVED_FROM, "n\xff\x1b", 4, 99)});
    std::vector<InRecord> recs;
    const auto stats = parse_in(buf, recs);
    CHECK(stats.rejected == 0);
    CHECK(stats.events == 3);
    REQUIRE(recs.size() == 3);
    CHECK(recs[0].wd == 1);
    CHECK(recs[0].name == "file");
    CHECK(recs[1].mask == (IN_ATTRIB | IN_ISDIR));
    CHECK(recs[1].name.empty());
    CHECK(recs[2].cookie == 99);
    CHECK(recs[2].name == "n\xff\x1b");  // bytes, not text
}

TEST_CASE("inotify: a truncated or lying record is rejected and counted, never read past", "[unit][agent][records]") {
    const Bytes good = in_record(1, IN_CREATE, "ok", 16);
    std::vector<InRecord> recs;
    std::size_t events = 0;
    std::string expected;
    Bytes buf;

    SECTION("len past the end of the buffer") {
        buf = concat({good, good});
        set_u32(buf, good.size() + offsetof(inotify_event, len), 17);
        events = 1;
        expected = "name length longer than the rest of the buffer";
    }
    SECTION("len of 0xffffffff") {
        buf = good;
        set_u32(buf, offsetof(inotify_event, len), 0xffffffffU);
        expected = "name length longer than the rest of the buffer";
    }
    SECTION("buffer cut inside a header") {
        buf = concat({good, good});
        buf.resize(good.size() + sizeof(inotify_event) - 1);
        events = 1;
        expected = "buffer ends inside an event header";
    }
    SECTION("name without a NUL (the next record still parsed)") {
        buf = concat({in_record(1, IN_CREATE, "abcdefgh", 8), good});
        events = 1;
        expected = "name not NUL-terminated inside its record";
    }
    SECTION("name with a slash") {
        buf = concat({in_record(1, IN_CREATE, "../../etc/shadow", 32), good});
        events = 1;
        expected = "name is not a single path component";
    }
    SECTION("name ..") {
        buf = concat({in_record(1, IN_CREATE, "..", 4), good});
        events = 1;
        expected = "name is not a single path component";
    }
    SECTION("a len with an empty name") {
        buf = concat({in_record(1, IN_CREATE, "", 16), good});
        events = 1;
        expected = "name is not a single path component";
    }
    const auto stats = parse_in(buf, recs);
    CHECK(stats.rejected == 1);
    CHECK(stats.first_problem == expected);
    CHECK(stats.events == events);
    REQUIRE(recs.size() == events);
    for (const auto& r : recs) CHECK(r.name == "ok");
}

TEST_CASE("a fanotify buffer read from the real kernel parses to the file that was written",
          "[kernel][root][agent][records]") {
    vigil::test::TempDir dir;
    const int raw = ::fanotify_init(
        FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID, O_RDONLY | O_CLOEXEC);
    REQUIRE(raw >= 0);  // root and Linux >= 5.9: the machine CI runs on
    const vigil::UniqueFd fan(raw);
    REQUIRE(::fanotify_mark(fan.get(), FAN_MARK_ADD, FAN_CREATE | FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD, AT_FDCWD,
                            dir.path().c_str()) == 0);
    const std::string name = "written \x1b name";
    vigil::test::write_file(dir / name, "x");

    // The directory's key as the source computes it when marking (name_to_handle_at).
    struct statfs sf {};
    REQUIRE(::statfs(dir.path().c_str(), &sf) == 0);
    std::vector<char> hbuf(sizeof(file_handle) + MAX_HANDLE_SZ);
    auto* fh = reinterpret_cast<file_handle*>(hbuf.data());
    fh->handle_bytes = MAX_HANDLE_SZ;
    int mount_id = 0;
    REQUIRE(::name_to_handle_at(AT_FDCWD, dir.path().c_str(), fh, &mount_id, 0) == 0);
    const std::string dir_key =
        vigil::agent::fanotify_handle_key(&sf.f_fsid, fh->handle_type, fh->f_handle, fh->handle_bytes);

    alignas(fanotify_event_metadata) std::byte buf[8192];
    const ssize_t n = ::read(fan.get(), buf, sizeof buf);
    REQUIRE(n > 0);
    std::vector<FanotifyRecord> recs;
    const auto stats = vigil::agent::parse_fanotify_buffer(std::span<const std::byte>(buf, static_cast<std::size_t>(n)),
                                                           [&](FanotifyRecord& r) { recs.push_back(r); });
    CHECK(stats.rejected == 0);
    REQUIRE_FALSE(recs.empty());
    std::uint64_t seen = 0;
    for (const auto& r : recs) {
        CHECK(r.problem.empty());
        CHECK(r.pid == ::getpid());
        CHECK(r.dir_key == dir_key);
        CHECK(r.name == name);
        // A write names the file itself too (fsid + handle type + handle bytes); a create's
        // object is its directory, which the kernel folds into the DFID_NAME record.
        if ((r.mask & FAN_CLOSE_WRITE) != 0) {
            CHECK(r.object.size() > 12);
            CHECK(r.object != dir_key);
        }
        seen |= r.mask;
    }
    CHECK((seen & FAN_CREATE) != 0);
    CHECK((seen & FAN_CLOSE_WRITE) != 0);
}
