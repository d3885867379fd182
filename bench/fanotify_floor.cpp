// The kernel's share of vigild's cost (bench/realtime.sh, mode "floor"): a minimal
// fanotify reader with vigild's flags and marks — FID + DFID_NAME + TARGET_FID + PIDFD,
// one filesystem mark for the change events and one for opens and reads — that reads
// every event and drops it (closing its pidfd), nothing more. What the workload loses
// under this reader is what the kernel charges for producing the events vigild needs;
// vigild can only add to it.
//   fanotify_floor DIR [PAUSE_US]   (SIGTERM: prints events=N and exits)
// PAUSE_US > 0: sleep that long after each drain that read anything, as vigild does
// under a burst (see Agent::run), so both are compared alike.
#include <fcntl.h>
#include <poll.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace {
volatile std::sig_atomic_t stop = 0;
void on_signal(int) { stop = 1; }
}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: fanotify_floor DIR [PAUSE_US]\n");
        return 2;
    }
    const long pause_us = argc > 2 ? std::atol(argv[2]) : 0;
    const unsigned flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID |
                           FAN_REPORT_TARGET_FID | FAN_REPORT_PIDFD;
    const int fd = fanotify_init(flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (fd < 0) {
        std::perror("fanotify_init");
        return 1;
    }
    const unsigned long long changes = FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_RENAME | FAN_ONDIR;
    if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, changes, AT_FDCWD, argv[1]) < 0 ||
        fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN | FAN_ACCESS, AT_FDCWD, argv[1]) < 0) {
        std::perror("fanotify_mark");
        return 1;
    }
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    std::fprintf(stderr, "ready\n");
    alignas(fanotify_event_metadata) static char buf[256 * 1024];
    unsigned long long events = 0;
    while (stop == 0) {
        pollfd p{fd, POLLIN, 0};
        (void)poll(&p, 1, 200);
        bool got = false;
        for (;;) {
            ssize_t len = read(fd, buf, sizeof buf);
            if (len <= 0) break;
            got = true;
            auto* md = reinterpret_cast<fanotify_event_metadata*>(buf);
            for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
                ++events;
                if (md->fd >= 0) close(md->fd);
                const char* info = reinterpret_cast<const char*>(md + 1);
                const char* end = reinterpret_cast<const char*>(md) + md->event_len;
                while (info + sizeof(fanotify_event_info_header) <= end) {
                    const auto* h = reinterpret_cast<const fanotify_event_info_header*>(info);
                    if (h->len == 0) break;
                    if (h->info_type == FAN_EVENT_INFO_TYPE_PIDFD) {
                        const int pidfd = reinterpret_cast<const fanotify_event_info_pidfd*>(info)->pidfd;
                        if (pidfd >= 0) close(pidfd);
                    }
                    info += h->len;
                }
            }
        }
        if (got && pause_us > 0) usleep(static_cast<useconds_t>(pause_us));
    }
    std::printf("events=%llu\n", events);
    return 0;
}
