#include "common/event_view.h"

namespace vigil {
namespace {

std::optional<std::string_view> view(const std::optional<std::string>& s) {
    if (!s) return std::nullopt;
    return std::string_view(*s);
}

std::optional<std::string> own(const std::optional<std::string_view>& s) {
    if (!s) return std::nullopt;
    return std::string(*s);
}

}  // namespace

EventView view_of(const StoredEvent& s) {
    const Event& e = s.event;
    EventView v;
    v.id = s.id;
    v.time_ns = e.time_ns;
    v.action = s.action;
    v.source = s.source;
    v.path = view(e.path);
    v.old_path = view(e.old_path);
    v.uid = e.actor.uid;
    v.euid = e.actor.euid;
    v.gid = s.gid;
    v.auid = e.actor.auid;
    v.user = view(e.actor.user);
    v.login_user = view(e.actor.login_user);
    v.pid = e.actor.pid;
    v.ppid = e.actor.ppid;
    v.exe = view(e.actor.exe);
    v.comm = view(e.actor.comm);
    v.cmdline = view(e.actor.cmdline);
    v.label = view(e.label);
    v.severity = view(e.severity);
    v.sha256_before = view(e.sha256_before);
    v.sha256_after = view(e.sha256_after);
    v.unexpected = e.unexpected;
    v.detail = view(e.detail);
    return v;
}

StoredEvent stored_from(const EventView& v) {
    StoredEvent s;
    s.id = v.id;
    s.action = std::string(v.action);
    s.source = std::string(v.source);
    s.gid = v.gid;
    Event& e = s.event;
    e.time_ns = v.time_ns;
    if (auto a = action_from_name(v.action)) e.action = *a;
    e.path = own(v.path);
    e.old_path = own(v.old_path);
    e.actor.uid = v.uid;
    e.actor.euid = v.euid;
    e.actor.gid = v.gid;
    e.actor.auid = v.auid;
    e.actor.user = own(v.user);
    e.actor.login_user = own(v.login_user);
    e.actor.pid = v.pid;
    e.actor.ppid = v.ppid;
    e.actor.exe = own(v.exe);
    e.actor.comm = own(v.comm);
    e.actor.cmdline = own(v.cmdline);
    e.label = own(v.label);
    e.severity = own(v.severity);
    e.sha256_before = own(v.sha256_before);
    e.sha256_after = own(v.sha256_after);
    e.unexpected = v.unexpected;
    e.detail = own(v.detail);
    return s;
}

}  // namespace vigil
