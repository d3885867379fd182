#include "cli/output.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "common/sys.h"

namespace vigil::cli {
namespace {

bool write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = retry_eintr([&] { return ::write(fd, text.data(), text.size()); });
        if (n < 0) return false;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

bool write_stdout(std::string_view text) { return write_all(STDOUT_FILENO, text); }

// Messages are already escaped by whoever built them (paths go through escape_bytes).
void print_error(std::string_view message) {
    (void)write_all(STDERR_FILENO, "vigil: error: " + std::string(message) + "\n");
}

void print_warning(std::string_view message) {
    (void)write_all(STDERR_FILENO, "vigil: warning: " + std::string(message) + "\n");
}

bool stdout_wants_color() {
    const char* no_color = std::getenv("NO_COLOR");
    return ::isatty(STDOUT_FILENO) == 1 && (no_color == nullptr || *no_color == '\0');
}

}  // namespace vigil::cli
