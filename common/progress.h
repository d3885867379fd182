// The progress line of init/check/update: files, bytes, files/s, MB/s on stderr, redrawn
// four times a second, only when stderr is a terminal (never in logs or pipes).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/walker.h"

namespace vigil {

class ProgressLine {
public:
    explicit ProgressLine(const WalkProgress& progress);  // starts drawing if stderr is a TTY
    ~ProgressLine();                                      // stops and erases the line
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

private:
    void run();
    void draw();
    const WalkProgress& progress_;
    std::chrono::steady_clock::time_point start_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace vigil
