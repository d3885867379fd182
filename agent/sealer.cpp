#include "agent/sealer.h"

#include <syslog.h>

#include <nlohmann/json.hpp>

#include "agent/attribution.h"
#include "agent/log.h"
#include "common/escape.h"
#include "common/time_format.h"

namespace vigil::agent {

Result<std::unique_ptr<Sealer>> Sealer::prepare(db::Database& db, const std::string& db_path,
                                                std::int64_t epoch_seconds) {
    std::unique_ptr<Sealer> owner(new Sealer());
    Sealer& s = *owner;
    s.db_path_ = db_path;
    {
        auto txn = db::WriteTxn::begin(db);
        if (!txn) return txn.error();
        auto fresh = start_sealing_if_unsealed(db, db_path, epoch_seconds);
        if (!fresh) return fresh.error();
        if (fresh->has_value()) {
            VIGIL_TRY(txn->commit());
            s.key_ = fresh->value().k0;
            s.key_file_current_ = true;
            s.epoch_seconds_ = epoch_seconds;
            s.new_sealing_ = fresh->value();
            return owner;
        }
    }
    auto state = read_sealing_state(db);
    if (!state) return state.error();
    s.epoch_seconds_ = state->info->epoch_seconds;
    auto file_key = read_key_file(key_file_path(db_path));
    if (!file_key)
        return Error::msg(file_key.error().message() +
                          " (the sealing key: restore it from a backup of this host's state, or the record cannot "
                          "be sealed)");
    SealKey key = file_key.value();
    const std::optional<std::uint64_t> newest = state->newest_epoch;
    // Normal: the key file is at the newest sealed epoch (evolve once: every start opens
    // an epoch), or one ahead (a crash after the key file moved on, or `vigil update`).
    std::uint64_t target = newest ? std::max<std::uint64_t>(*newest + 1, key.epoch) : key.epoch + 1;
    if (newest && key.epoch == *newest + 1) target = key.epoch;
    if (newest && key.epoch < *newest) {
        s.alarms_.push_back(nlohmann::json{{"alarm", "key_rollback"},
                                           {"reason", "the key file was at epoch " + std::to_string(key.epoch) +
                                                          " but the database was sealed up to epoch " +
                                                          std::to_string(*newest) + ": an older key file was restored"}}
                                .dump());
    } else if (newest && key.epoch > *newest + 1) {
        s.alarms_.push_back(
            nlohmann::json{{"alarm", "key_ahead"},
                           {"reason", "the key file is at epoch " + std::to_string(key.epoch) +
                                          " but the database was sealed only up to epoch " + std::to_string(*newest) +
                                          ": sealed rows of the epochs between may have been removed"}}
                .dump());
    }
    auto evolved = evolve_to(key, target);
    if (!evolved) return evolved.error();
    s.key_ = evolved.value();
    s.key_file_current_ = s.key_.epoch == key.epoch;
    for (const auto& a : s.alarms_) log_error("sealing alarm: " + a);
    return owner;
}

void Sealer::set_facts(CheckpointFacts facts) {
    const std::scoped_lock lock(facts_mu_);
    facts_ = std::move(facts);
}

std::string Sealer::checkpoint_detail(const char* reason, const EventChain& chain) const {
    nlohmann::json j{{"reason", reason}, {"epoch", key_.epoch}, {"epoch_seconds", epoch_seconds_}};
    if (clock_jump_ns_ != 0) j["clock_jump_ns"] = clock_jump_ns_;
    if (auto check = derive_key(key_, "key-check")) j["key_check"] = hex_of(check.value());
    const ChainTail& tail = chain.tail();
    j["previous_seq"] = tail.seq;
    if (tail.mac) j["previous_mac"] = hex_of(*tail.mac);
    const std::scoped_lock lock(facts_mu_);
    j["policy_sha256"] = facts_.policy_sha256;
    j["agent_sha256"] = facts_.agent_sha256;
    j["watcher"] = facts_.watcher;
    return j.dump();
}

Result<Sealer::BatchSeal> Sealer::before_batch(EventChain& chain, std::int64_t now_ns) {
    BatchSeal seal;
    const char* reason = nullptr;
    // The wall clock against CLOCK_BOOTTIME (which never steps, and counts suspend as
    // the wall clock does): a step back of more than a second (NTP, an operator) opens a
    // new epoch that says so, so later rows do not look misdated.
    const std::int64_t offset = now_ns - boottime_now_ns();
    const bool clock_stepped_back = last_clock_offset_ns_ != 0 && offset < last_clock_offset_ns_ - 1'000'000'000;
    clock_jump_ns_ = clock_stepped_back ? offset - last_clock_offset_ns_ : 0;
    last_clock_offset_ns_ = offset;
    if (epoch_started_ns_ == 0) {
        reason = "agent_start";
    } else if (clock_stepped_back || now_ns - epoch_started_ns_ >= epoch_seconds_ * 1'000'000'000) {
        auto next = evolve(key_);
        if (!next) return next.error();
        key_ = next.value();
        key_file_current_ = false;
        reason = clock_stepped_back ? "clock_jump" : "epoch";
    }
    if (reason != nullptr) {
        // Key file first, inside the transaction: a crash before the commit leaves the
        // key one epoch ahead of the database, which the next start accepts.
        if (!key_file_current_) {
            VIGIL_TRY(
                write_key_file(key_file_path(db_path_), key_, 0600,
                               "Vigil sealing key for " + db_path_ + "\nEvolves forward; never copy or restore it."));
            key_file_current_ = true;
        }
        VIGIL_TRY(chain.set_key(key_));
        epoch_started_ns_ = now_ns;
    }
    // Also after a failed commit: the chain's tail was re-read and the epoch may be unopened.
    auto opened = chain.open_epoch(checkpoint_detail(reason != nullptr ? reason : "epoch", chain), now_ns);
    if (!opened) return opened.error();
    if (opened.value()) seal.checkpoints.emplace_back(chain.tail().seq, chain.tail().mac.value_or(Mac32{}));
    if (!alarms_.empty() && epoch_started_ns_ != 0) {
        for (const auto& a : alarms_) {
            Event e;
            e.time_ns = now_ns;
            e.action = Action::Alert;
            e.source = Source::Scan;
            e.severity = "critical";
            e.detail = a;
            auto r = chain.append(e, checkpoint_detail("agent_start", chain));
            if (!r) return r.error();
        }
        seal.alarms_written = true;
    }
    return seal;
}

void Sealer::announce(std::int64_t seq, const Mac32& mac, const char* what) const {
    const std::string line = "vigil checkpoint db=" + escape_bytes(db_path_) + " seq=" + std::to_string(seq) +
                             " epoch=" + std::to_string(key_.epoch) + " mac=" + hex_of(mac) +
                             " time=" + format_rfc3339_ns(realtime_now_ns()) + " (" + what + ")";
    log_info(line);
    ::syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line.c_str());
}

void Sealer::committed(const BatchSeal& seal) {
    if (seal.alarms_written) alarms_.clear();
    for (const auto& [seq, mac] : seal.checkpoints) announce(seq, mac, "epoch opened");
}

void Sealer::announce_tail(const ChainTail& tail) const {
    if (tail.mac) announce(tail.seq, *tail.mac, "last row at stop");
}

}  // namespace vigil::agent
