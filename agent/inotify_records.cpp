#include "agent/inotify_records.h"

#include <cstring>

namespace vigil::agent {

InotifyParseStats parse_inotify_buffer(std::span<const std::byte> buffer,
                                       const std::function<void(const inotify_event&, std::string_view)>& on_record) {
    InotifyParseStats stats;
    auto reject = [&](const char* problem) {
        ++stats.rejected;
        if (stats.first_problem.empty()) stats.first_problem = problem;
    };
    std::size_t off = 0;
    while (off < buffer.size()) {
        const std::size_t left = buffer.size() - off;
        if (left < sizeof(inotify_event)) {
            reject("buffer ends inside an event header");
            break;
        }
        inotify_event ev{};
        std::memcpy(&ev, buffer.data() + off, sizeof ev);  // no aliasing of the byte buffer
        if (ev.len > left - sizeof ev) {
            reject("name length longer than the rest of the buffer");
            break;
        }
        const std::string_view padded(reinterpret_cast<const char*>(buffer.data() + off + sizeof ev), ev.len);
        off += sizeof ev + ev.len;
        std::string_view name;
        if (ev.len > 0) {
            const auto nul = padded.find('\0');
            if (nul == std::string_view::npos) {
                reject("name not NUL-terminated inside its record");
                continue;
            }
            name = padded.substr(0, nul);
            // Joined to the watched directory's path: anything but one component would name
            // a file elsewhere.
            if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
                reject("name is not a single path component");
                continue;
            }
        }
        ++stats.events;
        on_record(ev, name);
    }
    return stats;
}

}  // namespace vigil::agent
