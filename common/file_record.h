// FileRecord: everything Vigil knows about one filesystem entry at one moment.
// Produced by the walker, stored by the baseline store, compared by diff.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/sha256.h"

namespace vigil {

enum class FileType : std::uint8_t {
    Regular = 0,
    Directory = 1,
    Symlink = 2,
    Fifo = 3,
    Socket = 4,
    CharDevice = 5,
    BlockDevice = 6,
    Unknown = 7,
};

std::string_view file_type_name(FileType t);
FileType file_type_from_mode(unsigned mode);

struct FileRecord {
    std::string path;        // raw bytes, absolute; never assumed UTF-8
    std::uint32_t rule = 0;  // index of the policy rule that covers it
    FileType type = FileType::Unknown;
    std::uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (st_mode & 07777)
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::uint64_t inode = 0;
    std::uint64_t dev = 0;
    std::uint64_t nlink = 0;
    std::uint64_t rdev = 0;              // device nodes only
    std::optional<Sha256Digest> sha256;  // regular files that could be hashed
    std::string target;                  // symlink target, raw bytes
    std::string xattrs;                  // canonical encoding, see common/xattrs.h
    std::string error;                   // why an attribute could not be read; empty when complete
};

}  // namespace vigil
