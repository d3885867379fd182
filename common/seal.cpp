#include "common/seal.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/escape.h"
#include "common/sys.h"
#include "common/unique_fd.h"

namespace vigil {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

void put_be64(std::string& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

EVP_MAC_CTX* ctx_of(void* p) { return static_cast<EVP_MAC_CTX*>(p); }

}  // namespace

std::string hex_of(const Mac32& m) {
    std::string out;
    out.reserve(64);
    for (const auto b : m) {
        out.push_back(kHexDigits[b >> 4]);
        out.push_back(kHexDigits[b & 0xf]);
    }
    return out;
}

std::optional<Mac32> mac_from_hex(std::string_view hex) {
    if (hex.size() != 64) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    Mac32 m{};
    for (std::size_t i = 0; i < 32; ++i) {
        const int hi = nibble(hex[2 * i]);
        const int lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        m[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return m;
}

std::string_view mac_bytes(const Mac32& m) { return {reinterpret_cast<const char*>(m.data()), m.size()}; }

std::optional<Mac32> mac_from_bytes(std::string_view bytes) {
    if (bytes.size() != 32) return std::nullopt;
    Mac32 m{};
    std::memcpy(m.data(), bytes.data(), 32);
    return m;
}

Result<Hmac> Hmac::create(const Mac32& key) {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr) return Error::msg("OpenSSL has no HMAC");
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);  // the context holds its own reference
    if (ctx == nullptr) return Error::msg("EVP_MAC_CTX_new failed");
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(ctx, key.data(), key.size(), params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return Error::msg("HMAC-SHA-256 init failed");
    }
    return Hmac(ctx);
}

Hmac::~Hmac() { EVP_MAC_CTX_free(ctx_of(ctx_)); }
Hmac::Hmac(Hmac&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}
Hmac& Hmac::operator=(Hmac&& other) noexcept {
    if (this != &other) {
        EVP_MAC_CTX_free(ctx_of(ctx_));
        ctx_ = std::exchange(other.ctx_, nullptr);
    }
    return *this;
}

Result<Mac32> Hmac::mac(std::string_view a, std::string_view b) const {
    // A NULL key re-initialises with the key already set: no key schedule per message.
    EVP_MAC_CTX* ctx = ctx_of(ctx_);
    Mac32 out{};
    std::size_t len = 0;
    if (ctx == nullptr || EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
        EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(a.data()), a.size()) != 1 ||
        EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(b.data()), b.size()) != 1 ||
        EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != out.size())
        return Error::msg("HMAC-SHA-256 failed");
    return out;
}

Result<Mac32> hmac_once(const Mac32& key, std::string_view a, std::string_view b) {
    auto h = Hmac::create(key);
    if (!h) return h.error();
    return h->mac(a, b);
}

Result<SealKey> random_seal_key() {
    SealKey k;
    if (RAND_bytes(k.key.data(), static_cast<int>(k.key.size())) != 1)
        return Error::msg("the OS random generator failed (RAND_bytes)");
    return k;
}

Result<SealKey> evolve(const SealKey& k) {
    std::string label = "vigil-v1 evolve";
    put_be64(label, k.epoch + 1);
    auto next = hmac_once(k.key, label);
    if (!next) return next.error();
    return SealKey{k.epoch + 1, next.value()};
}

Result<SealKey> evolve_to(SealKey k, std::uint64_t epoch) {
    if (epoch < k.epoch)
        return Error::msg("cannot go back from key epoch " + std::to_string(k.epoch) + " to " + std::to_string(epoch));
    while (k.epoch < epoch) {
        auto next = evolve(k);
        if (!next) return next.error();
        k = next.value();
    }
    return k;
}

Result<Mac32> derive_key(const SealKey& k, std::string_view purpose) { return hmac_once(k.key, "vigil-v1 ", purpose); }

Result<std::string> key_id(const SealKey& k0) {
    auto id = derive_key(k0, "key-id");
    if (!id) return id.error();
    return hex_of(id.value());
}

std::string key_file_path(const std::string& db_path) { return db_path + ".key"; }
std::string verification_key_path(const std::string& db_path) { return db_path + ".verification-key"; }

Result<SealKey> read_key_file(const std::string& path) {
    const int raw = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (raw < 0) return Error::from_errno(errno, "open key file '" + escape_bytes(path) + "'");
    const UniqueFd fd(raw);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return Error::from_errno(errno, "fstat '" + escape_bytes(path) + "'");
    if (!S_ISREG(st.st_mode) || st.st_size > 4096)
        return Error::msg("key file '" + escape_bytes(path) + "' is not a small regular file");
    if ((st.st_mode & 077) != 0)
        return Error::msg("key file '" + escape_bytes(path) + "' is readable by others (mode " +
                          std::to_string(st.st_mode & 0777) + "): refused; chmod 0600 it");
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = retry_eintr([&] { return ::read(fd.get(), text.data() + got, text.size() - got); });
        if (n < 0) return Error::from_errno(errno, "read '" + escape_bytes(path) + "'");
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    bool magic = false;
    std::optional<std::uint64_t> epoch;
    std::optional<Mac32> key;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        const std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        if (line.empty() || line[0] == '#') continue;
        if (line == "vigil-seal-key 1") {
            magic = true;
        } else if (line.rfind("epoch ", 0) == 0) {
            const std::string digits(line.substr(6));
            if (digits.empty() || digits.size() > 19 ||
                !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
                break;
            epoch = std::stoull(digits);
        } else if (line.rfind("key ", 0) == 0) {
            key = mac_from_hex(line.substr(4));
        }
    }
    if (!magic || !epoch || !key)
        return Error::msg("key file '" + escape_bytes(path) + "' is not a Vigil key file (damaged or foreign)");
    return SealKey{*epoch, *key};
}

Result<void> write_key_file(const std::string& path, const SealKey& key, mode_t mode, std::string_view comment) {
    std::string text;
    for (std::size_t pos = 0; pos < comment.size();) {
        const auto nl = comment.find('\n', pos);
        const auto end = nl == std::string_view::npos ? comment.size() : nl;
        text += "# ";
        text.append(comment.substr(pos, end - pos));
        text += '\n';
        pos = end + 1;
    }
    text += "vigil-seal-key 1\nepoch " + std::to_string(key.epoch) + "\nkey " + hex_of(key.key) + "\n";
    const std::string tmp = path + ".new";
    (void)::unlink(tmp.c_str());  // a leftover from a crash; O_EXCL below refuses anything raced in
    const int raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (raw < 0) return Error::from_errno(errno, "create '" + escape_bytes(tmp) + "'");
    {
        const UniqueFd fd(raw);
        if (::fchmod(fd.get(), mode) < 0) return Error::from_errno(errno, "chmod '" + escape_bytes(tmp) + "'");
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = retry_eintr([&] { return ::write(fd.get(), text.data() + done, text.size() - done); });
            if (n < 0) return Error::from_errno(errno, "write '" + escape_bytes(tmp) + "'");
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(fd.get()) < 0) return Error::from_errno(errno, "fsync '" + escape_bytes(tmp) + "'");
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0)
        return Error::from_errno(errno, "rename '" + escape_bytes(tmp) + "' to '" + escape_bytes(path) + "'");
    return fsync_dir(dir_of(path));
}

Canon& Canon::null() {
    out_.push_back('\0');
    return *this;
}

Canon& Canon::integer(std::int64_t v) {
    out_.push_back('\1');
    put_be64(out_, static_cast<std::uint64_t>(v));
    return *this;
}

Canon& Canon::bytes(std::string_view v) {
    out_.push_back('\2');
    put_be64(out_, v.size());
    out_.append(v);
    return *this;
}

}  // namespace vigil
