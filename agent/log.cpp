#include "agent/log.h"

#include <unistd.h>

#include <mutex>
#include <string>

#include "common/event.h"
#include "common/time_format.h"

namespace vigil::agent {

void log(LogLevel level, std::string_view message) {
    static std::mutex mu;
    const char* tag = level == LogLevel::Info ? "info" : level == LogLevel::Warning ? "warning" : "error";
    std::string line = format_rfc3339_ns(realtime_now_ns()) + " vigild " + tag + ": " + std::string(message) + "\n";
    const std::scoped_lock lock(mu);
    std::string_view rest = line;
    while (!rest.empty()) {
        const ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
        if (n <= 0) return;  // stderr gone: nothing better to do than stop logging
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
}

}  // namespace vigil::agent
