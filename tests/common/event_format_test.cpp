// The streaming writers must print what the nlohmann-built event_to_json() prints, byte
// for byte: JSON Lines is its dump(), JSON an array of them dumped with indent 2, CSV the
// same values. Hostile bytes, NULLs, odd details and times before 1970 included.
#include "common/event_format.h"

#include <catch2/catch.hpp>

#include <climits>

using namespace vigil;
using nlohmann::ordered_json;

namespace {

std::vector<StoredEvent> samples() {
    std::vector<StoredEvent> out;
    StoredEvent a;
    a.id = 1;
    a.action = "modify";
    a.source = "fanotify";
    a.event.time_ns = 1'700'000'000'123'456'789;
    a.event.path = std::string("/srv/a\nb,\"c\"\\d\xff\x1b[2J\x7f\t\xe2\x80\xae\xc3\xa9/\xe6\x97\xa5", 30);
    a.event.old_path = std::string("nul\0byte", 8);
    a.event.actor.uid = 0;
    a.event.actor.euid = -1;
    a.event.actor.auid = 4294967294LL;
    a.event.actor.user = "r\"oot";
    a.event.actor.login_user = "admin";
    a.event.actor.pid = 42;
    a.event.actor.ppid = 1;
    a.event.actor.exe = "/usr/bin/vi";
    a.event.actor.comm = "vi,m";
    a.event.actor.cmdline = "vi /etc/\"x\" a\rb";
    a.gid = 7;
    a.event.label = "customers";
    a.event.severity = "critical";
    a.event.sha256_before = std::string(32, '\x01');
    a.event.sha256_after = std::string("\xff\x00\xab", 3);
    a.event.unexpected = true;
    a.event.detail = R"({"count":3,"reasons":["a","b\n"],"nested":{"x":[],"y":{},"z":1.5e3}})";
    out.push_back(a);
    StoredEvent b;  // everything unknown
    b.id = 2;
    b.action = "agent_start";
    b.source = "cli";
    b.event.time_ns = -1'000'000'001;
    out.push_back(b);
    for (const char* detail : {"not json {", "\"a,b\"", "17", "null", "[1,{\"a\":2}]", "{}", "{\"k\": \"\\u00e9\"}"}) {
        StoredEvent c = b;
        c.id = static_cast<std::int64_t>(out.size() + 1);
        c.event.detail = detail;
        c.event.time_ns = INT64_MIN;  // 1677, the earliest time a row can hold
        c.event.path = "";
        out.push_back(c);
    }
    StoredEvent far = b;  // 2262, the latest
    far.event.time_ns = INT64_MAX;
    out.push_back(far);
    return out;
}

std::string written(std::string_view format, const std::vector<StoredEvent>& events) {
    auto w = make_event_writer(format, 120, false, "none\n");
    std::string out;
    for (const auto& e : events) w->row(out, view_of(e));
    w->finish(out);
    return out;
}

// The CSV of the JSON values, as the writer's RFC 4180 rules say.
std::string csv_of(const std::vector<StoredEvent>& events) {
    auto cell = [](const ordered_json& v) -> std::string {
        if (v.is_null()) return "";
        std::string s = v.is_string() ? v.get<std::string>() : v.dump();
        if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
        std::string q = "\"";
        for (const char c : s) {
            if (c == '"') q += '"';
            q += c;
        }
        return q + "\"";
    };
    std::string out;
    bool header = false;
    for (const auto& e : events) {
        const auto j = event_to_json(e);
        if (!header) {
            for (auto it = j.begin(); it != j.end(); ++it) out += (it == j.begin() ? "" : ",") + it.key();
            out += "\r\n";
            header = true;
        }
        for (auto it = j.begin(); it != j.end(); ++it) out += (it == j.begin() ? "" : ",") + cell(*it);
        out += "\r\n";
    }
    return out;
}

}  // namespace

TEST_CASE("streamed JSON Lines, JSON and CSV equal the nlohmann rendering", "[unit][format]") {
    const auto events = samples();
    std::string jsonl;
    ordered_json array = ordered_json::array();
    for (const auto& e : events) {
        jsonl += event_to_json(e).dump() + "\n";
        array.push_back(event_to_json(e));
    }
    CHECK(written("jsonl", events) == jsonl);
    CHECK(written("json", events) == array.dump(2) + "\n");
    CHECK(written("csv", events) == csv_of(events));
    for (std::size_t i = 0; i < events.size(); ++i) {
        INFO(i);
        CHECK(written("jsonl", {events[i]}) == event_to_json(events[i]).dump() + "\n");
        CHECK(written("json", {events[i]}) == ordered_json::array({event_to_json(events[i])}).dump(2) + "\n");
    }
}

TEST_CASE("no rows: an empty array, no lines, the CSV header, the table's message", "[unit][format]") {
    CHECK(written("json", {}) == "[]\n");
    CHECK(written("jsonl", {}).empty());
    CHECK(written("csv", {}) ==
          "id,time,action,path,old_path,uid,user,euid,gid,auid,login_user,pid,ppid,exe,comm,cmdline,label,severity,"
          "sha256_before,sha256_after,unexpected,source,detail\r\n");
    CHECK(written("table", {}) == "none\n");
}
