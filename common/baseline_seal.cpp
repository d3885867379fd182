#include "common/baseline_seal.h"

namespace vigil {
namespace {
std::int64_t as_i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }  // bit-for-bit, as stored
}  // namespace

FileRow file_row_of(const FileRecord& r) {
    FileRow row;
    row.path = r.path;
    row.rule = r.rule;
    row.type = static_cast<std::int64_t>(r.type);
    row.mode = r.mode;
    row.uid = r.uid;
    row.gid = r.gid;
    row.size = as_i64(r.size);
    row.mtime_ns = r.mtime_ns;
    row.ctime_ns = r.ctime_ns;
    row.inode = as_i64(r.inode);
    row.dev = as_i64(r.dev);
    row.nlink = as_i64(r.nlink);
    row.rdev = as_i64(r.rdev);
    if (r.sha256) row.sha256 = std::string(digest_bytes(*r.sha256));
    if (r.type == FileType::Symlink) row.target = r.target;
    row.xattrs = r.xattrs;
    if (!r.error.empty()) row.error = r.error;
    return row;
}

std::string canon_file(const FileRow& r) {
    Canon c("vigil.file.v1");
    c.bytes(r.path).integer(r.rule).integer(r.type).integer(r.mode).integer(r.uid).integer(r.gid).integer(r.size);
    c.integer(r.mtime_ns).integer(r.ctime_ns).integer(r.inode).integer(r.dev).integer(r.nlink).integer(r.rdev);
    c.opt_bytes(r.sha256).opt_bytes(r.target).bytes(r.xattrs).opt_bytes(r.error);
    return c.str();
}

std::string canon_baseline(const BaselineInfo& b, std::uint64_t epoch, const Mac32& last_file_mac) {
    Canon c("vigil.baseline.v1");
    c.integer(b.id).integer(b.created_ns).bytes(b.kind).bytes(b.policy_source).bytes(b.policy_sha256);
    c.bytes(b.policy_text).integer(b.entries).integer(b.errors).opt_integer(b.uid).opt_integer(b.auid);
    c.opt_bytes(b.user).opt_bytes(b.login_user).opt_bytes(b.hostname);
    c.integer(static_cast<std::int64_t>(epoch)).bytes(mac_bytes(last_file_mac));
    return c.str();
}

Result<FileChain> FileChain::create(const SealKey& key) {
    auto k = derive_key(key, "baseline-mac");
    if (!k) return k.error();
    auto mac = Hmac::create(k.value());
    if (!mac) return mac.error();
    return FileChain(std::move(mac.value()));
}

Result<Mac32> FileChain::next(const FileRow& row) {
    auto m = mac_.mac(mac_bytes(prev_), canon_file(row));
    if (!m) return m.error();
    prev_ = m.value();
    return prev_;
}

}  // namespace vigil
