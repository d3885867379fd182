// Forward-secure sealing (docs/tamper-evidence.md): HMAC-SHA-256 under keys that evolve
// one way, the canonical encoding of what is sealed, and the key files.
//
// Key schedule, all HMAC-SHA-256 with ASCII labels (domain separation):
//   K_0          = 32 random bytes made by `vigil init` (the verification key)
//   K_{n+1}      = HMAC(K_n, "vigil-v1 evolve" || be64(n+1))
//   event key    = HMAC(K_n, "vigil-v1 event-mac")      seals event rows of epoch n
//   baseline key = HMAC(K_n, "vigil-v1 baseline-mac")   seals a baseline made in epoch n
//   key id       = HMAC(K_0, "vigil-v1 key-id")         names the verification key in the database
//   key check    = HMAC(K_n, "vigil-v1 key-check")      lets the agent tell a wrong key file
// Whoever holds K_n can compute every later key and none of the earlier ones.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace vigil {

using Mac32 = std::array<std::uint8_t, 32>;

std::string hex_of(const Mac32& m);
std::optional<Mac32> mac_from_hex(std::string_view hex);
std::string_view mac_bytes(const Mac32& m);  // the 32 raw bytes
std::optional<Mac32> mac_from_bytes(std::string_view bytes);

// One HMAC-SHA-256 key, reusable for many messages (the key schedule is set up once).
class Hmac {
public:
    static Result<Hmac> create(const Mac32& key);
    ~Hmac();
    Hmac(Hmac&& other) noexcept;
    Hmac& operator=(Hmac&& other) noexcept;
    Hmac(const Hmac&) = delete;
    Hmac& operator=(const Hmac&) = delete;

    // The MAC of the concatenation of `a` and `b` (a chain's previous MAC, then a row).
    Result<Mac32> mac(std::string_view a, std::string_view b = {}) const;

private:
    explicit Hmac(void* ctx) : ctx_(ctx) {}
    void* ctx_ = nullptr;  // EVP_MAC_CTX*, keyed; copied per message
};

Result<Mac32> hmac_once(const Mac32& key, std::string_view a, std::string_view b = {});

struct SealKey {
    std::uint64_t epoch = 0;
    Mac32 key{};
};

Result<SealKey> random_seal_key();  // epoch 0, from the OS's CSPRNG
Result<SealKey> evolve(const SealKey& k);
Result<SealKey> evolve_to(SealKey k, std::uint64_t epoch);             // epoch >= k.epoch
Result<Mac32> derive_key(const SealKey& k, std::string_view purpose);  // "event-mac", "baseline-mac", "key-check"
Result<std::string> key_id(const SealKey& k0);                         // hex, from the epoch-0 key

// Key files: a few text lines ("vigil-seal-key 1", "epoch N", "key HEX").
// Written as write-new + fsync + rename + fsync(directory), so a crash leaves the old
// key or the new one, never a torn file; read refusing symlinks and other owners.
std::string key_file_path(const std::string& db_path);          // DB.key (the agent's, 0600)
std::string verification_key_path(const std::string& db_path);  // DB.verification-key (0400)
Result<SealKey> read_key_file(const std::string& path);
Result<void> write_key_file(const std::string& path, const SealKey& key, mode_t mode, std::string_view comment);

// The canonical encoding: each value as a tag byte (0 null, 1 integer, 2 bytes), an
// integer as 8 bytes big-endian two's complement, bytes as an 8-byte big-endian length
// and the bytes. Nothing else, so no two different rows encode alike.
class Canon {
public:
    explicit Canon(std::string_view domain) { bytes(domain); }
    Canon& null();
    Canon& integer(std::int64_t v);
    Canon& bytes(std::string_view v);
    Canon& opt_integer(const std::optional<std::int64_t>& v) { return v ? integer(*v) : null(); }
    Canon& opt_bytes(const std::optional<std::string>& v) { return v ? bytes(*v) : null(); }
    const std::string& str() const { return out_; }

private:
    std::string out_;
};

}  // namespace vigil
