// The depth of a fanotify group's kernel queue is fs.fanotify.max_queued_events (16,384 by
// default), read once when the group is made. A burst deeper than that is lost for good:
// an overflow, then a rescan that recovers changes but never who made them, nor reads.
// So the agent makes its group with the policy's depth (default 262,144 events, a few tens
// of MB of kernel memory at most): the sysctl is raised for the moment of fanotify_init and
// put back at once. Only ever raised; where it cannot be written, the default stands and a
// warning says so. FAN_UNLIMITED_QUEUE (fapolicyd's choice) would leave kernel memory unbounded.
#pragma once

#include <cstdint>
#include <optional>

namespace vigil::agent {

class KernelQueueDepth {
public:
    explicit KernelQueueDepth(std::uint32_t events);
    ~KernelQueueDepth();  // restores the sysctl
    KernelQueueDepth(const KernelQueueDepth&) = delete;
    KernelQueueDepth& operator=(const KernelQueueDepth&) = delete;

private:
    std::optional<std::uint64_t> previous_;  // set when we raised it
};

}  // namespace vigil::agent
