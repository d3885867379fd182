#include "agent/thread_priority.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

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
