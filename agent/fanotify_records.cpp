#include "agent/fanotify_records.h"

#include <fcntl.h>
#include <sys/fanotify.h>

#include <cstring>
#include <string_view>

namespace vigil::agent {
namespace {

// Where the bytes of one event's info records are decoded into `rec`; returns the reason
// when a record lies about its length (the event is then rejected).
std::string decode_fid(const std::byte* p, std::size_t len, std::uint8_t type, FanotifyRecord& rec) {
    constexpr std::size_t kFixed = sizeof(fanotify_event_info_fid) + sizeof(file_handle);
    if (len < kFixed) return "fid info record shorter than its file handle header";
    const std::byte* fsid = p + offsetof(fanotify_event_info_fid, fsid);
    file_handle fh{};
    std::memcpy(&fh, p + sizeof(fanotify_event_info_fid), sizeof fh);
    const std::size_t room = len - kFixed;
    if (fh.handle_bytes > room) return "file handle longer than its info record";
    if (fh.handle_bytes > MAX_HANDLE_SZ) return "file handle longer than MAX_HANDLE_SZ";
    const std::byte* handle = p + kFixed;
    std::string key = fanotify_handle_key(fsid, fh.handle_type, handle, fh.handle_bytes);
    const bool named = type == FAN_EVENT_INFO_TYPE_DFID_NAME || type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
                       type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME;
    std::string name;
    if (named) {
        // The name follows the handle, NUL-terminated, then padding up to the record's end.
        const std::string_view rest(reinterpret_cast<const char*>(handle + fh.handle_bytes), room - fh.handle_bytes);
        const auto nul = rest.find('\0');
        if (nul == std::string_view::npos) return "name not NUL-terminated inside its info record";
        name.assign(rest.substr(0, nul));
        // One component: a name is joined to its directory's path, so a '/' or ".." in it
        // would name a file elsewhere.
        if (name.find('/') != std::string::npos || name == "..") return "name is not a single path component";
    }
    switch (type) {
        case FAN_EVENT_INFO_TYPE_DFID_NAME:
            rec.dir_key = std::move(key);
            rec.name = std::move(name);
            break;
        case FAN_EVENT_INFO_TYPE_DFID: rec.dir_key = std::move(key); break;
        case FAN_EVENT_INFO_TYPE_FID: rec.object = std::move(key); break;
        case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
            rec.old_dir_key = std::move(key);
            rec.old_name = std::move(name);
            break;
        case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
            rec.new_dir_key = std::move(key);
            rec.new_name = std::move(name);
            break;
        default: break;
    }
    return {};
}

bool is_fid_type(std::uint8_t type) {
    return type == FAN_EVENT_INFO_TYPE_FID || type == FAN_EVENT_INFO_TYPE_DFID ||
           type == FAN_EVENT_INFO_TYPE_DFID_NAME || type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
           type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME;
}

// The info records of one event (the bytes between metadata_len and event_len).
std::string decode_info(const std::byte* p, std::size_t left, FanotifyRecord& rec) {
    while (left > 0) {
        if (left < sizeof(fanotify_event_info_header)) return "bytes after the last info record";
        fanotify_event_info_header hdr{};
        std::memcpy(&hdr, p, sizeof hdr);
        if (hdr.len < sizeof hdr) return "info record shorter than its header";
        if (hdr.len > left) return "info record longer than its event";
        if (hdr.info_type == FAN_EVENT_INFO_TYPE_PIDFD) {
            fanotify_event_info_pidfd info{};
            if (hdr.len < sizeof info) return "pidfd info record too short";
            std::memcpy(&info, p, sizeof info);
            if (info.pidfd >= 0) rec.pidfd = info.pidfd;  // FAN_NOPIDFD, FAN_EPIDFD: none
        } else if (is_fid_type(hdr.info_type)) {
            std::string problem = decode_fid(p, hdr.len, hdr.info_type, rec);
            if (!problem.empty()) return problem;
        }
        // Others (FAN_EVENT_INFO_TYPE_ERROR, types of newer kernels): skipped by length.
        p += hdr.len;
        left -= hdr.len;
    }
    return {};
}

}  // namespace

std::string fanotify_handle_key(const void* fsid, int handle_type, const void* handle, std::size_t bytes) {
    std::string key(static_cast<const char*>(fsid), 8);
    key.append(reinterpret_cast<const char*>(&handle_type), sizeof handle_type);
    key.append(static_cast<const char*>(handle), bytes);
    return key;
}

FanotifyParseStats parse_fanotify_buffer(std::span<const std::byte> buffer,
                                         const std::function<void(FanotifyRecord&)>& on_record) {
    FanotifyParseStats stats;
    auto reject = [&](const std::string& problem) {
        ++stats.rejected;
        if (stats.first_problem.empty()) stats.first_problem = problem;
    };
    std::size_t off = 0;
    while (off < buffer.size()) {
        const std::size_t left = buffer.size() - off;
        if (left < sizeof(fanotify_event_metadata)) {
            reject("buffer ends inside an event's metadata");
            break;
        }
        fanotify_event_metadata meta{};
        std::memcpy(&meta, buffer.data() + off, sizeof meta);
        if (meta.vers != FANOTIFY_METADATA_VERSION) {
            stats.wrong_version = true;
            stats.version = meta.vers;
            break;
        }
        // Nothing past a lying event_len can be found, and its fd may be anyone's: the
        // rest of the buffer is refused without touching it.
        if (meta.event_len < sizeof meta) {
            reject("event_len shorter than the metadata");
            break;
        }
        if (meta.event_len > left) {
            reject("event_len longer than the rest of the buffer");
            break;
        }
        const std::byte* event = buffer.data() + off;
        off += meta.event_len;

        FanotifyRecord rec;
        rec.mask = meta.mask;
        rec.fd = meta.fd;
        rec.pid = meta.pid;
        if (meta.metadata_len < sizeof meta || meta.metadata_len > meta.event_len)
            rec.problem = "metadata_len outside the event";
        else
            rec.problem = decode_info(event + meta.metadata_len, meta.event_len - meta.metadata_len, rec);
        if (!rec.problem.empty()) reject(rec.problem);
        ++stats.events;
        on_record(rec);
    }
    return stats;
}

}  // namespace vigil::agent
