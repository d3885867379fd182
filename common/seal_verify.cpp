#include "common/seal_verify.h"

#include <map>

#include "common/baseline_seal.h"
#include "common/baseline_store.h"
#include "common/escape.h"
#include "common/event_chain.h"
#include "common/event_prune.h"
#include "common/time_format.h"

namespace vigil {
namespace {

constexpr const char* kEventColumns =
    "id, epoch, mac, time_ns, action, source, path, old_path, uid, euid, gid, auid, user, login_user, pid, ppid, exe, "
    "comm, cmdline, label, severity, sha256_before, sha256_after, unexpected, detail";
constexpr int kFirstSealedColumn = 3;  // time_ns: from here on, every column in canonical order
constexpr int kLastColumn = 24;

// One events row as stored, enough to rebuild its canonical encoding at any position.
struct EventRow {
    std::int64_t id = 0;
    std::optional<std::int64_t> epoch;
    std::optional<std::string> mac;
    std::int64_t time_ns = 0;
    std::string action;
    std::string detail;
    std::string body;  // the canonical encoding of time_ns..detail
};

EventRow read_event_row(const db::Stmt& st) {
    EventRow r;
    r.id = st.col_int(0);
    r.epoch = st.col_opt_int(1);
    r.mac = st.col_opt_blob(2);
    r.time_ns = st.col_int(3);
    r.action = st.col_blob(4);
    r.detail = st.col_blob(kLastColumn);
    Canon body("");
    for (int c = kFirstSealedColumn; c <= kLastColumn; ++c) {
        switch (st.col_type(c)) {
            case SQLITE_NULL: body.null(); break;
            case SQLITE_INTEGER: body.integer(st.col_int(c)); break;
            default: body.bytes(st.col_blob(c)); break;
        }
    }
    r.body = body.str().substr(9);  // drop the empty domain ("" is tag + 8-byte length)
    return r;
}

// What canon_event() makes for this row's content at sequence `seq`.
std::string canon_at(const EventRow& r, std::int64_t seq, std::uint64_t epoch) {
    Canon head("vigil.event.v1");
    head.integer(seq).integer(static_cast<std::int64_t>(epoch));
    return head.str() + r.body;
}

// Event keys by epoch, evolved forward from K_0 (and cached: epochs only grow).
class EpochKeys {
public:
    explicit EpochKeys(SealKey k0) : key_(k0) {}
    Result<const Hmac*> for_epoch(std::uint64_t epoch) {
        auto it = cache_.find(epoch);
        if (it != cache_.end()) return &it->second;
        if (epoch < key_.epoch) {
            auto fresh = evolve_to(first_, epoch);  // rare: only when classifying a break
            if (!fresh) return fresh.error();
            return insert(epoch, fresh.value());
        }
        auto k = evolve_to(key_, epoch);
        if (!k) return k.error();
        key_ = k.value();
        return insert(epoch, key_);
    }
    void set_first(const SealKey& k0) { first_ = k0; }

private:
    Result<const Hmac*> insert(std::uint64_t epoch, const SealKey& k) {
        auto mk = derive_key(k, "event-mac");
        if (!mk) return mk.error();
        auto h = Hmac::create(mk.value());
        if (!h) return h.error();
        if (cache_.size() > 64) cache_.clear();
        return &cache_.emplace(epoch, std::move(h.value())).first->second;
    }
    SealKey key_;
    SealKey first_;
    std::map<std::uint64_t, Hmac> cache_;
};

std::string event_where(std::int64_t id) { return "event " + std::to_string(id); }

// Why does row `bad` not verify? Looks at the rows around it for a row sealed at another
// position (reordered), or a row the chain continues without (inserted).
std::pair<std::string, std::string> classify_break(db::Database& db, EpochKeys& keys, const EventRow& bad,
                                                   const std::optional<Mac32>& prev) {
    auto st =
        db.prepare(std::string("SELECT ") + kEventColumns + " FROM events WHERE id BETWEEN :lo AND :hi ORDER BY id");
    if (!st) return {"altered", "its MAC does not match its content"};
    (void)st->bind_int(":lo", bad.id - 64);
    (void)st->bind_int(":hi", bad.id + 64);
    std::vector<EventRow> window;
    while (auto row = st->step()) {
        if (!row.value()) break;
        window.push_back(read_event_row(st.value()));
    }
    const auto stored = bad.mac ? mac_from_bytes(*bad.mac) : std::nullopt;
    if (stored && bad.epoch) {
        auto h = keys.for_epoch(static_cast<std::uint64_t>(*bad.epoch));
        if (h) {
            std::vector<Mac32> prevs{Mac32{}};
            for (const auto& w : window)
                if (w.mac)
                    if (auto m = mac_from_bytes(*w.mac)) prevs.push_back(*m);
            for (const auto& w : window) {
                if (w.id == bad.id) continue;
                for (const auto& p : prevs) {
                    auto m = h.value()->mac(mac_bytes(p), canon_at(bad, w.id, static_cast<std::uint64_t>(*bad.epoch)));
                    if (m && m.value() == *stored)
                        return {"reordered",
                                "it holds the row sealed as event " + std::to_string(w.id) + ": rows were moved"};
                }
            }
        }
    }
    // Inserted: the row after it verifies in its place, chained to the row before it.
    for (const auto& w : window) {
        if (w.id != bad.id + 1 || !w.mac || !w.epoch) continue;
        auto h = keys.for_epoch(static_cast<std::uint64_t>(*w.epoch));
        if (!h) break;
        auto m = h.value()->mac(mac_bytes(prev.value_or(Mac32{})),
                                canon_at(w, bad.id, static_cast<std::uint64_t>(*w.epoch)));
        const auto next_stored = mac_from_bytes(*w.mac);
        if (m && next_stored && m.value() == *next_stored)
            return {"inserted", "it is not part of the sealed chain: the chain continues without it"};
    }
    return {"altered", "its content does not match its MAC (a field was changed after it was sealed)"};
}

void verify_baseline(db::Database& db, const std::optional<SealKey>& k0, VerifyResult& out) {
    auto latest = latest_baseline(db);
    if (!latest) {
        out.problems.push_back({"baseline", "unreadable", latest.error().message()});
        return;
    }
    if (!latest->has_value()) {
        out.notes.push_back("no baseline yet");
        return;
    }
    const BaselineInfo& b = latest->value();
    const std::string where = "baseline #" + std::to_string(b.id);
    auto seal = db.prepare("SELECT seal_epoch, seal_mac FROM baselines WHERE id = :id");
    if (!seal) {
        out.problems.push_back({where, "unreadable", seal.error().message()});
        return;
    }
    (void)seal->bind_int(":id", b.id);
    (void)seal->step();
    const auto epoch = seal->col_opt_int(0);
    const auto seal_mac = seal->col_opt_blob(1);
    if (!epoch || !seal_mac) {
        out.problems.push_back({where, "unsealed",
                                "the baseline carries no seal, in a database that is sealed (made before sealing "
                                "began, or its seal was removed); `vigil update` seals a new one"});
        return;
    }
    std::optional<FileChain> chain;
    if (k0) {
        auto k = evolve_to(*k0, static_cast<std::uint64_t>(*epoch));
        if (k) {
            auto c = FileChain::create(k.value());
            if (c) chain.emplace(std::move(c.value()));
        }
    }
    auto st = db.prepare(
        "SELECT path, rule, type, mode, uid, gid, size, mtime_ns, ctime_ns, inode, dev, nlink, rdev, sha256, target, "
        "xattrs, error, mac FROM files ORDER BY path");
    if (!st) {
        out.problems.push_back({where, "unreadable", st.error().message()});
        return;
    }
    std::string prev_path;
    std::int64_t rows = 0;
    bool broken = false;
    for (;;) {
        auto step = st->step();
        if (!step) {
            out.problems.push_back({where, "unreadable", step.error().message()});
            return;
        }
        if (!step.value()) break;
        ++rows;
        FileRow r;
        r.path = st->col_blob(0);
        r.rule = st->col_int(1);
        r.type = st->col_int(2);
        r.mode = st->col_int(3);
        r.uid = st->col_int(4);
        r.gid = st->col_int(5);
        r.size = st->col_int(6);
        r.mtime_ns = st->col_int(7);
        r.ctime_ns = st->col_int(8);
        r.inode = st->col_int(9);
        r.dev = st->col_int(10);
        r.nlink = st->col_int(11);
        r.rdev = st->col_int(12);
        r.sha256 = st->col_opt_blob(13);
        r.target = st->col_opt_blob(14);
        r.xattrs = st->col_blob(15);
        r.error = st->col_opt_blob(16);
        const auto stored = st->col_opt_blob(17);
        const std::string file_where = "baseline file '" + escape_bytes(r.path) + "'";
        const auto stored_mac = stored ? mac_from_bytes(*stored) : std::nullopt;
        if (!broken && !stored_mac) {
            out.problems.push_back({file_where, "inserted", "the row carries no seal: it was added after sealing"});
            broken = true;
        } else if (!broken && chain) {
            // The chain's key must be the row's own prev; FileChain keeps its own prev, so
            // recompute with the stored one to locate exactly the row that differs.
            auto m = chain->next(r);
            if (m && m.value() != *stored_mac) {
                out.problems.push_back(
                    {file_where, "altered",
                     "the row does not match its seal: it (or the row before it" +
                         (prev_path.empty() ? std::string() : ", '" + escape_bytes(prev_path) + "'") +
                         ") was changed, or a row between them was removed"});
                broken = true;
            }
        }
        prev_path = r.path;
    }
    out.files_checked = rows;
    if (rows != b.entries)
        out.problems.push_back(
            {where, rows < b.entries ? "deleted" : "inserted",
             "sealed with " + std::to_string(b.entries) + " entries, " + std::to_string(rows) +
                 " present: " + std::to_string(rows < b.entries ? b.entries - rows : rows - b.entries) +
                 (rows < b.entries ? " removed" : " added")});
    if (chain && !broken) {
        auto m = chain->summary(b, static_cast<std::uint64_t>(*epoch));
        const auto stored_summary = mac_from_bytes(*seal_mac);
        if (!m || !stored_summary || m.value() != *stored_summary)
            out.problems.push_back(
                {where, "altered", "its record (time, policy, who accepted it, entry count) does not match its seal"});
    }
}

// Where the sealed log starts: at the seal record's first id, or — after retention removed
// the oldest epochs — at the id a sealed `prune` row names, chained to the MAC of the last
// row it removed. A gap at the start that no prune row records is a deletion.
struct LogStart {
    std::int64_t seq = 0;
    std::optional<Mac32> prev;
};
std::optional<LogStart> log_start(db::Database& db, const SealInfo& info, VerifyResult& out) {
    auto first = db.prepare("SELECT min(id) FROM events WHERE id >= :f");
    if (!first) {
        out.problems.push_back({"events", "unreadable", first.error().message()});
        return std::nullopt;
    }
    (void)first->bind_int(":f", info.first_seq);
    if (auto row = first->step(); !row) {
        out.problems.push_back({"events", "unreadable", row.error().message()});
        return std::nullopt;
    }
    const auto min_id = first->col_opt_int(0);
    if (!min_id || *min_id == info.first_seq) return LogStart{info.first_seq, std::nullopt};
    auto prunes = db.prepare("SELECT id, detail FROM events WHERE action = 'prune' AND id > :m ORDER BY id DESC");
    if (!prunes) {
        out.problems.push_back({"events", "unreadable", prunes.error().message()});
        return std::nullopt;
    }
    (void)prunes->bind_int(":m", *min_id);
    while (auto row = prunes->step()) {
        if (!row.value()) break;
        const auto recorded = parse_prune_detail(prunes->col_blob(1));
        if (!recorded || recorded->first_kept_seq != *min_id) continue;
        out.notes.push_back("events " + std::to_string(info.first_seq) + ".." + std::to_string(*min_id - 1) +
                            " were removed by retention, as the sealed prune row (event " +
                            std::to_string(prunes->col_int(0)) + ") records; the chain is checked from event " +
                            std::to_string(*min_id) + " on");
        return LogStart{*min_id, recorded->last_removed_mac};
    }
    out.problems.push_back({event_where(*min_id), "deleted",
                            "events " + std::to_string(info.first_seq) + ".." + std::to_string(*min_id - 1) +
                                " are missing from the start of the log and no prune row records their removal"});
    return std::nullopt;
}

void verify_events(db::Database& db, const SealInfo& info, const std::optional<SealKey>& k0,
                   const std::optional<OutsideCheckpoint>& outside, VerifyResult& out) {
    std::optional<EpochKeys> keys;
    if (k0) {
        keys.emplace(*k0);
        keys->set_first(*k0);
    }
    auto unsealed = db.prepare("SELECT count(*) FROM events WHERE id < :f");
    if (unsealed) {
        (void)unsealed->bind_int(":f", info.first_seq);
        if (unsealed->step() && unsealed->col_int(0) > 0)
            out.notes.push_back(std::to_string(unsealed->col_int(0)) + " events from before sealing began (ids below " +
                                std::to_string(info.first_seq) + ") carry no seal");
    }
    auto start = log_start(db, info, out);
    if (!start) return;
    auto st = db.prepare(std::string("SELECT ") + kEventColumns + " FROM events WHERE id >= :f ORDER BY id");
    if (!st) {
        out.problems.push_back({"events", "unreadable", st.error().message()});
        return;
    }
    (void)st->bind_int(":f", info.first_seq);
    const std::int64_t tolerance_ns = kSealLagNs;
    std::int64_t expected = start->seq;
    std::optional<std::uint64_t> epoch;
    std::int64_t epoch_start_ns = 0;
    std::int64_t epoch_max_ns = 0;
    std::optional<Mac32> prev = start->prev;  // nullopt at the first sealed row: all zero
    std::map<std::int64_t, Mac32> macs_for_outside;
    std::int64_t last_checkpoint_seq = 0;
    std::int64_t rows_after_checkpoint = 0;
    std::int64_t last = info.first_seq - 1;
    for (;;) {
        auto step = st->step();
        if (!step) {
            out.problems.push_back({"events", "unreadable", step.error().message()});
            return;
        }
        if (!step.value()) break;
        const EventRow r = read_event_row(st.value());
        last = r.id;
        ++out.events_checked;
        const std::string where = event_where(r.id);
        auto fail = [&](const char* kind, const std::string& what) { out.problems.push_back({where, kind, what}); };
        if (r.id != expected) {
            fail("deleted", "events " + std::to_string(expected) +
                                (r.id - 1 > expected ? ".." + std::to_string(r.id - 1) : "") + " are missing (" +
                                std::to_string(r.id - expected) + " rows deleted before this one)");
            return;
        }
        const auto mac = r.mac ? mac_from_bytes(*r.mac) : std::nullopt;
        if (!mac || !r.epoch || *r.epoch < 0) {
            fail("inserted", "the row carries no seal (no MAC or epoch): it was added outside the sealed writers");
            return;
        }
        const auto e = static_cast<std::uint64_t>(*r.epoch);
        const bool checkpoint = r.action == "checkpoint";
        if (!epoch) {
            if (!checkpoint) {
                fail("altered",
                     "the sealed log must open with a checkpoint, and this row is a " + escape_bytes(r.action));
                return;
            }
        } else if (e < *epoch) {
            fail("reordered", "its epoch " + std::to_string(e) + " comes after epoch " + std::to_string(*epoch) +
                                  ": epochs never go back");
            return;
        } else if (e > *epoch + 1) {
            fail("epoch skipped", "epochs " + std::to_string(*epoch + 1) + ".." + std::to_string(e - 1) +
                                      " have no checkpoint: sealed rows of those epochs were removed");
            return;
        } else if (e == *epoch + 1 && !checkpoint) {
            fail("epoch skipped", "epoch " + std::to_string(e) + " does not open with a checkpoint");
            return;
        }
        if (keys) {
            auto h = keys->for_epoch(e);
            if (!h) {
                fail("error", h.error().message());
                return;
            }
            auto expect = h.value()->mac(mac_bytes(prev.value_or(Mac32{})), canon_at(r, r.id, e));
            if (!expect || expect.value() != *mac) {
                auto [kind, what] = classify_break(db, *keys, r, prev);
                fail(kind.c_str(), what);
                return;
            }
        }
        // A backwards clock step the agent recorded (reason clock_jump) is the one exception.
        const bool clock_jump = checkpoint && r.detail.find("\"reason\":\"clock_jump\"") != std::string::npos;
        if (checkpoint && epoch && e == *epoch + 1 && !clock_jump) {
            if (epoch_max_ns > r.time_ns + 1'000'000'000)
                out.problems.push_back({where, "time",
                                        "epoch " + std::to_string(*epoch) + " holds a row dated " +
                                            format_rfc3339_ns(epoch_max_ns) + ", after the epoch ended"});
        }
        if (checkpoint && (!epoch || e != *epoch)) {
            epoch_start_ns = r.time_ns;
            epoch_max_ns = r.time_ns;
            last_checkpoint_seq = r.id;
            rows_after_checkpoint = 0;
        } else {
            ++rows_after_checkpoint;
            epoch_max_ns = std::max(epoch_max_ns, r.time_ns);
            if (r.time_ns < epoch_start_ns - tolerance_ns) {
                fail("time", "dated " + format_rfc3339_ns(r.time_ns) + ", more than " +
                                 std::to_string(kSealLagNs / 1'000'000'000) + " s before its epoch " +
                                 std::to_string(e) + " began (" + format_rfc3339_ns(epoch_start_ns) +
                                 "): a row sealed with a later key and backdated");
                return;
            }
        }
        if (r.action == "alert" && r.detail.find("\"alarm\":\"key_") != std::string::npos)
            out.problems.push_back(
                {where, "alarm",
                 "the agent found its sealing key out of step with the database: " + escape_bytes(r.detail)});
        epoch = e;
        prev = *mac;
        if (outside && r.id == outside->seq) macs_for_outside[r.id] = *mac;
        ++expected;
    }
    if (outside) {
        if (outside->seq > last) {
            out.problems.push_back({"events", "tail cut",
                                    "the log ends at event " + std::to_string(last) +
                                        " but a checkpoint outside the database names event " +
                                        std::to_string(outside->seq) + ": " + std::to_string(outside->seq - last) +
                                        " rows at the end were removed"});
        } else if (outside->seq < start->seq) {
            out.notes.push_back("the outside checkpoint names event " + std::to_string(outside->seq) +
                                ", which retention removed: it cannot be checked against the database");
        } else if (outside->seq >= info.first_seq) {
            const auto it = macs_for_outside.find(outside->seq);
            if (it == macs_for_outside.end() || it->second != outside->mac)
                out.problems.push_back(
                    {event_where(outside->seq), "altered", "does not match the checkpoint kept outside the database"});
        }
    } else {
        out.notes.push_back("no outside checkpoint given (--checkpoints): rows cut from the end cannot be detected");
    }
    if (epoch)
        out.notes.push_back("the newest epoch (" + std::to_string(*epoch) + ", from event " +
                            std::to_string(last_checkpoint_seq) + ") holds " + std::to_string(rows_after_checkpoint) +
                            " rows sealed with the key still on this host: they are proven only once a later "
                            "checkpoint is kept outside");
}

}  // namespace

std::optional<OutsideCheckpoint> newest_checkpoint_in(const std::string& text) {
    std::optional<OutsideCheckpoint> best;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        const std::string line = text.substr(pos, (nl == std::string::npos ? text.size() : nl) - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        if (line.find("vigil checkpoint") == std::string::npos) continue;
        const auto s = line.find(" seq=");
        const auto m = line.find(" mac=");
        if (s == std::string::npos || m == std::string::npos) continue;
        std::int64_t seq = 0;
        try {
            seq = std::stoll(line.substr(s + 5));
        } catch (...) {
            continue;
        }
        const auto mac = mac_from_hex(std::string_view(line).substr(m + 5, 64));
        if (!mac || seq <= 0) continue;
        if (!best || seq > best->seq) best = OutsideCheckpoint{seq, *mac};
    }
    return best;
}

std::optional<std::string> baseline_seal_warning(db::Database& db, const std::string& db_path) {
    auto info = read_seal_info(db);
    if (!info || !info->has_value()) return std::nullopt;  // not sealed: `vigil verify` says so
    std::optional<SealKey> k0;
    if (auto k = read_key_file(verification_key_path(db_path)); k && k->epoch == 0) {
        if (auto id = key_id(k.value()); id && id.value() == info->value().key_id) k0 = k.value();
    }
    VerifyResult out;
    verify_baseline(db, k0, out);
    if (out.ok()) return std::nullopt;
    const VerifyProblem& p = out.problems.front();
    return "the sealed baseline does not verify: " + p.where + ": " + p.kind + " — " + p.what +
           " (run `vigil verify`; findings against this baseline cannot be trusted)";
}

Result<VerifyResult> verify_database(db::Database& db, const std::optional<SealKey>& k0,
                                     const std::optional<OutsideCheckpoint>& outside) {
    VerifyResult out;
    auto info = read_seal_info(db);
    if (!info) return info.error();
    if (!info->has_value()) {
        out.problems.push_back({"seal record", "unsealed",
                                "the database has no seal record: it was never sealed, or the record was removed; "
                                "nothing in it can be trusted"});
        return out;
    }
    if (k0) {
        if (k0->epoch != 0)
            return Error::msg("the key file holds an epoch " + std::to_string(k0->epoch) +
                              " key; verification needs the epoch-0 verification key");
        auto id = key_id(*k0);
        if (!id) return id.error();
        if (id.value() != info->value().key_id) {
            out.problems.push_back({"seal record", "wrong key",
                                    "the verification key does not belong to this database (key id " +
                                        id.value().substr(0, 16) + "…, database expects " +
                                        escape_bytes(info->value().key_id.substr(0, 16)) + "…)"});
            return out;
        }
        out.authenticated = true;
    } else {
        out.notes.push_back(
            "no verification key given (--key-file): the chain's structure was checked, but its "
            "authenticity could not be proven");
    }
    verify_baseline(db, k0, out);
    verify_events(db, info->value(), k0, outside, out);
    return out;
}

}  // namespace vigil
