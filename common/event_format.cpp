#include "common/event_format.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>
#include <vector>

#include "common/escape.h"
#include "common/time_format.h"

namespace vigil {
namespace {

using nlohmann::ordered_json;

ordered_json text(const std::optional<std::string>& v) { return v ? ordered_json(escape_bytes(*v)) : ordered_json(); }
ordered_json number(const std::optional<std::int64_t>& v) { return v ? ordered_json(*v) : ordered_json(); }
ordered_json hash(const std::optional<std::string>& v) { return v ? ordered_json(to_hex(*v)) : ordered_json(); }

// `detail` is JSON we wrote; anything else (a damaged row) is shown as escaped text. Rare
// (agent-level events), so nlohmann parses and prints it: the same bytes as before.
ordered_json parsed_detail(std::string_view detail) {
    auto parsed = ordered_json::parse(detail.begin(), detail.end(), nullptr, false);
    return parsed.is_discarded() ? ordered_json(escape_bytes(detail)) : parsed;
}

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// Room for one event's JSON up to its detail: the 23 keys, the punctuation (pretty: 10
// bytes a field), 7 numbers of at most 20 digits, the time, the literals; then what the
// byte strings can grow to.
std::size_t json_room(const EventView& e) {
    constexpr std::size_t kFixed = 1024;
    std::size_t n = kFixed + kEscapedMaxPerByte * (e.action.size() + e.source.size());
    for (const auto* f :
         {&e.path, &e.old_path, &e.user, &e.login_user, &e.exe, &e.comm, &e.cmdline, &e.label, &e.severity})
        if (*f) n += kEscapedMaxPerByte * (*f)->size();
    for (const auto* f : {&e.sha256_before, &e.sha256_after})
        if (*f) n += 2 * (*f)->size();
    return n;
}

// One JSON object, written field by field as nlohmann's dump() would: compact, or (Pretty)
// as an element of an array dumped with indent 2. Every field but `detail` goes through a
// pointer into a buffer of json_room() bytes (no capacity check per byte); the detail,
// rare and of any length, is appended to the output string (finish()).
template <bool Pretty>
class JsonObject {
public:
    explicit JsonObject(char* p) : p_(p) {}

    void text(std::string_view key, const std::optional<std::string_view>& v) {
        name(key);
        if (!v) {
            null();
            return;
        }
        *p_++ = '"';
        p_ = write_json_escaped(p_, *v);
        *p_++ = '"';
    }
    void number(std::string_view key, const std::optional<std::int64_t>& v) {
        name(key);
        if (!v) {
            null();
            return;
        }
        p_ = std::to_chars(p_, p_ + 24, *v).ptr;
    }
    void hex(std::string_view key, const std::optional<std::string_view>& v) {
        name(key);
        if (!v) {
            null();
            return;
        }
        *p_++ = '"';
        p_ = write_hex(p_, *v);
        *p_++ = '"';
    }
    void time(std::string_view key, std::int64_t ns) {
        name(key);
        *p_++ = '"';
        p_ = write_rfc3339_ns(p_, ns);
        *p_++ = '"';
    }
    void boolean(std::string_view key, bool v) {
        name(key);
        if (v) {
            literal("true");
        } else {
            literal("false");
        }
    }
    // The last field: its key goes to the buffer, the value and the closing brace to `out`.
    void detail_key(std::string_view key) { name(key); }
    char* end() const { return p_; }

    static void detail_value(std::string& out, const std::optional<std::string_view>& v) {
        if (!v) {
            out += "null";
        } else if (!Pretty) {
            out += parsed_detail(*v).dump();
        } else {
            // Nested at depth 2 of the array: every line of its own dump indented by 4 more.
            for (const char c : parsed_detail(*v).dump(2)) {
                out += c;
                if (c == '\n') out += "    ";
            }
        }
        out += Pretty ? "\n  }" : "}";
    }

private:
    template <std::size_t N>
    void literal(const char (&s)[N]) {
        std::memcpy(p_, s, N - 1);
        p_ += N - 1;
    }
    void null() { literal("null"); }
    void name(std::string_view key) {
        if (Pretty) {
            if (first_) {
                literal("{\n    \"");
            } else {
                literal(",\n    \"");
            }
        } else {
            if (first_) {
                literal("{\"");
            } else {
                literal(",\"");
            }
        }
        first_ = false;
        std::memcpy(p_, key.data(), key.size());
        p_ += key.size();
        if (Pretty) {
            literal("\": ");
        } else {
            literal("\":");
        }
    }

    char* p_;
    bool first_ = true;
};

// Grows only: the bytes of one row before they are appended to the output.
class RowBuffer {
public:
    char* room(std::size_t n) {
        if (n > size_) {
            data_ = std::make_unique_for_overwrite<char[]>(n);
            size_ = n;
        }
        return data_.get();
    }

private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
};

template <bool Pretty>
void append_event_json(std::string& out, RowBuffer& buf, const EventView& e) {
    char* const start = buf.room(json_room(e));
    JsonObject<Pretty> j(start);
    j.number("id", e.id);
    j.time("time", e.time_ns);
    j.text("action", e.action);
    j.text("path", e.path);
    j.text("old_path", e.old_path);
    j.number("uid", e.uid);
    j.text("user", e.user);
    j.number("euid", e.euid);
    j.number("gid", e.gid);
    j.number("auid", e.auid);
    j.text("login_user", e.login_user);
    j.number("pid", e.pid);
    j.number("ppid", e.ppid);
    j.text("exe", e.exe);
    j.text("comm", e.comm);
    j.text("cmdline", e.cmdline);
    j.text("label", e.label);
    j.text("severity", e.severity);
    j.hex("sha256_before", e.sha256_before);
    j.hex("sha256_after", e.sha256_after);
    j.boolean("unexpected", e.unexpected);
    j.text("source", e.source);
    j.detail_key("detail");
    out.append(start, j.end());
    JsonObject<Pretty>::detail_value(out, e.detail);
}

class JsonlWriter final : public EventWriter {
public:
    void row(std::string& out, const EventView& e) override {
        append_event_json<false>(out, buf_, e);
        out += '\n';
    }
    void finish(std::string&) override {}

private:
    RowBuffer buf_;
};

class JsonArrayWriter final : public EventWriter {
public:
    void row(std::string& out, const EventView& e) override {
        out += rows_++ == 0 ? "[\n  " : ",\n  ";
        append_event_json<true>(out, buf_, e);
    }
    void finish(std::string& out) override { out += rows_ == 0 ? "[]\n" : "\n]\n"; }

private:
    std::size_t rows_ = 0;
    RowBuffer buf_;
};

// RFC 4180: the same values as the JSON, text unquoted unless it holds a separator.
class CsvWriter final : public EventWriter {
public:
    CsvWriter() = default;
    void row(std::string& out, const EventView& e) override {
        if (!header_) header(out);
        append_int(out, e.id);
        out += ',';
        append_rfc3339_ns(out, e.time_ns);
        text(out, e.action);
        text(out, e.path);
        text(out, e.old_path);
        number(out, e.uid);
        text(out, e.user);
        number(out, e.euid);
        number(out, e.gid);
        number(out, e.auid);
        text(out, e.login_user);
        number(out, e.pid);
        number(out, e.ppid);
        text(out, e.exe);
        text(out, e.comm);
        text(out, e.cmdline);
        text(out, e.label);
        text(out, e.severity);
        out += ',';
        if (e.sha256_before) append_hex(out, *e.sha256_before);
        out += ',';
        if (e.sha256_after) append_hex(out, *e.sha256_after);
        out += e.unexpected ? ",true" : ",false";
        text(out, e.source);
        out += ',';
        if (e.detail) {
            const auto j = parsed_detail(*e.detail);
            if (!j.is_null()) cell(out, j.is_string() ? j.get<std::string>() : j.dump());
        }
        out += "\r\n";
    }
    void finish(std::string& out) override {
        if (!header_) header(out);
    }

private:
    void header(std::string& out) {
        out +=
            "id,time,action,path,old_path,uid,user,euid,gid,auid,login_user,pid,ppid,exe,comm,cmdline,label,severity,"
            "sha256_before,sha256_after,unexpected,source,detail\r\n";
        header_ = true;
    }
    static void cell(std::string& out, std::string_view s) {
        if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
            out += s;
            return;
        }
        out += '"';
        for (const char c : s) {
            if (c == '"') out += '"';
            out += c;
        }
        out += '"';
    }
    void text(std::string& out, const std::optional<std::string_view>& v) {
        out += ',';
        if (!v) return;
        scratch_.clear();
        append_escaped(scratch_, *v);
        cell(out, scratch_);
    }
    static void number(std::string& out, const std::optional<std::int64_t>& v) {
        out += ',';
        if (v) append_int(out, *v);
    }

    bool header_ = false;
    std::string scratch_;  // one escaped cell, reused
};

// Display width of already-escaped text: every code point is one column (escapes made
// sure nothing invisible or double-width-confusing is left, apart from CJK, which we
// accept being off by a column rather than measuring wcwidth per locale).
std::size_t columns(const std::string& s) {
    std::size_t n = 0;
    for (const char c : s) n += (static_cast<unsigned char>(c) & 0xc0U) != 0x80U;
    return n;
}

std::string cut(const std::string& s, std::size_t width) {
    if (columns(s) <= width) return s;
    if (width == 0) return "";
    // Keep the end of a path: the file name says more than the leading directories.
    std::size_t keep = width - 1;
    std::size_t i = s.size();
    while (i > 0 && keep > 0) {
        --i;
        if ((static_cast<unsigned char>(s[i]) & 0xc0U) != 0x80U) --keep;
    }
    return "…" + s.substr(i);
}

std::string pad(const std::string& s, std::size_t width) {
    const std::size_t n = columns(s);
    return n >= width ? s : s + std::string(width - n, ' ');
}

class TableWriter final : public EventWriter {
public:
    TableWriter(std::size_t width, bool with_hash, std::string empty)
        : width_(width), with_hash_(with_hash), empty_(std::move(empty)) {
        lines_.push_back({{"TIME", "ACTION", "USER", "PROCESS", "PATH"}});
    }

    void row(std::string&, const EventView& e) override {
        std::string user = e.user ? escape_bytes(*e.user) : e.uid ? std::to_string(*e.uid) : "-";
        if (e.login_user && e.login_user != e.user) user += " (" + escape_bytes(*e.login_user) + ")";
        std::string process = "-";
        if (e.pid) process = (e.comm ? escape_bytes(*e.comm) : "?") + "[" + std::to_string(*e.pid) + "]";
        std::string path = e.path ? escape_bytes(*e.path) : "";
        if (e.old_path) path.insert(0, escape_bytes(*e.old_path) + " -> ");
        std::string time = format_rfc3339_ns(e.time_ns);
        time = time.substr(0, 19) + "Z";  // seconds are enough on a terminal; JSON has the nanoseconds
        std::string action = escape_bytes(e.action);
        if (with_hash_ && e.sha256_after) action += " " + to_hex(*e.sha256_after).substr(0, 12);
        if (e.unexpected) action += " (unexpected)";  // outside the policy's expectations: never hidden
        lines_.push_back({{time, action, user, process, path}});
    }

    void finish(std::string& out) override {
        if (lines_.size() == 1) {
            out += empty_;
            return;
        }
        std::array<std::size_t, 4> w{};
        for (const auto& l : lines_)
            for (std::size_t c = 0; c < 4; ++c) w[c] = std::max(w[c], columns(l.cells[c]));
        std::size_t used = 0;
        for (const auto x : w) used += x + 2;
        const std::size_t path_width = width_ > used + 10 ? width_ - used : 10;
        for (const auto& l : lines_) {
            for (std::size_t c = 0; c < 4; ++c) out += pad(l.cells[c], w[c]) + "  ";
            out += cut(l.cells[4], path_width) + "\n";
        }
    }

private:
    struct Line {
        std::array<std::string, 5> cells;  // time, action, user, process, path
    };
    std::size_t width_;
    bool with_hash_;
    std::string empty_;
    std::vector<Line> lines_;
};

}  // namespace

ordered_json event_to_json(const StoredEvent& s) {
    const Event& e = s.event;
    ordered_json j;
    j["id"] = s.id;
    j["time"] = format_rfc3339_ns(e.time_ns);
    j["action"] = escape_bytes(s.action);
    j["path"] = text(e.path);
    j["old_path"] = text(e.old_path);
    j["uid"] = number(e.actor.uid);
    j["user"] = text(e.actor.user);
    j["euid"] = number(e.actor.euid);
    j["gid"] = number(s.gid);
    j["auid"] = number(e.actor.auid);
    j["login_user"] = text(e.actor.login_user);
    j["pid"] = number(e.actor.pid);
    j["ppid"] = number(e.actor.ppid);
    j["exe"] = text(e.actor.exe);
    j["comm"] = text(e.actor.comm);
    j["cmdline"] = text(e.actor.cmdline);
    j["label"] = text(e.label);
    j["severity"] = text(e.severity);
    j["sha256_before"] = hash(e.sha256_before);
    j["sha256_after"] = hash(e.sha256_after);
    j["unexpected"] = e.unexpected;
    j["source"] = escape_bytes(s.source);
    j["detail"] = e.detail ? parsed_detail(*e.detail) : ordered_json();
    return j;
}

std::unique_ptr<EventWriter> make_event_writer(std::string_view format, std::size_t width, bool with_hash,
                                               std::string empty_table) {
    if (format == "json") return std::make_unique<JsonArrayWriter>();
    if (format == "jsonl") return std::make_unique<JsonlWriter>();
    if (format == "csv") return std::make_unique<CsvWriter>();
    return std::make_unique<TableWriter>(width, with_hash, std::move(empty_table));
}

}  // namespace vigil
