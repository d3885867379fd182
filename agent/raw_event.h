// What a watcher hands to the agent: one kernel event, its path already resolved.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/event.h"

namespace vigil::agent {

struct RawEvent {
    std::int64_t time_ns = 0;  // CLOCK_REALTIME at receipt
    std::int64_t boot_ns = 0;  // CLOCK_BOOTTIME at receipt (attribution's pid-reuse check)
    Action action = Action::Modify;
    Source source = Source::Fanotify;
    std::string path;
    std::optional<std::string> old_path;  // rename
    bool is_dir = false;
    pid_t pid = 0;  // 0: unknown (inotify)
    // The kernel's pidfd for `pid`, when it gave one. Borrowed: the watcher owns it and
    // closes it once on_event returns, so it never rides along in a queue.
    int pidfd = -1;
    std::string object;  // fanotify: opaque handle of the object (see FanotifySource::open_object)
};

class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void on_event(RawEvent&& event) = 0;
    // The kernel dropped events (queue overflow): changes may have gone unseen.
    virtual void on_overflow(Source source, const std::string& what) = 0;
    // A watcher that names events by its own map of watched directories lost the renames
    // that kept the map true (a queue overflow): every mark is to be placed again now, on
    // this thread, so the events read after this call carry today's names.
    virtual void on_watch_names_stale() {}
};

}  // namespace vigil::agent
