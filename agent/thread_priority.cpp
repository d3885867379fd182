#include "agent/thread_priority.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "agent/log.h"
#include "common/sys.h"

namespace vigil::agent {

void lower_this_thread_priority(const char* thread_name, int nice) {
    // On Linux, PRIO_PROCESS with a thread id changes only that thread.
    errno = 0;
    const int current = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    if (current == -1 && errno != 0) return;
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), current + nice) < 0)
        log_warning(std::string("cannot lower the priority of the ") + thread_name + " thread: " + errno_text(errno));
}

BacklogPriority::BacklogPriority(const char* thread_name) : name_(thread_name) {
    errno = 0;
    base_ = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    if (base_ == -1 && errno != 0) {
        log_warning(std::string("cannot read the priority of the ") + name_ + " thread: " + errno_text(errno));
        base_ = 0;
        return;
    }
    if (!set(base_ + kBackgroundNice)) return;
    // Whether the priority can go back up once lowered (CAP_SYS_NICE or RLIMIT_NICE):
    // one step down and back. Refused, the thread stays one step below kBackgroundNice
    // and never yields further.
    adaptive_ = set(base_ + kBackgroundNice + 1) && set(base_ + kBackgroundNice);
    if (!adaptive_)
        log_info(std::string("the ") + name_ +
                 " thread keeps one priority (cannot raise a thread's priority: no CAP_SYS_NICE)");
}

bool BacklogPriority::set(int nice) {
    return ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), std::min(nice, 19)) == 0;
}

void BacklogPriority::follow(double fill) {
    if (!adaptive_) return;
    if (!yielding_ && fill < 0.25) {
        yielding_ = set(19);
    } else if (yielding_ && fill >= 0.5) {
        if (set(base_ + kBackgroundNice)) {
            yielding_ = false;
        } else {
            adaptive_ = false;  // cannot happen after the probe; never stay stuck at 19
            log_warning(std::string("cannot raise the priority of the ") + name_ + " thread: " + errno_text(errno));
        }
    }
}

void make_this_thread_io_idle(const char* thread_name) {
    // linux/ioprio.h: IOPRIO_CLASS_IDLE (3) in the class bits; no libc wrapper exists.
    constexpr int kWhoProcess = 1;
    constexpr int kClassIdle = 3;
    constexpr int kClassShift = 13;
    if (::syscall(SYS_ioprio_set, kWhoProcess, static_cast<int>(::gettid()), kClassIdle << kClassShift) < 0)
        log_warning(std::string("cannot move the ") + thread_name +
                    " thread to the idle I/O class: " + errno_text(errno));
}

}  // namespace vigil::agent
