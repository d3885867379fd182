// hash_limit: the floor for any tool that must SHA-256 every regular file of a tree.
//
// Walks ROOT with nftw (physical, one filesystem), collects its regular files, then
// hashes them on THREADS threads (default: one per core) with OpenSSL EVP SHA-256 and
// 64 KiB reads. No metadata beyond what nftw's lstat gives, no storage, no comparison:
// whatever Vigil or AIDE spend above this is their own overhead.
//
// Usage: hash_limit ROOT [THREADS]
// Prints one line: files=N bytes=B walk_s=W hash_s=H threads=T xor=<digest xor>
// (the xor of all digests keeps the work observable and lets two runs be compared).
//
// Build: g++ -O2 -std=c++20 -o hash_limit hash_limit.cpp -lcrypto -lpthread
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

std::vector<std::string> g_files;

int collect(const char* path, const struct stat* st, int flag, FTW* /*ftw*/) {
    if (flag == FTW_F && S_ISREG(st->st_mode)) g_files.emplace_back(path);
    return 0;
}

struct Totals {
    std::uint64_t bytes = 0;
    std::uint64_t errors = 0;
    unsigned char acc[32] = {};
};

void hash_worker(const EVP_MD* md, std::atomic<std::size_t>& next, Totals& out) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::vector<unsigned char> buf(64 * 1024);
    unsigned char digest[EVP_MAX_MD_SIZE];
    for (;;) {
        const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
        if (i >= g_files.size()) break;
        int fd = ::open(g_files[i].c_str(), O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
        if (fd < 0 && errno == EPERM) fd = ::open(g_files[i].c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            ++out.errors;
            continue;
        }
        EVP_DigestInit_ex(ctx, md, nullptr);
        for (;;) {
            const ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                if (n < 0) ++out.errors;
                break;
            }
            EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(n));
            out.bytes += static_cast<std::uint64_t>(n);
        }
        ::close(fd);
        unsigned int len = 0;
        EVP_DigestFinal_ex(ctx, digest, &len);
        for (unsigned k = 0; k < 32 && k < len; ++k) out.acc[k] ^= digest[k];
    }
    EVP_MD_CTX_free(ctx);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s ROOT [THREADS]\n", argv[0]);
        return 2;
    }
    unsigned threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : std::thread::hardware_concurrency();
    if (threads == 0) threads = 1;

    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    if (::nftw(argv[1], collect, 64, FTW_PHYS | FTW_MOUNT) != 0) {
        std::perror("nftw");
        return 1;
    }
    const auto t1 = clock::now();

    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);  // fetched once, not per file
    if (md == nullptr) {
        std::fprintf(stderr, "OpenSSL: no SHA256\n");
        return 1;
    }
    std::atomic<std::size_t> next{0};
    std::vector<Totals> totals(threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(hash_worker, md, std::ref(next), std::ref(totals[t]));
    for (auto& th : pool) th.join();
    const auto t2 = clock::now();
    EVP_MD_free(md);

    Totals sum;
    for (const auto& t : totals) {
        sum.bytes += t.bytes;
        sum.errors += t.errors;
        for (int k = 0; k < 32; ++k) sum.acc[k] ^= t.acc[k];
    }
    char hex[65];
    for (int k = 0; k < 32; ++k) std::snprintf(hex + 2 * k, 3, "%02x", sum.acc[k]);
    std::printf("files=%zu bytes=%llu errors=%llu walk_s=%.3f hash_s=%.3f threads=%u xor=%s\n", g_files.size(),
                static_cast<unsigned long long>(sum.bytes), static_cast<unsigned long long>(sum.errors),
                std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(), threads,
                hex);
    return sum.errors == 0 ? 0 : 1;
}
