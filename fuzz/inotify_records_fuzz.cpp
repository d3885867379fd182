// Fuzz target: the walk over an inotify read() buffer (agent/inotify_records.h): no read
// outside the buffer (ASan), names handed on are single path components, and the
// accounting adds up.
#include <sys/inotify.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

#include "agent/inotify_records.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto buf = std::make_unique<std::byte[]>(size);
    if (size != 0) std::memcpy(buf.get(), data, size);
    std::size_t seen = 0;
    std::size_t touched = 0;
    const auto stats = vigil::agent::parse_inotify_buffer(
        std::span<const std::byte>(buf.get(), size), [&](const inotify_event& ev, std::string_view name) {
            ++seen;
            for (const char c : name) touched += static_cast<unsigned char>(c);
            if (name.size() >= ev.len && ev.len != 0) __builtin_trap();  // the NUL is inside len
            if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos || name == "." ||
                name == "..")
                __builtin_trap();
        });
    if (seen != stats.events) __builtin_trap();
    if (stats.events > size / sizeof(inotify_event)) __builtin_trap();
    (void)touched;
    return 0;
}
