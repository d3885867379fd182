// The agent's syslog output (policy "output.syslog"; docs/log-pipeline.md): RFC 5424
// datagrams (common/rfc5424.h) to the local syslog socket, default /dev/log.
//
// The socket is non-blocking: a receiver that does not keep up (queue full) or is gone
// (socket missing, daemon restarting) costs a dropped datagram, counted by the caller and
// reported, never a stalled writer. A gone receiver is reconnected at most once a second.
// Thread: the writer thread only.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/policy.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace vigil::agent {

class SyslogSink {
public:
    explicit SyslogSink(SyslogOutput config) : config_(std::move(config)) {}

    // Sends one datagram without waiting; an error means it was dropped (and why).
    Result<void> send(std::string_view datagram);
    const SyslogOutput& config() const { return config_; }

private:
    Result<void> connect();

    SyslogOutput config_;
    UniqueFd fd_;
    std::chrono::steady_clock::time_point next_connect_{};
};

}  // namespace vigil::agent
