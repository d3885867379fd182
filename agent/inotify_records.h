// The walk over an inotify read() buffer: struct inotify_event {wd, mask, cookie, len}
// records, each followed by `len` bytes of name, NUL-terminated and NUL-padded (inotify(7)).
// Pure — no syscalls — so the code that touches kernel bytes is unit-tested with
// hand-built buffers and fuzzed (fuzz/inotify_records_fuzz.cpp) on its own.
//
// Every length is checked before it is used; a record that lies is rejected and counted,
// never read past:
//   - the header fits in what is left of the buffer, and `len` fits after it (else the
//     rest of the buffer is rejected: nothing after a lying len can be found);
//   - a name (len > 0) is NUL-terminated inside its `len` bytes, not empty, and one path
//     component (no '/', not "." or ".."): it is joined to the watched directory's path.
// Records are packed, not aligned: the header is copied out with memcpy.
#pragma once

#include <sys/inotify.h>

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace vigil::agent {

struct InotifyParseStats {
    std::size_t events = 0;    // sound records handed to the callback
    std::size_t rejected = 0;  // rejected records, plus one for an unreadable buffer tail
    std::string first_problem;
};

// Calls `on_record` for each sound record in `buffer` (the bytes one read() returned), in
// order, with the name without its padding (empty: the watched directory itself). The
// name views `buffer`.
InotifyParseStats parse_inotify_buffer(std::span<const std::byte> buffer,
                                       const std::function<void(const inotify_event&, std::string_view)>& on_record);

}  // namespace vigil::agent
