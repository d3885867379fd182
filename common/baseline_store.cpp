#include "common/baseline_store.h"

#include <unistd.h>

#include <algorithm>
#include <limits>

#include "common/escape.h"

namespace vigil {
namespace {

// Bit-for-bit: inode and device numbers are u64, SQLite integers are i64.
std::int64_t as_i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }
std::uint64_t as_u64(std::int64_t v) { return static_cast<std::uint64_t>(v); }

}  // namespace

std::optional<std::string> host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) < 0) return std::nullopt;
    return std::string(buf);
}

Result<std::optional<BaselineInfo>> latest_baseline(db::Database& db) {
    auto st = db.prepare(
        "SELECT id, created_ns, kind, policy_source, policy_sha256, policy_text, entries, errors, uid, auid, user, "
        "login_user, hostname FROM baselines ORDER BY id DESC LIMIT 1");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    if (!row.value()) return std::optional<BaselineInfo>{};
    BaselineInfo b;
    b.id = st->col_int(0);
    b.created_ns = st->col_int(1);
    b.kind = st->col_blob(2);
    b.policy_source = st->col_blob(3);
    b.policy_sha256 = st->col_blob(4);
    b.policy_text = st->col_blob(5);
    b.entries = st->col_int(6);
    b.errors = st->col_int(7);
    b.uid = st->col_opt_int(8);
    b.auid = st->col_opt_int(9);
    b.user = st->col_opt_blob(10);
    b.login_user = st->col_opt_blob(11);
    b.hostname = st->col_opt_blob(12);
    return std::optional<BaselineInfo>(std::move(b));
}

Result<std::int64_t> write_baseline(db::Database& db, const std::vector<FileRecord>& records,
                                    const BaselineInfo& info) {
    auto meta = db.prepare(
        "INSERT INTO baselines (created_ns, kind, policy_source, policy_sha256, policy_text, entries, errors, uid, "
        "auid, user, login_user, hostname) VALUES (:created, :kind, :src, :sha, :text, :entries, :errors, :uid, "
        ":auid, :user, :login, :host)");
    if (!meta) return meta.error();
    std::int64_t errors = 0;
    for (const auto& r : records) errors += r.error.empty() ? 0 : 1;
    VIGIL_TRY(meta->bind_int(":created", info.created_ns));
    VIGIL_TRY(meta->bind_text(":kind", info.kind));
    VIGIL_TRY(meta->bind_text(":src", info.policy_source));
    VIGIL_TRY(meta->bind_text(":sha", info.policy_sha256));
    VIGIL_TRY(meta->bind_text(":text", info.policy_text));
    VIGIL_TRY(meta->bind_int(":entries", static_cast<std::int64_t>(records.size())));
    VIGIL_TRY(meta->bind_int(":errors", errors));
    VIGIL_TRY(meta->bind_opt_int(":uid", info.uid));
    VIGIL_TRY(meta->bind_opt_int(":auid", info.auid));
    VIGIL_TRY(meta->bind_opt_text(":user", info.user));
    VIGIL_TRY(meta->bind_opt_text(":login", info.login_user));
    VIGIL_TRY(meta->bind_opt_text(":host", info.hostname));
    VIGIL_TRY(meta->run());
    const std::int64_t id = sqlite3_last_insert_rowid(db.handle());

    VIGIL_TRY(db.exec("DELETE FROM files", "remove the previous baseline"));
    auto ins = db.prepare(
        "INSERT INTO files (path, baseline_id, rule, type, mode, uid, gid, size, mtime_ns, ctime_ns, inode, dev, "
        "nlink, rdev, sha256, target, xattrs, error) VALUES (:path, :bid, :rule, :type, :mode, :uid, :gid, :size, "
        ":mtime, :ctime, :inode, :dev, :nlink, :rdev, :sha, :target, :xattrs, :error)");
    if (!ins) return ins.error();
    for (const auto& r : records) {
        VIGIL_TRY(ins->bind_blob(":path", r.path));
        VIGIL_TRY(ins->bind_int(":bid", id));
        VIGIL_TRY(ins->bind_int(":rule", r.rule));
        VIGIL_TRY(ins->bind_int(":type", static_cast<std::int64_t>(r.type)));
        VIGIL_TRY(ins->bind_int(":mode", r.mode));
        VIGIL_TRY(ins->bind_int(":uid", r.uid));
        VIGIL_TRY(ins->bind_int(":gid", r.gid));
        VIGIL_TRY(ins->bind_int(":size", as_i64(r.size)));
        VIGIL_TRY(ins->bind_int(":mtime", r.mtime_ns));
        VIGIL_TRY(ins->bind_int(":ctime", r.ctime_ns));
        VIGIL_TRY(ins->bind_int(":inode", as_i64(r.inode)));
        VIGIL_TRY(ins->bind_int(":dev", as_i64(r.dev)));
        VIGIL_TRY(ins->bind_int(":nlink", as_i64(r.nlink)));
        VIGIL_TRY(ins->bind_int(":rdev", as_i64(r.rdev)));
        if (r.sha256) {
            VIGIL_TRY(ins->bind_blob(":sha", digest_bytes(*r.sha256)));
        } else {
            VIGIL_TRY(ins->bind_null(":sha"));
        }
        if (r.type == FileType::Symlink) {
            VIGIL_TRY(ins->bind_blob(":target", r.target));
        } else {
            VIGIL_TRY(ins->bind_null(":target"));
        }
        VIGIL_TRY(ins->bind_blob(":xattrs", r.xattrs));
        if (r.error.empty()) {
            VIGIL_TRY(ins->bind_null(":error"));
        } else {
            VIGIL_TRY(ins->bind_text(":error", r.error));
        }
        VIGIL_TRY(ins->run());
    }
    return id;
}

Result<std::vector<FileRecord>> load_baseline(db::Database& db) {
    auto st = db.prepare(
        "SELECT path, rule, type, mode, uid, gid, size, mtime_ns, ctime_ns, inode, dev, nlink, rdev, sha256, target, "
        "xattrs, error FROM files ORDER BY path");
    if (!st) return st.error();
    std::vector<FileRecord> out;
    if (auto info = latest_baseline(db); info && info->has_value())
        out.reserve(static_cast<std::size_t>(std::max<std::int64_t>(0, info->value().entries)));
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        FileRecord r;
        r.path = st->col_blob(0);
        r.rule = static_cast<std::uint32_t>(st->col_int(1));
        const auto type = st->col_int(2);
        r.type = type >= 0 && type <= 7 ? static_cast<FileType>(type) : FileType::Unknown;
        r.mode = static_cast<std::uint32_t>(st->col_int(3));
        r.uid = static_cast<std::uint32_t>(st->col_int(4));
        r.gid = static_cast<std::uint32_t>(st->col_int(5));
        r.size = as_u64(st->col_int(6));
        r.mtime_ns = st->col_int(7);
        r.ctime_ns = st->col_int(8);
        r.inode = as_u64(st->col_int(9));
        r.dev = as_u64(st->col_int(10));
        r.nlink = as_u64(st->col_int(11));
        r.rdev = as_u64(st->col_int(12));
        if (!st->is_null(13)) {
            const std::string sha = st->col_blob(13);
            if (sha.size() != 32)
                return Error::msg("database " + escape_bytes(db.path()) + ": corrupt sha256 in the baseline (" +
                                  std::to_string(sha.size()) + " bytes)");
            Sha256Digest d{};
            std::copy(sha.begin(), sha.end(), d.begin());
            r.sha256 = d;
        }
        r.target = st->col_blob(14);
        r.xattrs = st->col_blob(15);
        r.error = st->col_blob(16);
        out.push_back(std::move(r));
    }
    return out;
}

namespace {
// The insert's parameters; EventAppender::append binds them in this order.
constexpr std::array<const char*, EventAppender::kColumns> kEventParameters = {
    ":t",     ":a",    ":s",   ":path", ":old",  ":uid",   ":euid",  ":gid",   ":auid",   ":user",  ":login",
    ":pid",   ":ppid", ":exe", ":comm", ":cmd",  ":label", ":sev",   ":before", ":after", ":unexp", ":detail"};
}  // namespace

Result<EventAppender> EventAppender::prepare(db::Database& db) {
    auto st = db.prepare(
        "INSERT INTO events (time_ns, action, source, path, old_path, uid, euid, gid, auid, user, login_user, pid, "
        "ppid, exe, comm, cmdline, label, severity, sha256_before, sha256_after, unexpected, detail) VALUES (:t, :a, "
        ":s, :path, :old, :uid, :euid, :gid, :auid, :user, :login, :pid, :ppid, :exe, :comm, :cmd, :label, :sev, "
        ":before, :after, :unexp, :detail)");
    if (!st) return st.error();
    std::array<int, kColumns> index{};
    for (std::size_t i = 0; i < kColumns; ++i) {
        auto idx = st->parameter_index(kEventParameters[i]);
        if (!idx) return idx.error();
        index[i] = idx.value();
    }
    return EventAppender(&db, std::move(st.value()), index);
}

Result<std::int64_t> append_event(db::Database& db, const Event& e) {
    auto appender = EventAppender::prepare(db);
    if (!appender) return appender.error();
    return appender->append(e);
}

Result<std::int64_t> EventAppender::append(const Event& e) {
    // By position and without copies: this runs once per recorded event, and the event
    // outlives the statement's step.
    db::Stmt& st = stmt_;
    std::size_t i = 0;
    auto next = [&] { return index_[i++]; };
    auto opt_int = [&](const auto& v) { return v ? st.bind_int_at(next(), *v) : st.bind_null_at(next()); };
    auto opt_text = [&](const std::optional<std::string>& v) {
        return v ? st.bind_text_at_nocopy(next(), *v) : st.bind_null_at(next());
    };
    auto opt_blob = [&](const std::optional<std::string>& v) {
        return v ? st.bind_blob_at_nocopy(next(), *v) : st.bind_null_at(next());
    };
    VIGIL_TRY(st.bind_int_at(next(), e.time_ns));
    VIGIL_TRY(st.bind_text_at_nocopy(next(), action_name(e.action)));
    VIGIL_TRY(st.bind_text_at_nocopy(next(), source_name(e.source)));
    VIGIL_TRY(opt_blob(e.path));
    VIGIL_TRY(opt_blob(e.old_path));
    VIGIL_TRY(opt_int(e.actor.uid));
    VIGIL_TRY(opt_int(e.actor.euid));
    VIGIL_TRY(opt_int(e.actor.gid));
    VIGIL_TRY(opt_int(e.actor.auid));
    VIGIL_TRY(opt_text(e.actor.user));
    VIGIL_TRY(opt_text(e.actor.login_user));
    VIGIL_TRY(opt_int(e.actor.pid));
    VIGIL_TRY(opt_int(e.actor.ppid));
    VIGIL_TRY(opt_blob(e.actor.exe));
    VIGIL_TRY(opt_blob(e.actor.comm));
    VIGIL_TRY(opt_blob(e.actor.cmdline));
    VIGIL_TRY(opt_text(e.label));
    VIGIL_TRY(opt_text(e.severity));
    VIGIL_TRY(opt_blob(e.sha256_before));
    VIGIL_TRY(opt_blob(e.sha256_after));
    VIGIL_TRY(st.bind_int_at(next(), e.unexpected ? 1 : 0));
    VIGIL_TRY(opt_text(e.detail));
    VIGIL_TRY(st.run());
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_->handle()));
}

}  // namespace vigil
