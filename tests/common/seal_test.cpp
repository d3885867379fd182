// The sealing primitives against fixed vectors. The expected values were computed with
// Python's hmac/hashlib (an independent implementation) from docs/tamper-evidence.md;
// they pin the key schedule and the canonical encoding: if one changes, every sealed
// database ever written stops verifying, so these must never be "updated" casually.
#include "common/seal.h"

#include <catch2/catch.hpp>
#include <sys/stat.h>

#include "common/event_chain.h"
#include "common/sha256.h"
#include "tests/support/temp_dir.h"

namespace {

vigil::SealKey fixed_k0() {
    vigil::SealKey k;
    for (std::size_t i = 0; i < 32; ++i) k.key[i] = static_cast<std::uint8_t>(i);
    return k;
}

vigil::Event fixed_event() {
    vigil::Event e;
    e.time_ns = 1700000000123456789;
    e.action = vigil::Action::Modify;
    e.source = vigil::Source::Fanotify;
    e.path = "/etc/shadow";
    e.actor.uid = 1000;
    e.actor.euid = 0;
    e.actor.gid = 1000;
    e.actor.auid = 1000;
    e.actor.user = "alice";
    e.actor.login_user = "alice";
    e.actor.pid = 4242;
    e.actor.ppid = 1;
    e.actor.exe = "/usr/bin/passwd";
    e.actor.comm = "passwd";
    e.actor.cmdline = "passwd alice";
    e.label = "credentials";
    e.severity = "critical";
    e.sha256_before = std::string(32, '\xaa');
    e.sha256_after = std::string(32, '\xbb');
    e.detail = R"({"content_changed":true})";
    return e;
}

}  // namespace

TEST_CASE("HMAC-SHA-256 matches RFC 4231 test case 2, also when the key is reused", "[unit]") {
    vigil::Mac32 key{};  // "Jefe", zero-padded: HMAC pads short keys with zeros the same way
    const std::string jefe = "Jefe";
    std::copy(jefe.begin(), jefe.end(), key.begin());
    auto h = vigil::Hmac::create(key);
    REQUIRE(h);
    for (int i = 0; i < 2; ++i) {
        auto m = h->mac("what do ya want ", "for nothing?");
        REQUIRE(m);
        CHECK(vigil::hex_of(m.value()) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}

TEST_CASE("the key schedule and the canonical event encoding are stable", "[unit]") {
    const auto k0 = fixed_k0();
    auto k1 = vigil::evolve(k0);
    REQUIRE(k1);
    CHECK(k1->epoch == 1);
    CHECK(vigil::hex_of(k1->key) == "8304ac1c2c7c3df91989316460115b6470c1f464c6265ea92eebd5be30466db4");
    CHECK(vigil::key_id(k0).value() == "153820a19de9914b2861a3d08f0684d8a5f578a403062cd4ee075cf2345fd1f1");

    const std::string canon = vigil::canon_event(fixed_event(), 7, 1);
    CHECK(canon.size() == 406);
    CHECK(vigil::digest_hex(vigil::sha256_bytes(canon).value()) ==
          "203beb1546733a0889748e75e85e3643dee8d64eac9f62d837b11f49a0bc6446");
    auto event_key = vigil::derive_key(k1.value(), "event-mac");
    REQUIRE(event_key);
    auto mac = vigil::hmac_once(event_key.value(), std::string(32, '\0'), canon);
    REQUIRE(mac);
    CHECK(vigil::hex_of(mac.value()) == "0be35e97a947109d9031edf78cf78fb03c1168d3eadcd0fcf9affb2b927d8fb5");

    // Null and empty differ, and so do the fields they sit in.
    vigil::Event a = fixed_event();
    vigil::Event b = fixed_event();
    a.old_path = "";
    CHECK(vigil::canon_event(a, 7, 1) != vigil::canon_event(b, 7, 1));
    b.path = "/etc/shado";
    b.old_path = "w";
    CHECK(vigil::canon_event(a, 7, 1) != vigil::canon_event(b, 7, 1));
}

TEST_CASE("keys only evolve forward, and key files round-trip with safe modes", "[unit]") {
    const auto k0 = fixed_k0();
    auto k5 = vigil::evolve_to(k0, 5);
    REQUIRE(k5);
    CHECK(k5->epoch == 5);
    CHECK_FALSE(vigil::evolve_to(k5.value(), 4));
    auto step = vigil::evolve_to(vigil::evolve(k0).value(), 5);
    CHECK(step->key == k5->key);

    vigil::test::TempDir dir;
    const std::string path = dir / "v.db.key";
    REQUIRE(vigil::write_key_file(path, k5.value(), 0600, "test key\nsecond line"));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto back = vigil::read_key_file(path);
    REQUIRE(back);
    CHECK(back->epoch == 5);
    CHECK(back->key == k5->key);

    REQUIRE(::chmod(path.c_str(), 0644) == 0);
    auto loose = vigil::read_key_file(path);
    REQUIRE_FALSE(loose);
    CHECK_THAT(loose.error().message(), Catch::Contains("readable by others"));
    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    vigil::test::write_file(path, "vigil-seal-key 1\nepoch 3\nkey 12\n");
    ::chmod(path.c_str(), 0600);
    CHECK_FALSE(vigil::read_key_file(path));
}
