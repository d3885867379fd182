// Fuzz target: the walk over a fanotify read() buffer (agent/fanotify_records.h). The
// kernel is trusted to write sound records, but the parser must not be the weak point if
// it ever does not: no read outside the buffer (ASan), and its accounting adds up.
#include <sys/fanotify.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "agent/fanotify_records.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // A copy of exactly `size` bytes, so ASan sees a read one past the end.
    const auto buf = std::make_unique<std::byte[]>(size);
    if (size != 0) std::memcpy(buf.get(), data, size);
    std::size_t seen = 0;
    std::size_t touched = 0;
    const auto stats = vigil::agent::parse_fanotify_buffer(
        std::span<const std::byte>(buf.get(), size), [&](vigil::agent::FanotifyRecord& r) {
            ++seen;
            // What the source does with the fields: read every byte of them.
            for (const auto* s :
                 {&r.dir_key, &r.name, &r.object, &r.old_dir_key, &r.old_name, &r.new_dir_key, &r.new_name})
                for (const char c : *s) touched += static_cast<unsigned char>(c);
            if (r.problem.empty() && (r.name.find('/') != std::string::npos || r.name == "..")) __builtin_trap();
        });
    if (seen != stats.events) __builtin_trap();
    if (stats.events > size / sizeof(fanotify_event_metadata)) __builtin_trap();
    if (stats.rejected > stats.events + 1) __builtin_trap();
    (void)touched;
    return 0;
}
