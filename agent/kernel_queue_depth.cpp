#include "agent/kernel_queue_depth.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "agent/log.h"
#include "common/sys.h"
#include "common/unique_fd.h"

namespace vigil::agent {
namespace {

constexpr const char* kSysctl = "/proc/sys/fs/fanotify/max_queued_events";

std::optional<std::uint64_t> read_value() {
    const UniqueFd fd(::open(kSysctl, O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    char buf[32] = {};
    const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n <= 0) return std::nullopt;
    try {
        return std::stoull(std::string(buf, static_cast<std::size_t>(n)));
    } catch (...) {
        return std::nullopt;
    }
}

bool write_value(std::uint64_t v) {
    const UniqueFd fd(::open(kSysctl, O_WRONLY | O_CLOEXEC));
    if (!fd) return false;
    const std::string text = std::to_string(v) + "\n";
    return ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

}  // namespace

KernelQueueDepth::KernelQueueDepth(std::uint32_t events) {
    const auto current = read_value();
    if (!current || *current >= events) return;
    if (!write_value(events)) {
        log_warning(std::string("cannot raise ") + kSysctl + " to " + std::to_string(events) + " (" +
                    errno_text(errno) + "): the kernel queue keeps " + std::to_string(*current) + " events");
        return;
    }
    previous_ = current;
}

KernelQueueDepth::~KernelQueueDepth() {
    if (previous_ && !write_value(*previous_))
        log_warning(std::string("cannot restore ") + kSysctl + " to " + std::to_string(*previous_) + ": " +
                    errno_text(errno));
}

}  // namespace vigil::agent
