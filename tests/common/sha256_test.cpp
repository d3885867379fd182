#include "common/sha256.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using namespace vigil;

namespace {

std::string hex_of(std::string_view s) { return digest_hex(sha256_bytes(s).value()); }

std::string hash_path(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    auto d = hash_fd(fd.get(), path);
    REQUIRE(d);
    return digest_hex(d->digest);
}

}  // namespace

TEST_CASE("sha256 known answers (FIPS 180-2 vectors)", "[unit][hash]") {
    CHECK(hex_of("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hex_of("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(hex_of(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("hash_fd agrees with sha256sum on files around the buffer size", "[kernel][hash]") {
    test::TempDir dir;
    for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{65535}, std::size_t{65536},
                                   std::size_t{65537}, std::size_t{3} * 1024 * 1024 + 17}) {
        std::string content(size, '\0');
        for (std::size_t i = 0; i < size; ++i) content[i] = static_cast<char>((i * 2654435761U) >> 13U);
        const std::string path = dir / ("f" + std::to_string(size));
        test::write_file(path, content);
        auto r = test::run_program("/usr/bin/sha256sum", {path});
        REQUIRE(r.exit_code == 0);
        CHECK(hash_path(path) == r.out.substr(0, 64));
    }
}

TEST_CASE("hash_fd refuses what is not a regular file", "[kernel][hash]") {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    auto d = hash_fd(fd.get(), "/dev/null");
    REQUIRE_FALSE(d);
    CHECK(d.error().code == HashErrc::not_regular_file);
}

TEST_CASE("hash_fd detects a file that grows while it is hashed, and stops reading", "[kernel][hash]") {
    test::TempDir dir;
    const std::string path = dir / "growing";
    test::write_file(path, std::string(std::size_t{32} << 20U, 'x'));
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        UniqueFd w(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
        while (!stop.load()) {
            if (::write(w.get(), "log line\n", 9) != 9) break;
        }
    });
    auto d = hash_fd(fd.get(), path);
    stop = true;
    writer.join();
    REQUIRE_FALSE(d);
    CHECK(d.error().code == HashErrc::changed_while_hashing);
}

TEST_CASE("hash_fd detects a file truncated while it is hashed", "[kernel][hash]") {
    test::TempDir dir;
    const std::string path = dir / "shrinking";
    test::write_file(path, std::string(std::size_t{64} << 20U, 'x'));
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    std::atomic<bool> stop{false};
    std::thread truncater([&] {
        off_t size = off_t{64} << 20U;
        while (!stop.load() && size > 0) {
            size -= 4096;
            if (::truncate(path.c_str(), size) < 0) break;
        }
    });
    auto d = hash_fd(fd.get(), path);
    stop = true;
    truncater.join();
    REQUIRE_FALSE(d);
    CHECK(d.error().code == HashErrc::changed_while_hashing);
}
