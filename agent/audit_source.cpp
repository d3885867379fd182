#include "agent/audit_source.h"

#include <libaudit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "agent/log.h"
#include "common/sys.h"

namespace vigil::agent {
namespace {

constexpr std::size_t kMaxReady = 65'536;       // records waiting for the main thread
constexpr std::uint32_t kDaemonBacklog = 8192;  // what auditd's own default rules ask for
constexpr auto kCheckEvery = std::chrono::seconds(3);
constexpr auto kStepAsideGrace = std::chrono::seconds(60);
constexpr std::size_t kHeader = (sizeof(nlmsghdr) + 3U) & ~std::size_t{3};  // NLMSG_HDRLEN, without its C cast

struct AuparseFree {
    void operator()(auparse_state_t* au) const { auparse_destroy(au); }
};

// AUDIT_GET: the kernel's audit status (enabled, the daemon's pid, backlog limit).
Result<audit_status> get_status(int fd) {
    if (audit_request_status(fd) <= 0) {
        const int err = errno;
        return Error::from_errno(err, err == EPERM || err == ECONNREFUSED
                                          ? "audit status (needs CAP_AUDIT_CONTROL in the initial namespaces)"
                                          : "audit status");
    }
    for (int tries = 0; tries < 64; ++tries) {
        audit_reply rep{};
        const int rc = audit_get_reply(fd, &rep, GET_REPLY_BLOCKING, 0);
        if (rc <= 0) return Error::from_errno(rc < 0 ? -rc : EIO, "audit status: read reply");
        if (rep.type == NLMSG_ERROR && rep.error->error != 0)
            return Error::from_errno(-rep.error->error, "audit status");
        if (rep.type == AUDIT_GET && rep.status != nullptr) return *rep.status;
    }
    return Error::msg("audit status: no reply");
}

void event_ready(auparse_state_t* au, auparse_cb_event_t type, void* self) {
    if (type == AUPARSE_CB_EVENT_READY) static_cast<AuditSource*>(self)->on_event(au);
}

}  // namespace

Result<std::unique_ptr<AuditSource>> AuditSource::start(std::string key, std::vector<AuditRoot> roots,
                                                        bool attribution) {
    set_aumessage_mode(MSG_QUIET, DBG_NO);  // libaudit must not print; we say what failed
    std::unique_ptr<AuditSource> s(new AuditSource());
    s->key_ = std::move(key);
    s->roots_ = std::move(roots);
    s->attribution_ = attribution;
    const int fd = audit_open();
    if (fd < 0) return Error::from_errno(errno, "audit netlink socket (kernel without audit support?)");
    s->control_.reset(fd);
    auto status = get_status(fd);
    if (!status) return status.error();
    if (status->enabled == 2)
        return Error::msg(
            "audit configuration is locked (enabled=2, auditctl -e 2): no rule can be added "
            "until reboot");
    s->wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    s->stop_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!s->wake_ || !s->stop_) return Error::from_errno(errno, "eventfd");
    // A crashed agent's rules are still loaded; they are ours by key.
    auto stale = remove_audit_rules(fd, s->key_);
    if (!stale) return stale.error();
    if (stale.value() > 0)
        log_warning("audit: removed " + std::to_string(stale.value()) + " stale rules with our key " + s->key_);
    // A registered pid whose process is gone is a daemon that died without unregistering:
    // registering ourselves makes the kernel test that connection and replace it.
    const bool daemon_alive = status->pid != 0 && !(::kill(static_cast<pid_t>(status->pid), 0) < 0 && errno == ESRCH);
    if (daemon_alive) {
        VIGIL_TRY(s->join_multicast());
        VIGIL_TRY(s->enable());
    } else if (auto d = s->become_daemon(); !d) {
        if (d.error().code.value() != EEXIST) return d.error();
        VIGIL_TRY(s->join_multicast());  // an auditd registered meanwhile
        VIGIL_TRY(s->enable());
    }
    auto added = add_audit_rules(fd, s->key_, s->roots_, attribution);
    if (!added) return added.error();  // the destructor removes what was added
    s->rules_ = added.value();
    AuditSource* self = s.get();
    s->reader_ = std::thread([self] { self->read_loop(); });
    return s;
}

Result<void> AuditSource::become_daemon() {
    const int fd = audit_open();
    if (fd < 0) return Error::from_errno(errno, "audit netlink socket");
    UniqueFd sock(fd);
    // The kernel sends records to the socket that registered: this one.
    const int rc = audit_set_pid(fd, static_cast<std::uint32_t>(::getpid()), WAIT_NO);
    if (rc < 0) return Error::from_errno(-rc, "audit: register as the audit daemon");
    // Records come in bursts; a deeper socket buffer rides them out without ENOBUFS.
    const int bytes = 8 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);  // best effort: else the default
    events_ = std::move(sock);
    mode_ = AuditMode::Daemon;
    auto status = get_status(control_.get());
    if (!status) return status.error();
    VIGIL_TRY(enable());
    if (status->backlog_limit < kDaemonBacklog && audit_set_backlog_limit(control_.get(), kDaemonBacklog) > 0)
        restore_backlog_ = status->backlog_limit;
    return {};
}

Result<void> AuditSource::enable() {
    auto status = get_status(control_.get());
    if (!status) return status.error();
    if (status->enabled != 0) return {};
    // Off (no daemon, or one whose rules never said -e 1): our rules would never fire.
    if (audit_set_enabled(control_.get(), 1) < 0) return Error::from_errno(errno, "audit: enable");
    restore_enabled_ = true;
    return {};
}

Result<void> AuditSource::join_multicast() {
    const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
    if (fd < 0) return Error::from_errno(errno, "audit multicast socket");
    UniqueFd sock(fd);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = 1U << (AUDIT_NLGRP_READLOG - 1);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) <
        0)  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
        return Error::from_errno(errno, "audit: join the read-only log group (needs CAP_AUDIT_READ)");
    const int bytes = 8 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);  // best effort
    events_ = std::move(sock);
    mode_ = AuditMode::Multicast;
    return {};
}

AuditSource::~AuditSource() {
    if (reader_.joinable()) {
        const std::uint64_t one = 1;
        if (::write(stop_.get(), &one, sizeof one) < 0)
            log_error("audit: cannot stop the reader: " + errno_text(errno));
        reader_.join();
    }
    const std::scoped_lock lock(control_mu_);
    if (!control_) return;
    auto removed = remove_audit_rules(control_.get(), key_);
    if (!removed) log_error("audit: our rules could not be removed: " + removed.error().message());
    if (restore_enabled_ && audit_set_enabled(control_.get(), 0) < 0)
        log_error("audit: cannot turn auditing off again: " + errno_text(errno));
    if (mode_.load() == AuditMode::Daemon && events_) {
        if (const int rc = audit_set_pid(control_.get(), 0, WAIT_NO); rc < 0)
            log_error("audit: cannot give the daemon role back: " + errno_text(-rc));
        if (restore_backlog_ != 0 && audit_set_backlog_limit(control_.get(), restore_backlog_) < 0)
            log_error("audit: cannot restore the backlog limit: " + errno_text(errno));
    }
}

std::vector<AuditRecord> AuditSource::take() {
    std::uint64_t count = 0;
    if (::read(wake_.get(), &count, sizeof count) < 0 && errno != EAGAIN)
        log_error("audit: eventfd: " + errno_text(errno));
    std::vector<AuditRecord> out;
    const std::scoped_lock lock(mu_);
    out.swap(ready_);
    return out;
}

Result<void> AuditSource::replace_roots(std::vector<AuditRoot> roots) {
    const std::scoped_lock lock(control_mu_);
    roots_ = std::move(roots);
    auto removed = remove_audit_rules(control_.get(), key_);
    if (!removed) return removed.error();
    auto added = add_audit_rules(control_.get(), key_, roots_, attribution_);
    if (!added) return added.error();
    rules_ = added.value();
    return {};
}

void AuditSource::on_event(auparse_state_t* au) {
    auto r = read_audit_event(au);
    if (!r) return;
    const auto self = static_cast<std::int64_t>(::getpid());
    if (r->key != key_ || r->actor.pid == self) return;  // someone else's rule, or ourselves
    ++records_total_;
    bool pushed = false;
    {
        const std::scoped_lock lock(mu_);
        if (ready_.size() < kMaxReady) {
            ready_.push_back(std::move(*r));
            pushed = true;
        }
    }
    if (!pushed) {
        ++overflows_;
        ++overflows_total_;
    }
    const std::uint64_t one = 1;
    if (::write(wake_.get(), &one, sizeof one) < 0 && errno != EAGAIN)
        log_error("audit: eventfd: " + errno_text(errno));
}

void AuditSource::feed_message(auparse_state_t* au, int type, const char* text, std::size_t len) {
    const std::string line = audit_log_line(type, text, len);
    auparse_feed(au, line.data(), line.size());
}

void AuditSource::check_daemon() {
    if (mode_.load() != AuditMode::Multicast) return;
    // An auditd we stepped aside for restarts shortly (systemd): its slot stays free meanwhile.
    if (std::chrono::steady_clock::now() - stepped_aside_ < kStepAsideGrace) return;
    auto status = get_status(control_.get());
    if (!status || status->pid != 0) return;
    // The daemon we listened to is gone: records would go to the kernel log, so take the role.
    if (auto r = become_daemon(); r) {
        log_warning("audit: the audit daemon stopped; vigild is the audit daemon now");
    } else {
        log_warning("audit: the audit daemon stopped and vigild cannot take its place: " + r.error().message());
    }
}

void AuditSource::check_rules() {
    auto count = count_audit_rules(control_.get(), key_);
    if (!count || count.value() >= rules_.load()) return;
    // Someone deleted them (auditctl -D, or augenrules at auditd's start): add them again.
    log_warning("audit: " + std::to_string(rules_.load() - count.value()) +
                " vigil rules were removed by someone else; adding them again");
    if (auto removed = remove_audit_rules(control_.get(), key_); !removed) return;
    auto added = add_audit_rules(control_.get(), key_, roots_, attribution_);
    if (!added) {
        log_error("audit: cannot add our rules again: " + added.error().message());
        return;
    }
    rules_ = added.value();
}

void AuditSource::read_loop() {
    std::unique_ptr<auparse_state_t, AuparseFree> au(auparse_init(AUSOURCE_FEED, nullptr));
    if (!au) {
        log_error("audit: libauparse could not start: denied attempts are not recorded");
        return;
    }
    auparse_set_escape_mode(au.get(), AUPARSE_ESC_RAW);
    auparse_add_callback(au.get(), event_ready, this, nullptr);
    std::vector<char> buf(MAX_AUDIT_MESSAGE_LENGTH + kHeader + 64);
    auto last_check = std::chrono::steady_clock::now();
    for (;;) {
        pollfd fds[2] = {{events_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
        const int n = ::poll(fds, 2, 1000);
        if (n < 0 && errno != EINTR) {
            log_error("audit: poll: " + errno_text(errno));
            return;
        }
        if (n > 0 && (fds[1].revents & POLLIN) != 0) break;
        while (n > 0 && (fds[0].revents & POLLIN) != 0) {
            const ssize_t got = ::recv(events_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (got < 0) {
                if (errno == EINTR) continue;
                if (errno == ENOBUFS) {  // the kernel could not deliver: records were lost
                    ++overflows_;
                    ++overflows_total_;
                    continue;
                }
                if (errno != EAGAIN) log_error("audit: recv: " + errno_text(errno));
                break;
            }
            // One record per datagram. Its nlmsg_len is not trusted: for the audit daemon the
            // kernel sets it to the payload's length, for multicast listeners to the whole
            // message's (a historical quirk); the datagram's own length is right for both.
            if (static_cast<std::size_t>(got) < kHeader) continue;
            nlmsghdr header{};
            std::memcpy(&header, buf.data(), sizeof header);
            // Replies (acks, AUDIT_GET) are below 1100; records are 1100 and up.
            if (header.nlmsg_type < AUDIT_FIRST_USER_MSG) continue;
            const char* text = buf.data() + kHeader;
            const std::size_t len = static_cast<std::size_t>(got) - kHeader;
            if (header.nlmsg_type == AUDIT_CONFIG_CHANGE) {
                // Our pid as the old one and another as the new: an auditd tried to start.
                const auto self = static_cast<std::int64_t>(::getpid());
                const auto change = audit_pid_change(std::string_view(text, strnlen(text, len)));
                if (change && change->requested != 0 && change->requested != self && change->old == self)
                    handover_ = true;
            } else if (syscall_event_record(header.nlmsg_type)) {
                feed_message(au.get(), header.nlmsg_type, text, len);
            }
        }
        auparse_feed_age_events(au.get());
        if (handover_) {
            handover_ = false;
            const std::scoped_lock lock(control_mu_);
            if (const int rc = audit_set_pid(control_.get(), 0, WAIT_NO); rc < 0) {
                log_error("audit: an audit daemon asked for its role but we cannot give it: " + errno_text(-rc));
            } else if (auto r = join_multicast(); !r) {
                log_error("audit: " + r.error().message());
            } else {
                stepped_aside_ = std::chrono::steady_clock::now();
                restore_enabled_ = false;  // the audit daemon owns these settings now
                restore_backlog_ = 0;
                log_warning(
                    "audit: an audit daemon is starting: vigild stepped aside and reads the "
                    "read-only log group");
            }
        }
        if (std::chrono::steady_clock::now() - last_check > kCheckEvery) {
            last_check = std::chrono::steady_clock::now();
            const std::scoped_lock lock(control_mu_);
            check_daemon();
            check_rules();
        }
    }
    auparse_flush_feed(au.get());
}

}  // namespace vigil::agent
