#include "common/diff.h"

#include <cstdio>

#include "common/escape.h"
#include "common/time_format.h"
#include "common/xattrs.h"

namespace vigil {
namespace {

std::string octal_mode(std::uint32_t mode) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04o", mode);
    return buf;
}

AttrValue sha_value(const FileRecord& r) {
    if (!r.sha256) return AttrValue::null();
    return AttrValue::of(digest_hex(*r.sha256));
}

// One xattr group rendered as `name=value, ...`: text values escaped, binary ones in hex.
AttrValue xattr_value(const FileRecord& r, std::string_view group) {
    auto list = decode_xattrs(r.xattrs);
    if (!list) return AttrValue::of("(" + list.error().message() + ")");
    std::string out;
    bool any = false;
    for (const auto& [name, value] : list.value()) {
        if (xattr_group(name) != group) continue;
        if (any) out += ", ";
        any = true;
        out += escape_bytes(name) + "=";
        // Text (user.*, SELinux labels with their trailing NUL) reads better escaped; ACLs,
        // capabilities and anything else binary read better in hex.
        bool printable = group == "xattrs";
        for (const char c : value)
            printable = printable && (static_cast<unsigned char>(c) >= 0x20 || c == '\0' || c == '\n' || c == '\t');
        out += printable ? "\"" + escape_bytes(value) + "\"" : "0x" + to_hex(value);
    }
    return any ? AttrValue::of(out) : AttrValue::null();
}

AttrValue value_of(const FileRecord& r, Attr a) {
    switch (a) {
        case kAttrSha256: return sha_value(r);
        case kAttrMode: return AttrValue::of(octal_mode(r.mode));
        case kAttrUid: return AttrValue::of(r.uid);
        case kAttrGid: return AttrValue::of(r.gid);
        case kAttrSize: return AttrValue::of(static_cast<std::int64_t>(r.size));
        case kAttrMtime: return AttrValue::of(format_rfc3339_ns(r.mtime_ns));
        case kAttrCtime: return AttrValue::of(format_rfc3339_ns(r.ctime_ns));
        case kAttrInode: return AttrValue::of(static_cast<std::int64_t>(r.inode));
        case kAttrNlink: return AttrValue::of(static_cast<std::int64_t>(r.nlink));
        case kAttrDev: return AttrValue::of(static_cast<std::int64_t>(r.dev));
        case kAttrXattrs: return xattr_value(r, "xattrs");
        case kAttrAcl: return xattr_value(r, "acl");
        case kAttrCaps: return xattr_value(r, "caps");
        case kAttrTarget:
            return r.type == FileType::Symlink ? AttrValue::of(escape_bytes(r.target)) : AttrValue::null();
        case kAttrAll: break;
    }
    return AttrValue::null();
}

// Raw comparison where the displayed form could hide a difference (xattr groups compare
// their canonical encodings, not their renderings).
bool attr_differs(const FileRecord& a, const FileRecord& b, Attr attr) {
    switch (attr) {
        case kAttrSha256: return a.sha256 != b.sha256;
        case kAttrTarget: return a.target != b.target;
        case kAttrMode: return a.mode != b.mode;
        case kAttrUid: return a.uid != b.uid;
        case kAttrGid: return a.gid != b.gid;
        case kAttrSize: return a.size != b.size;
        case kAttrMtime: return a.mtime_ns != b.mtime_ns;
        case kAttrCtime: return a.ctime_ns != b.ctime_ns;
        case kAttrInode: return a.inode != b.inode;
        case kAttrNlink: return a.nlink != b.nlink;
        case kAttrDev: return a.dev != b.dev;
        case kAttrXattrs:
        case kAttrAcl:
        case kAttrCaps: {
            if (a.xattrs == b.xattrs) return false;  // the common case: nothing to decode
            auto la = decode_xattrs(a.xattrs);
            auto lb = decode_xattrs(b.xattrs);
            if (!la || !lb) return a.xattrs != b.xattrs;
            const std::string_view group = attr == kAttrXattrs ? "xattrs" : attr == kAttrAcl ? "acl" : "caps";
            return xattr_group_blob(la.value(), group) != xattr_group_blob(lb.value(), group);
        }
        case kAttrAll: break;
    }
    return false;
}

// Attributes that mean something for a type: a directory's size is the filesystem's
// business, a symlink has no content hash, a regular file has no target.
bool applies(Attr a, FileType t) {
    switch (a) {
        case kAttrSha256: return t == FileType::Regular;
        case kAttrTarget: return t == FileType::Symlink;
        case kAttrSize: return t != FileType::Directory;
        default: return true;
    }
}

constexpr Attr kCompareOrder[] = {kAttrSha256, kAttrTarget, kAttrMode,  kAttrUid,   kAttrGid,   kAttrSize,  kAttrXattrs,
                                  kAttrAcl,    kAttrCaps,   kAttrMtime, kAttrCtime, kAttrInode, kAttrNlink, kAttrDev};

AttrValue error_value(const FileRecord& r) {
    return r.error.empty() ? AttrValue::null() : AttrValue::of(escape_bytes(r.error));
}

std::vector<AttrChange> compare(const FileRecord& before, const FileRecord& after, std::uint32_t check) {
    std::vector<AttrChange> changes;
    if (before.type != after.type) {
        changes.push_back({"type", AttrValue::of(std::string(file_type_name(before.type))),
                           AttrValue::of(std::string(file_type_name(after.type)))});
    }
    for (const Attr a : kCompareOrder) {
        if ((check & a) == 0 || !applies(a, before.type) || !applies(a, after.type)) continue;
        if (attr_differs(before, after, a))
            changes.push_back({std::string(attr_name(a)), value_of(before, a), value_of(after, a)});
    }
    // A type change replaces the content attributes: show what it was and what it is.
    if (before.type != after.type) {
        if (before.sha256 || after.sha256) changes.push_back({"sha256", sha_value(before), sha_value(after)});
        if (!before.target.empty() || !after.target.empty())
            changes.push_back({"target", value_of(before, kAttrTarget), value_of(after, kAttrTarget)});
    }
    // Always reported: a file that became unreadable can no longer be vouched for.
    if (before.error != after.error) changes.push_back({"error", error_value(before), error_value(after)});
    return changes;
}

}  // namespace

std::string AttrValue::display() const {
    switch (kind) {
        case Kind::Null: return "null";
        case Kind::Int: return std::to_string(number);
        case Kind::Text: return text;
    }
    return "null";
}

int DiffResult::exit_bits() const {
    return (added.empty() ? 0 : 1) | (removed.empty() ? 0 : 2) | (changed.empty() ? 0 : 4);
}

DiffResult diff_records(const std::vector<FileRecord>& baseline, const std::vector<FileRecord>& current,
                        const Policy& policy) {
    DiffResult out;
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < baseline.size() || j < current.size()) {
        if (j == current.size() || (i < baseline.size() && baseline[i].path < current[j].path)) {
            out.removed.push_back(&baseline[i++]);
        } else if (i == baseline.size() || current[j].path < baseline[i].path) {
            out.added.push_back(&current[j++]);
        } else {
            const FileRecord& after = current[j];
            const std::uint32_t check = after.rule < policy.rules.size() ? policy.rules[after.rule].check : kAttrAll;
            auto changes = compare(baseline[i], after, check);
            if (!changes.empty()) out.changed.push_back({&baseline[i], &after, std::move(changes)});
            ++i;
            ++j;
        }
    }
    return out;
}

std::vector<std::pair<std::string, AttrValue>> describe_record(const FileRecord& r) {
    std::vector<std::pair<std::string, AttrValue>> out;
    out.emplace_back("type", AttrValue::of(std::string(file_type_name(r.type))));
    for (const Attr a : kCompareOrder) {
        if (!applies(a, r.type)) continue;
        if ((a == kAttrXattrs || a == kAttrAcl || a == kAttrCaps) && value_of(r, a).kind == AttrValue::Kind::Null)
            continue;
        out.emplace_back(std::string(attr_name(a)), value_of(r, a));
    }
    if (!r.error.empty()) out.emplace_back("error", error_value(r));
    return out;
}

}  // namespace vigil
