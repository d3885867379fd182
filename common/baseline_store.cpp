#include "common/baseline_store.h"

#include <unistd.h>

#include <algorithm>
#include <limits>

#include "common/baseline_seal.h"
#include "common/escape.h"

namespace vigil {
namespace {

// Bit-for-bit: inode and device numbers are u64, SQLite integers are i64 (file_row_of()).
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

Result<std::int64_t> write_baseline(db::Database& db, const std::vector<FileRecord>& records, const BaselineInfo& info,
                                    const SealKey* seal) {
    auto meta = db.prepare(
        "INSERT INTO baselines (created_ns, kind, policy_source, policy_sha256, policy_text, entries, errors, uid, "
        "auid, user, login_user, hostname) VALUES (:created, :kind, :src, :sha, :text, :entries, :errors, :uid, "
        ":auid, :user, :login, :host)");
    if (!meta) return meta.error();
    BaselineInfo stored = info;
    stored.errors = 0;
    for (const auto& r : records) stored.errors += r.error.empty() ? 0 : 1;
    stored.entries = static_cast<std::int64_t>(records.size());
    VIGIL_TRY(meta->bind_int(":created", stored.created_ns));
    VIGIL_TRY(meta->bind_text(":kind", stored.kind));
    VIGIL_TRY(meta->bind_text(":src", stored.policy_source));
    VIGIL_TRY(meta->bind_text(":sha", stored.policy_sha256));
    VIGIL_TRY(meta->bind_text(":text", stored.policy_text));
    VIGIL_TRY(meta->bind_int(":entries", stored.entries));
    VIGIL_TRY(meta->bind_int(":errors", stored.errors));
    VIGIL_TRY(meta->bind_opt_int(":uid", stored.uid));
    VIGIL_TRY(meta->bind_opt_int(":auid", stored.auid));
    VIGIL_TRY(meta->bind_opt_text(":user", stored.user));
    VIGIL_TRY(meta->bind_opt_text(":login", stored.login_user));
    VIGIL_TRY(meta->bind_opt_text(":host", stored.hostname));
    VIGIL_TRY(meta->run());
    stored.id = sqlite3_last_insert_rowid(db.handle());

    std::optional<FileChain> chain;
    if (seal != nullptr) {
        auto c = FileChain::create(*seal);
        if (!c) return c.error();
        chain.emplace(std::move(c.value()));
    }
    VIGIL_TRY(db.exec("DELETE FROM files", "remove the previous baseline"));
    auto ins = db.prepare(
        "INSERT INTO files (path, baseline_id, rule, type, mode, uid, gid, size, mtime_ns, ctime_ns, inode, dev, "
        "nlink, rdev, sha256, target, xattrs, error, mac) VALUES (:path, :bid, :rule, :type, :mode, :uid, :gid, "
        ":size, :mtime, :ctime, :inode, :dev, :nlink, :rdev, :sha, :target, :xattrs, :error, :mac)");
    if (!ins) return ins.error();
    for (const auto& r : records) {
        const FileRow row = file_row_of(r);
        VIGIL_TRY(ins->bind_blob(":path", row.path));
        VIGIL_TRY(ins->bind_int(":bid", stored.id));
        VIGIL_TRY(ins->bind_int(":rule", row.rule));
        VIGIL_TRY(ins->bind_int(":type", row.type));
        VIGIL_TRY(ins->bind_int(":mode", row.mode));
        VIGIL_TRY(ins->bind_int(":uid", row.uid));
        VIGIL_TRY(ins->bind_int(":gid", row.gid));
        VIGIL_TRY(ins->bind_int(":size", row.size));
        VIGIL_TRY(ins->bind_int(":mtime", row.mtime_ns));
        VIGIL_TRY(ins->bind_int(":ctime", row.ctime_ns));
        VIGIL_TRY(ins->bind_int(":inode", row.inode));
        VIGIL_TRY(ins->bind_int(":dev", row.dev));
        VIGIL_TRY(ins->bind_int(":nlink", row.nlink));
        VIGIL_TRY(ins->bind_int(":rdev", row.rdev));
        VIGIL_TRY(ins->bind_opt_blob(":sha", row.sha256));
        VIGIL_TRY(ins->bind_opt_blob(":target", row.target));
        VIGIL_TRY(ins->bind_blob(":xattrs", row.xattrs));
        VIGIL_TRY(ins->bind_opt_text(":error", row.error));
        if (chain) {
            auto mac = chain->next(row);
            if (!mac) return mac.error();
            VIGIL_TRY(ins->bind_blob(":mac", mac_bytes(mac.value())));
        } else {
            VIGIL_TRY(ins->bind_null(":mac"));
        }
        VIGIL_TRY(ins->run());
    }
    if (chain) {
        auto summary = chain->summary(stored, seal->epoch);
        if (!summary) return summary.error();
        auto up = db.prepare("UPDATE baselines SET seal_epoch = :e, seal_mac = :m WHERE id = :id");
        if (!up) return up.error();
        VIGIL_TRY(up->bind_int(":e", static_cast<std::int64_t>(seal->epoch)));
        VIGIL_TRY(up->bind_blob(":m", mac_bytes(summary.value())));
        VIGIL_TRY(up->bind_int(":id", stored.id));
        VIGIL_TRY(up->run());
    }
    return stored.id;
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
    ":t",      ":a",     ":s",     ":path",   ":old", ":uid",   ":euid", ":gid",   ":auid",
    ":user",   ":login", ":pid",   ":ppid",   ":exe", ":comm",  ":cmd",  ":label", ":sev",
    ":before", ":after", ":unexp", ":detail", ":id",  ":epoch", ":mac"};
}  // namespace

Result<EventAppender> EventAppender::prepare(db::Database& db) {
    auto st = db.prepare(
        "INSERT INTO events (id, epoch, mac, time_ns, action, source, path, old_path, uid, euid, gid, auid, user, "
        "login_user, pid, ppid, exe, comm, cmdline, label, severity, sha256_before, sha256_after, unexpected, "
        "detail) VALUES (:id, :epoch, :mac, :t, :a, :s, :path, :old, :uid, :euid, :gid, :auid, :user, :login, "
        ":pid, :ppid, :exe, :comm, :cmd, :label, :sev, :before, :after, :unexp, :detail)");
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

Result<std::int64_t> EventAppender::append(const Event& e) { return append_row(e, nullptr); }

Result<std::int64_t> EventAppender::append_sealed(const Event& e, const SealFields& seal) {
    return append_row(e, &seal);
}

Result<std::int64_t> EventAppender::append_row(const Event& e, const SealFields* seal) {
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
    if (seal != nullptr) {
        VIGIL_TRY(st.bind_int_at(next(), seal->seq));
        VIGIL_TRY(st.bind_int_at(next(), static_cast<std::int64_t>(seal->epoch)));
        VIGIL_TRY(st.bind_blob_at_nocopy(next(), seal->mac));
    } else {
        for (int k = 0; k < 3; ++k) VIGIL_TRY(st.bind_null_at(next()));  // id: the next rowid
    }
    VIGIL_TRY(st.run());
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_->handle()));
}

}  // namespace vigil
