#include "common/xattrs.h"

#include <sys/xattr.h>

#include <algorithm>
#include <cstring>

#include "common/escape.h"

namespace vigil {
namespace {

// The kernel's own limits (XATTR_LIST_MAX, XATTR_SIZE_MAX): nothing larger can exist, so
// the buffers below are bounded whatever the filesystem claims.
constexpr std::size_t kListMax = 65536;
constexpr std::size_t kValueMax = 65536;

void put_u32(std::string& out, std::size_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xffU);
}

bool get_u32(std::string_view& in, std::uint32_t& v) {
    if (in.size() < 4) return false;
    v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8U) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
    in.remove_prefix(4);
    return true;
}

// Calls `get(buf, size)` (a flistxattr/fgetxattr wrapper) with a buffer grown on ERANGE.
template <class Get>
Result<std::string> read_sized(Get&& get, std::size_t max, const std::string& what) {
    std::string buf;
    for (int attempt = 0; attempt < 4; ++attempt) {
        const ssize_t probe = get(nullptr, 0);
        if (probe < 0) return Error::from_errno(errno, what);
        buf.resize(std::min(static_cast<std::size_t>(probe), max));
        if (buf.empty()) return buf;
        const ssize_t n = get(buf.data(), buf.size());
        if (n >= 0) {
            buf.resize(static_cast<std::size_t>(n));
            return buf;
        }
        if (errno != ERANGE) return Error::from_errno(errno, what);
        // Grew between the two calls: ask again.
    }
    return Error::from_errno(ERANGE, what);
}

}  // namespace

Result<XattrList> read_xattrs_fd(int fd, std::string_view what) {
    const std::string where = "xattrs of '" + escape_bytes(what) + "'";
    auto names = read_sized([&](char* b, std::size_t n) { return ::flistxattr(fd, b, n); }, kListMax, where);
    if (!names) {
        // Filesystems without xattr support have none: that is an answer, not a failure.
        if (names.error().code == std::errc::not_supported) return XattrList{};
        return names.error();
    }
    XattrList out;
    const std::string& all = names.value();
    for (std::size_t pos = 0; pos < all.size();) {
        const std::size_t end = all.find('\0', pos);
        const std::string name = all.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        pos = end == std::string::npos ? all.size() : end + 1;
        if (name.empty()) continue;
        auto value = read_sized([&](char* b, std::size_t n) { return ::fgetxattr(fd, name.c_str(), b, n); }, kValueMax,
                                where + " '" + escape_bytes(name) + "'");
        if (!value) {
            if (value.error().code == std::errc::no_message_available) continue;  // ENODATA: removed meanwhile
            return value.error();
        }
        out.emplace_back(name, std::move(value.value()));
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string encode_xattrs(const XattrList& list) {
    std::string out;
    for (const auto& [name, value] : list) {
        put_u32(out, name.size());
        out += name;
        put_u32(out, value.size());
        out += value;
    }
    return out;
}

Result<XattrList> decode_xattrs(std::string_view blob) {
    XattrList out;
    while (!blob.empty()) {
        std::uint32_t len = 0;
        if (!get_u32(blob, len) || len > blob.size()) return Error::msg("corrupt xattr encoding (name)");
        std::string name(blob.substr(0, len));
        blob.remove_prefix(len);
        if (!get_u32(blob, len) || len > blob.size()) return Error::msg("corrupt xattr encoding (value)");
        out.emplace_back(std::move(name), std::string(blob.substr(0, len)));
        blob.remove_prefix(len);
    }
    return out;
}

std::string_view xattr_group(std::string_view name) {
    if (name == "system.posix_acl_access" || name == "system.posix_acl_default") return "acl";
    if (name == "security.capability") return "caps";
    return "xattrs";
}

std::string xattr_group_blob(const XattrList& list, std::string_view group) {
    XattrList subset;
    for (const auto& entry : list)
        if (xattr_group(entry.first) == group) subset.push_back(entry);
    return encode_xattrs(subset);
}

}  // namespace vigil
