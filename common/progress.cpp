#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace vigil {

ProgressLine::ProgressLine(const WalkProgress& progress)
    : progress_(progress), start_(std::chrono::steady_clock::now()) {
    if (::isatty(STDERR_FILENO) == 1) thread_ = std::thread([this] { run(); });
}

ProgressLine::~ProgressLine() {
    if (!thread_.joinable()) return;
    {
        const std::scoped_lock lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    std::fputs("\r\x1b[2K", stderr);
    std::fflush(stderr);
}

void ProgressLine::run() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [&] { return stop_; })) draw();
}

void ProgressLine::draw() {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const auto entries = progress_.entries.load(std::memory_order_relaxed);
    const auto bytes = progress_.bytes_hashed.load(std::memory_order_relaxed);
    const double mb = static_cast<double>(bytes) / 1e6;
    std::fprintf(stderr, "\r\x1b[2K%llu files  %.1f MB  %.0f files/s  %.1f MB/s",
                 static_cast<unsigned long long>(entries), mb, secs > 0 ? static_cast<double>(entries) / secs : 0.0,
                 secs > 0 ? mb / secs : 0.0);
    std::fflush(stderr);
}

}  // namespace vigil
