// Background threads (writer, hasher, rescanner) run at a lower CPU priority than the
// thread that reads the kernel's queue: under a burst the kernel queue is drained first
// (an overflow there loses events for good), and the bounded user-space queues absorb
// what the writer has not written yet.
#pragma once

namespace vigil::agent {

// 5 steps: such a thread gets about a third of the CPU the reader gets when both want it.
inline constexpr int kBackgroundNice = 5;

// Lowers the calling thread's priority by `nice` steps; logs a warning if refused.
void lower_this_thread_priority(const char* thread_name, int nice);

// The calling thread's disk reads go to the idle I/O class (ioprio_set): it reads only
// when no one else wants the disk. For hashing huge files in the background.
void make_this_thread_io_idle(const char* thread_name);

}  // namespace vigil::agent
