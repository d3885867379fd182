// Readiness and shutdown notices to systemd (Type=notify in packaging/vigild.service).
// Outside systemd (no $NOTIFY_SOCKET: a terminal, the tests) these do nothing.
#pragma once

namespace vigil::agent {

// Every watch is in place: systemd may start units ordered after vigild.service.
void notify_systemd_ready();
// Shutdown began (SIGTERM/SIGINT): systemd shows "deactivating" while the queue is flushed.
void notify_systemd_stopping();

}  // namespace vigil::agent
