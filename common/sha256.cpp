#include "common/sha256.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "common/escape.h"
#include "common/sys.h"

namespace vigil {
namespace {

struct EvpCtxFree {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using EvpCtx = std::unique_ptr<EVP_MD_CTX, EvpCtxFree>;

class HashErrorCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "vigil.hash"; }
    std::string message(int ev) const override {
        switch (static_cast<HashErrc>(ev)) {
            case HashErrc::changed_while_hashing: return "file changed while it was hashed";
            case HashErrc::not_regular_file: return "not a regular file";
            case HashErrc::cancelled: return "hashing was cancelled";
        }
        return "unknown hash error";
    }
};

// The first and last fstat() of a hashed fd must agree on everything a writer moves.
bool same_version(const struct stat& a, const struct stat& b) {
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
           a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

Result<EvpCtx> new_sha256_ctx() {
    EvpCtx ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        return Error::msg("OpenSSL: cannot initialise SHA-256");
    return ctx;
}

}  // namespace

std::error_code make_error_code(HashErrc e) {
    static const HashErrorCategory category;
    return {static_cast<int>(e), category};
}

std::string_view digest_bytes(const Sha256Digest& d) { return {reinterpret_cast<const char*>(d.data()), d.size()}; }

std::string digest_hex(const Sha256Digest& d) { return to_hex(digest_bytes(d)); }

Result<Sha256Digest> sha256_bytes(std::string_view data) {
    auto ctx = new_sha256_ctx();
    if (!ctx) return ctx.error();
    Sha256Digest d{};
    if (EVP_DigestUpdate(ctx->get(), data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(ctx->get(), d.data(), nullptr) != 1)
        return Error::msg("OpenSSL: SHA-256 failed");
    return d;
}

Result<FdDigest> hash_fd(int fd, std::string_view what, struct stat* final_stat, const std::atomic<bool>* cancel) {
    struct stat before {};
    if (::fstat(fd, &before) < 0) return Error::from_errno(errno, "fstat '" + escape_bytes(what) + "'");
    if (!S_ISREG(before.st_mode)) return Error{make_error_code(HashErrc::not_regular_file), escape_bytes(what)};

    auto ctx = new_sha256_ctx();
    if (!ctx) return ctx.error();
    // One buffer per thread: 64 KiB reads are where EVP with SHA-NI stops gaining.
    thread_local std::vector<unsigned char> buf(std::size_t{64} * 1024);
    FdDigest out;
    // Read exactly the size the first fstat() saw, then probe one byte further: a file that
    // keeps growing (a busy log) must not keep us reading forever.
    const auto expected = static_cast<std::uint64_t>(before.st_size);
    off_t offset = 0;
    while (out.bytes < expected) {
        if (cancel != nullptr && cancel->load(std::memory_order_relaxed))
            return Error{make_error_code(HashErrc::cancelled), escape_bytes(what)};
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), expected - out.bytes));
        const ssize_t n = retry_eintr([&] { return ::pread(fd, buf.data(), want, offset); });
        if (n == 0) break;  // shrank: caught below
        if (n < 0) return Error::from_errno(errno, "read '" + escape_bytes(what) + "'");
        if (EVP_DigestUpdate(ctx->get(), buf.data(), static_cast<size_t>(n)) != 1)
            return Error::msg("OpenSSL: SHA-256 update failed");
        offset += n;
        out.bytes += static_cast<std::uint64_t>(n);
    }
    unsigned char probe = 0;
    const ssize_t extra = retry_eintr([&] { return ::pread(fd, &probe, 1, offset); });
    if (extra < 0) return Error::from_errno(errno, "read '" + escape_bytes(what) + "'");
    if (extra > 0) return Error{make_error_code(HashErrc::changed_while_hashing), escape_bytes(what)};
    struct stat after {};
    if (::fstat(fd, &after) < 0) return Error::from_errno(errno, "fstat '" + escape_bytes(what) + "'");
    if (out.bytes != static_cast<std::uint64_t>(before.st_size) || !same_version(before, after))
        return Error{make_error_code(HashErrc::changed_while_hashing), escape_bytes(what)};
    if (EVP_DigestFinal_ex(ctx->get(), out.digest.data(), nullptr) != 1)
        return Error::msg("OpenSSL: SHA-256 final failed");
    if (final_stat != nullptr) *final_stat = after;
    return out;
}

}  // namespace vigil
