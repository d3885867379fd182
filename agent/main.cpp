// vigild: the real-time agent. This is the foundation's placeholder: it parses the
// contract's options and says plainly that real-time watching is not built yet
// (issue "Real-time agent vigild"), instead of pretending to watch.
#include <unistd.h>

#include <cstring>
#include <string>

namespace {

constexpr const char* kHelp =
    "usage: vigild [--policy FILE] [--db FILE] [--watcher auto|fanotify|inotify]\n"
    "\n"
    "The Vigil real-time agent (fanotify with user attribution, inotify fallback).\n"
    "Not implemented in this build: use `vigil init` and `vigil check`.\n";

void say(int fd, const char* text) {
    const std::size_t len = std::strlen(text);
    std::size_t done = 0;
    while (done < len) {
        const ssize_t n = ::write(fd, text + done, len - done);
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            say(STDOUT_FILENO, kHelp);
            return 0;
        }
        if (arg == "--version") {
            say(STDOUT_FILENO, "vigild " VIGIL_VERSION "\n");
            return 0;
        }
    }
    say(STDERR_FILENO, "vigild: the real-time agent is not implemented in this build\n");
    return 16;
}
