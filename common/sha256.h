// SHA-256 through OpenSSL EVP, and hashing of an already-open file descriptor with
// detection of a file that changes while it is read.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

struct stat;

namespace vigil {

using Sha256Digest = std::array<unsigned char, 32>;

std::string digest_hex(const Sha256Digest& d);
std::string_view digest_bytes(const Sha256Digest& d);
Result<Sha256Digest> sha256_bytes(std::string_view data);

struct FdDigest {
    Sha256Digest digest{};
    std::uint64_t bytes = 0;
};

// Error codes specific to hashing, in the generic category so messages stay readable.
// changed_while_hashing: size, mtime, ctime or inode moved between the first and last
// fstat() of the fd, so the digest describes no version of the file; the caller retries.
enum class HashErrc { changed_while_hashing = 1, not_regular_file = 2, cancelled = 3 };
std::error_code make_error_code(HashErrc e);

// Hashes `fd` (opened by the caller with O_NOFOLLOW|O_NONBLOCK) from its start.
// `what` names the file in errors. Never mmap()s: a file truncated under us must give an
// error, not SIGBUS.
// `final_stat`, when given, receives the fstat() taken after the last read: the metadata
// of exactly the version that was hashed.
// `cancel`, when given, is checked between reads: a background hash of a huge file gives
// up (HashErrc::cancelled) as soon as the agent stops.
Result<FdDigest> hash_fd(int fd, std::string_view what, struct stat* final_stat = nullptr,
                         const std::atomic<bool>* cancel = nullptr);

}  // namespace vigil

template <>
struct std::is_error_code_enum<vigil::HashErrc> : std::true_type {};
