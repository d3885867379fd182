#include "common/file_record.h"

#include <sys/stat.h>

namespace vigil {

std::string_view file_type_name(FileType t) {
    switch (t) {
        case FileType::Regular: return "file";
        case FileType::Directory: return "directory";
        case FileType::Symlink: return "symlink";
        case FileType::Fifo: return "fifo";
        case FileType::Socket: return "socket";
        case FileType::CharDevice: return "char-device";
        case FileType::BlockDevice: return "block-device";
        case FileType::Unknown: break;
    }
    return "unknown";
}

FileType file_type_from_mode(unsigned mode) {
    switch (mode & S_IFMT) {
        case S_IFREG: return FileType::Regular;
        case S_IFDIR: return FileType::Directory;
        case S_IFLNK: return FileType::Symlink;
        case S_IFIFO: return FileType::Fifo;
        case S_IFSOCK: return FileType::Socket;
        case S_IFCHR: return FileType::CharDevice;
        case S_IFBLK: return FileType::BlockDevice;
        default: return FileType::Unknown;
    }
}

}  // namespace vigil
