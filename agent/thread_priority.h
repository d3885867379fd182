// Background threads (writer, hasher, rescanner) run at a lower CPU priority than the
// thread that reads the kernel's queue: under a burst the kernel queue is drained first
// (an overflow there loses events for good), and the bounded user-space queues absorb
// what the writer has not written yet.
#pragma once

namespace vigil::agent {

// 5 steps: such a thread gets about a third of the CPU the reader gets when both want it.
inline constexpr int kBackgroundNice = 5;

// The priority of a thread whose work can wait (the writer): while its backlog is small it
// runs at nice 19 and takes only CPU time nobody else wants, so a burst of file activity
// is not slowed down by the agent recording it; once the backlog passes half of its bound
// it returns to kBackgroundNice and competes for the CPU again, so the bound is not hit
// because the agent was too polite. Back at nice 19 when the backlog falls below a
// quarter. Needs CAP_SYS_NICE to raise the priority again; without it the thread stays at
// kBackgroundNice throughout. Construct and use on the thread itself.
class BacklogPriority {
public:
    explicit BacklogPriority(const char* thread_name);
    // `fill`: how full the thread's input queue is, 0 to 1.
    void follow(double fill);
    bool yielding() const { return yielding_; }

private:
    bool set(int nice);
    const char* name_;
    int base_ = 0;  // the nice value the thread started with
    bool adaptive_ = false;
    bool yielding_ = false;
};

// Lowers the calling thread's priority by `nice` steps; logs a warning if refused.
void lower_this_thread_priority(const char* thread_name, int nice);

// The calling thread's disk reads go to the idle I/O class (ioprio_set): it reads only
// when no one else wants the disk. For hashing huge files in the background.
void make_this_thread_io_idle(const char* thread_name);

}  // namespace vigil::agent
