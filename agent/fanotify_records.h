// The walk over a fanotify read() buffer: fanotify_event_metadata records, each followed
// by its info records (FID, DFID, DFID_NAME, OLD/NEW_DFID_NAME, PIDFD). Pure — no
// syscalls, no fds opened or closed — so the code that touches kernel bytes is unit-tested
// with hand-built buffers and fuzzed (fuzz/fanotify_records_fuzz.cpp) on its own.
//
// Every length is checked before it is used; a record that lies about one is rejected and
// counted, never read past:
//   - event_len >= the metadata size and <= what is left of the buffer (else the rest of
//     the buffer is rejected: nothing after a lying event_len can be found);
//   - metadata_len >= the metadata size and <= event_len;
//   - each info header: len >= the header size and <= what is left of the event, and the
//     headers exactly fill the event;
//   - FID records: the file_handle fits, its handle_bytes fit inside the record and are at
//     most MAX_HANDLE_SZ; a name is NUL-terminated inside the record and is one path
//     component (no '/', not "..");
//   - PIDFD records: long enough for the pidfd.
// Records are packed, not aligned: every struct is copied out with memcpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace vigil::agent {

// One event. A rejected event (`problem` not empty) still carries the fds the kernel put
// in it, as far as they could be read, so the caller closes them; nothing else in it may
// be used.
struct FanotifyRecord {
    std::uint64_t mask = 0;
    std::int32_t fd = -1;  // the event's fd (FAN_NOFD in FID mode); the caller owns it
    std::int32_t pid = 0;
    std::int32_t pidfd = -1;  // from a PIDFD info record, -1 if none; the caller owns it
    std::string dir_key;      // DFID_NAME or DFID: handle key of the directory
    std::string name;         // DFID_NAME: the entry's name ("." for the directory itself)
    std::string object;       // FID: handle key of the object itself
    std::string old_dir_key;  // OLD_DFID_NAME (FAN_RENAME)
    std::string old_name;
    std::string new_dir_key;  // NEW_DFID_NAME (FAN_RENAME)
    std::string new_name;
    std::string problem;  // why the record was rejected; empty when it is sound
};

struct FanotifyParseStats {
    std::size_t events = 0;    // records handed to the callback (sound or rejected)
    std::size_t rejected = 0;  // rejected records, plus one for an unreadable buffer tail
    std::string first_problem;
    // A metadata version this code does not know: parsing stopped there (the caller
    // cannot trust any layout that follows).
    bool wrong_version = false;
    std::uint8_t version = 0;  // the version seen, when wrong_version
};

// fsid bytes + handle type + handle bytes: the key under which a directory or object is
// known, the same from an event's info record and from name_to_handle_at().
std::string fanotify_handle_key(const void* fsid, int handle_type, const void* handle, std::size_t bytes);

// Calls `on_record` for each event in `buffer` (the bytes one read() returned), in order.
FanotifyParseStats parse_fanotify_buffer(std::span<const std::byte> buffer,
                                         const std::function<void(FanotifyRecord&)>& on_record);

}  // namespace vigil::agent
