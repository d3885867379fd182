#include "agent/systemd_notify.h"

#include <string>
#include <systemd/sd-daemon.h>

#include "agent/log.h"
#include "common/sys.h"

namespace vigil::agent {
namespace {

// A notice that cannot be sent is worth a warning, never a failure: the agent watches
// either way, and under Type=notify systemd's own start timeout reports a missing READY.
void notify(const char* state) {
    const int r = ::sd_notify(0, state);
    if (r < 0) log_warning(std::string("sd_notify ") + state + ": " + errno_text(-r));
}

}  // namespace

void notify_systemd_ready() { notify("READY=1"); }
void notify_systemd_stopping() { notify("STOPPING=1"); }

}  // namespace vigil::agent
