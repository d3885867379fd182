// The agent's log-pipeline outputs against a real vigild (docs/log-pipeline.md): RFC 5424
// datagrams on a Unix datagram socket the test listens on, and the JSON-lines file with
// size-based rotation under load, across a restart, and on a full log filesystem.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/escape.h"
#include "tests/agent/agent_fixture.h"
#include "tests/support/rfc5424_parse.h"

namespace {

using vigil::test::Row;

// Puts an "output" object into the fixture's policy (written before the agent starts).
void set_output(vigil::test::Agent& agent, const std::string& output_json) {
    const std::string text = vigil::test::read_file(agent.policy);
    REQUIRE(text.front() == '{');
    vigil::test::write_file(agent.policy, "{\"output\":" + output_json + "," + text.substr(1));
}

class SyslogListener {
public:
    explicit SyslogListener(std::string path) : path_(std::move(path)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        REQUIRE(path_.size() < sizeof addr.sun_path);
        std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
        REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~SyslogListener() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    SyslogListener(const SyslogListener&) = delete;
    SyslogListener& operator=(const SyslogListener&) = delete;

    // Receives until a datagram satisfies `pred` (true) or `seconds` pass.
    bool wait_for(const std::function<bool(const vigil::test::Syslog5424&)>& pred, int seconds = 20) {
        for (const auto& d : received)
            if (auto m = vigil::test::parse_rfc5424(d); m && pred(*m)) return true;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        std::string buf(70'000, '\0');
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
            if (n <= 0) continue;
            received.emplace_back(buf.data(), static_cast<std::size_t>(n));
            auto m = vigil::test::parse_rfc5424(received.back());
            INFO(received.back());
            REQUIRE(m);  // every datagram is well-formed RFC 5424
            if (pred(*m)) return true;
        }
        return false;
    }

    std::vector<std::string> received;

private:
    std::string path_;
    int fd_ = -1;
};

nlohmann::json agent_status(const vigil::test::Agent& agent) {
    const std::string text = vigil::test::read_file(agent.db + ".agent.status");
    return nlohmann::json::parse(text, nullptr, false);
}

// Polls the status file until `pred` holds for its "outputs".
bool wait_for_status(const vigil::test::Agent& agent, const std::function<bool(const nlohmann::json&)>& pred,
                     int seconds = 20) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        struct stat st {};
        if (::stat((agent.db + ".agent.status").c_str(), &st) == 0) {
            const auto j = agent_status(agent);
            if (j.is_object() && j.contains("outputs") && pred(j["outputs"])) return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

// Every line of PATH.keep … PATH.1, PATH (oldest first); each file must end with a newline.
std::vector<std::string> jsonl_lines(const std::string& path, unsigned keep, std::size_t max_file_bytes = 0) {
    std::vector<std::string> files;
    for (unsigned k = keep; k >= 1; --k) files.push_back(path + "." + std::to_string(k));
    files.push_back(path);
    std::vector<std::string> lines;
    for (const auto& f : files) {
        struct stat st {};
        if (::lstat(f.c_str(), &st) != 0) continue;
        INFO(f);
        CHECK(S_ISREG(st.st_mode));
        CHECK((st.st_mode & 0777) == 0600);
        if (max_file_bytes > 0) CHECK(static_cast<std::size_t>(st.st_size) <= max_file_bytes);
        const std::string text = vigil::test::read_file(f);
        if (text.empty()) continue;
        CHECK(text.back() == '\n');  // never a split line
        std::size_t start = 0;
        while (start < text.size()) {
            const auto nl = text.find('\n', start);
            const auto end = nl == std::string::npos ? text.size() : nl;
            lines.push_back(text.substr(start, end - start));
            start = end + 1;
        }
    }
    return lines;
}

// The ids of the lines; every line must be a JSON object with an integer id, none twice.
std::vector<std::int64_t> ids_of(const std::vector<std::string>& lines) {
    std::vector<std::int64_t> ids;
    std::set<std::int64_t> seen;
    for (const auto& l : lines) {
        const auto j = nlohmann::json::parse(l, nullptr, false);
        INFO(l);
        REQUIRE(j.is_object());
        REQUIRE(j["id"].is_number_integer());
        const auto id = j["id"].get<std::int64_t>();
        CHECK(seen.insert(id).second);  // no line twice
        ids.push_back(id);
    }
    return ids;
}

std::int64_t id_of(const Row& r) { return std::stoll(*r.at("id")); }

// The file holds exactly the database's rows from its first line's id to the last row, in
// order, and that first row is no later than this run's agent_start.
void check_covers_database(const std::vector<std::int64_t>& ids, const std::vector<Row>& rows) {
    REQUIRE_FALSE(ids.empty());
    std::vector<std::int64_t> expected;
    std::optional<std::int64_t> first_start;
    for (const auto& r : rows) {
        if (id_of(r) >= ids.front()) expected.push_back(id_of(r));
        if (r.at("action") == "agent_start" && !first_start) first_start = id_of(r);
    }
    REQUIRE(first_start);
    CHECK(ids.front() <= *first_start);
    CHECK(ids == expected);
}

}  // namespace

TEST_CASE("syslog output: RFC 5424 datagrams with facility, severity and SD params for real events",
          "[kernel][root][agent][output]") {
    const auto alice = vigil::test::ensure_user("vigilalice");
    vigil::test::Agent agent("fanotify", "", false);
    SyslogListener listener(agent.dir / "syslog.sock");
    set_output(agent, R"({"syslog": {"facility": "local3", "socket": ")" + (agent.dir / "syslog.sock") + R"("}})");
    agent.start();

    // A hostile name: a newline (a forged second message), ']' and '"' (a forged end of
    // the structured data), invalid UTF-8.
    const std::string hostile = agent.root + "/we]ird\"na\nme \xff.txt";
    const std::string secret = agent.root + "/secret/customers.csv";
    vigil::test::ActAs act(alice.uid, alice.gid, 4242,
                           {[&] {
                                const int fd = ::open(hostile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
                                if (fd < 0 || ::write(fd, "x\n", 2) != 2) return 1;
                                return ::close(fd);
                            },
                            [&] {
                                char buf[64];
                                const int fd = ::open(secret.c_str(), O_RDONLY);
                                if (fd < 0 || ::read(fd, buf, sizeof buf) <= 0) return 1;
                                return ::close(fd);
                            }});
    REQUIRE(act.run_next() == 0);
    const std::string escaped = vigil::escape_bytes(hostile);
    vigil::test::Syslog5424 modify;
    REQUIRE(listener.wait_for([&](const vigil::test::Syslog5424& m) {
        if (m.params.count("path") == 0 || m.params.at("path") != escaped || m.msgid != "modify") return false;
        modify = m;
        return true;
    }));
    REQUIRE(act.run_next() == 0);
    vigil::test::Syslog5424 read;
    REQUIRE(listener.wait_for([&](const vigil::test::Syslog5424& m) {
        if (m.params.count("path") == 0 || m.params.at("path") != secret) return false;
        if (m.msgid != "open" && m.msgid != "read") return false;
        read = m;
        return true;
    }));
    const auto rows = agent.stop();

    CHECK(modify.pri == 19 * 8 + 4);  // local3, the rule's default severity medium -> warning
    CHECK(read.pri == 19 * 8 + 2);    // the secret rule's critical -> crit
    for (const auto* m : {&modify, &read}) {
        INFO(m->params.at("path"));
        CHECK(m->sd_id == "vigil@32473");
        CHECK(m->app_name == "vigild");
        CHECK(m->procid == std::to_string(agent.proc->pid()));
        CHECK(m->params.at("uid") == std::to_string(alice.uid));
        CHECK(m->params.at("user") == "vigilalice");
        CHECK(m->params.at("auid") == "4242");
        CHECK(m->params.at("pid") == std::to_string(act.pid()));
        CHECK(m->params.at("source") == "fanotify");
        CHECK(m->timestamp.size() == 27);  // 2026-01-02T03:04:05.123456Z
        // The datagram names the very row the database stored.
        const std::int64_t id = std::stoll(m->params.at("id"));
        bool found = false;
        for (const auto& r : rows) {
            if (id_of(r) != id) continue;
            found = true;
            CHECK(r.at("action") == m->msgid);
            CHECK(vigil::escape_bytes(r.at("path").value_or("")) == m->params.at("path"));
        }
        CHECK(found);
    }
    CHECK(modify.params.at("label") == "data");
    CHECK(read.params.at("severity") == "critical");
    // Nothing unprintable reached the receiver: one datagram, one line.
    for (const auto& d : listener.received) CHECK(d.find('\n') == std::string::npos);
}

TEST_CASE("syslog output: events wait for a missing receiver, then arrive; min_severity filters",
          "[kernel][agent][output]") {
    vigil::test::Agent agent("fanotify", "", false);
    const std::string sock = agent.dir / "late.sock";
    set_output(agent, R"({"syslog": {"socket": ")" + sock + R"(", "min_severity": "critical"}})");
    agent.start();
    const std::string secret = agent.root + "/secret/customers.csv";
    auto touch_secret = [&] {
        const int fd = ::open(secret.c_str(), O_WRONLY | O_APPEND);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, "2,Bob\n", 6) == 6);
        ::close(fd);
    };
    // A medium event (filtered) and a critical one while nobody listens (waiting).
    vigil::test::write_file(agent.root + "/plain.txt", "medium\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/plain.txt"));
    touch_secret();
    REQUIRE(agent.wait_for("modify", secret));
    REQUIRE(wait_for_status(agent, [](const nlohmann::json& o) {
        return o["syslog"].is_object() && o["syslog"]["behind"].get<std::int64_t>() >= 1 &&
               o["syslog"]["filtered"].get<std::uint64_t>() >= 1;
    }));
    REQUIRE(agent.proc->wait_for_output("syslog output failing", 10));
    const auto status = vigil::test::run_vigil({"status", "--db", agent.db});
    CHECK_THAT(status.out, Catch::Contains("Output syslog:") && Catch::Contains("events behind"));
    const auto first = vigil::test::find(vigil::test::read_events(agent.db), "modify", secret);
    REQUIRE(first.size() == 1);

    // The receiver appears: the agent connects again by itself and sends what waited.
    SyslogListener listener(sock);
    CHECK(listener.wait_for([&](const vigil::test::Syslog5424& m) { return m.params.at("id") == *first[0].at("id"); }));
    // Rows go out in id order: a medium row sent would arrive before a later critical one.
    vigil::test::write_file(agent.root + "/plain2.txt", "medium\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/plain2.txt"));
    const auto plain2 = vigil::test::find(vigil::test::read_events(agent.db), "modify", agent.root + "/plain2.txt");
    REQUIRE(plain2.size() == 1);
    touch_secret();
    REQUIRE(listener.wait_for([&](const vigil::test::Syslog5424& m) {
        return m.params.count("path") != 0 && m.params.at("path") == secret &&
               std::stoll(m.params.at("id")) > id_of(plain2.front());
    }));
    agent.stop();
    // Only critical rows passed the filter; the medium ones (plain*.txt) were never sent.
    for (const auto& d : listener.received) {
        const auto m = vigil::test::parse_rfc5424(d);
        REQUIRE(m);
        CHECK(m->pri % 8 == 2);
        CHECK(m->params.at("severity") == "critical");
    }
    CHECK_THAT(agent.proc->output(), Catch::Contains("syslog output works again"));
    const auto final_status = agent_status(agent);
    CHECK(final_status["outputs"]["syslog"]["dropped"] == 0);
}

TEST_CASE("syslog output: past max_backlog a stalled receiver costs counted drops, every row accounted for",
          "[kernel][agent][output]") {
    vigil::test::Agent agent("fanotify", "", false);
    const std::string sock = agent.dir / "slow.sock";
    SyslogListener listener(sock);  // bound, but not reading yet: its queue fills at 10
    set_output(agent, R"({"syslog": {"socket": ")" + sock + R"(", "max_backlog": 5}})");
    agent.start();
    for (int i = 0; i < 40; ++i) vigil::test::write_file(agent.root + "/s" + std::to_string(i), "s\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/s39"));
    REQUIRE(wait_for_status(agent, [](const nlohmann::json& o) {
        return o["syslog"].is_object() && o["syslog"]["dropped"].get<std::uint64_t>() >= 1;
    }));
    REQUIRE(agent.proc->wait_for_output("events behind: the oldest", 10));
    // Now the receiver reads: what waited (at most 5 rows) and what follows arrive.
    vigil::test::write_file(agent.root + "/last", "l\n");
    REQUIRE(listener.wait_for([&](const vigil::test::Syslog5424& m) {
        return m.params.count("path") != 0 && m.params.at("path") == agent.root + "/last" && m.msgid == "modify";
    }));
    const auto rows = agent.stop();
    listener.wait_for([](const vigil::test::Syslog5424&) { return false; }, 1);  // the rest, agent_stop
    const auto o = agent_status(agent)["outputs"]["syslog"];
    INFO(o.dump());
    // Each row of this run was sent, dropped or filtered: nothing vanished uncounted.
    CHECK(o["sent"].get<std::size_t>() == listener.received.size());
    CHECK(o["sent"].get<std::size_t>() + o["dropped"].get<std::size_t>() + o["filtered"].get<std::size_t>() ==
          rows.size());
    CHECK(o["behind"] == 0);
    std::set<std::string> ids;
    for (const auto& d : listener.received) CHECK(ids.insert(vigil::test::parse_rfc5424(d)->params.at("id")).second);
}

TEST_CASE("jsonl output: rotation under load loses, splits and repeats no line", "[kernel][agent][output]") {
    vigil::test::Agent agent("fanotify", "", false);
    const std::string path = agent.dir / "log/vigil/events.jsonl";  // directories made by the agent
    constexpr unsigned kKeep = 1000;
    set_output(agent, R"({"jsonl": {"path": ")" + path + R"(", "max_size_mb": 0.0625, "keep": 1000}})");
    agent.start();

    // Load: 1500 files created and written as fast as the test can (create + modify rows,
    // batched by the writer in the hundreds), about 2 MB of lines, 30-odd rotations.
    vigil::test::make_dirs(agent.root + "/load");
    constexpr int kFiles = 1500;
    for (int i = 0; i < kFiles; ++i) {
        const std::string f = agent.root + "/load/f" + std::to_string(i);
        const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, f.data(), f.size()) == static_cast<ssize_t>(f.size()));
        ::close(fd);
    }
    REQUIRE(agent.wait_for("modify", agent.root + "/load/f" + std::to_string(kFiles - 1), 60));
    const auto rows = agent.stop();

    struct stat dir_st {};
    REQUIRE(::stat((agent.dir / "log/vigil").c_str(), &dir_st) == 0);
    CHECK((dir_st.st_mode & 0777) == 0700);
    const auto lines = jsonl_lines(path, kKeep, 65536);
    struct stat st {};
    CHECK(::stat((path + ".20").c_str(), &st) == 0);                        // it did rotate, many times
    CHECK(::stat((path + "." + std::to_string(kKeep)).c_str(), &st) != 0);  // and nothing fell off the end
    const auto ids = ids_of(lines);
    check_covers_database(ids, rows);
    CHECK(ids.back() == id_of(rows.back()));  // agent_stop included

    // The same bytes as `vigil query --format jsonl` for the same rows.
    const auto q =
        vigil::test::run_vigil({"query", "--db", agent.db, "--format", "jsonl", "--reverse", "--limit", "1000000"});
    REQUIRE(q.exit_code == 0);
    std::set<std::string> query_lines;
    std::size_t start = 0;
    while (start < q.out.size()) {
        const auto nl = q.out.find('\n', start);
        query_lines.insert(q.out.substr(start, nl - start));
        start = nl + 1;
    }
    std::size_t same = 0;
    for (const auto& l : lines) same += query_lines.count(l);
    CHECK(same == lines.size());
}

TEST_CASE("jsonl output: a restart resumes after the file's last whole line", "[kernel][agent][output]") {
    vigil::test::Agent agent("fanotify", "", false);
    const std::string path = agent.dir / "events.jsonl";
    set_output(agent, R"({"jsonl": {"path": ")" + path + R"("}})");
    agent.start();
    for (int i = 0; i < 20; ++i) vigil::test::write_file(agent.root + "/a" + std::to_string(i), "a\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/a19"));
    agent.stop();
    // A crash after a commit and before the file write: the last lines never got there,
    // and the write in progress left a torn line. The agent cuts the torn line and writes
    // the missing rows again from the database.
    std::string text = vigil::test::read_file(path);
    for (int cut = 0; cut < 6; ++cut) text.erase(text.rfind('\n', text.size() - 2) + 1);
    vigil::test::write_file(path, text + R"({"id":999999,"time":"2026-)");
    agent.start();
    for (int i = 0; i < 20; ++i) vigil::test::write_file(agent.root + "/b" + std::to_string(i), "b\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/b19"));
    const auto rows = agent.stop();

    const auto ids = ids_of(jsonl_lines(path, 1));
    check_covers_database(ids, rows);  // both runs, no gap, nothing twice, the torn line gone
    std::size_t starts = 0;
    for (const auto& r : rows) starts += r.at("action") == "agent_start" && id_of(r) >= ids.front() ? 1 : 0;
    CHECK(starts == 2);
}

TEST_CASE("jsonl output: a full log filesystem delays lines, never loses them or database rows",
          "[kernel][root][agent][output]") {
    vigil::test::Agent agent("fanotify", "", false);
    const std::string logs = agent.dir / "logs";
    vigil::test::make_dirs(logs);
    REQUIRE(::mount("tmpfs", logs.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700") == 0);
    struct Unmount {
        std::string dir;
        ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
    } unmount{logs};
    const std::string path = logs + "/events.jsonl";
    set_output(agent, R"({"jsonl": {"path": ")" + path + R"(", "max_size_mb": 0}})");
    agent.start();

    // Fill the log filesystem, then make events: the lines cannot be written.
    {
        const int fd = ::open((logs + "/filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        const std::string chunk(4096, 'z');
        while (::write(fd, chunk.data(), chunk.size()) > 0) {
        }
        ::close(fd);
    }
    for (int i = 0; i < 50; ++i) vigil::test::write_file(agent.root + "/c" + std::to_string(i), "c\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/c49"));
    REQUIRE(wait_for_status(agent, [](const nlohmann::json& o) {
        return o["jsonl"].is_object() && o["jsonl"]["failures"].get<std::uint64_t>() >= 1 &&
               o["jsonl"]["behind"].get<std::int64_t>() > 0;
    }));
    REQUIRE(agent.proc->wait_for_output("JSON-lines output failing", 10));
    for (const auto& l : jsonl_lines(path, 1)) CHECK(nlohmann::json::parse(l, nullptr, false).is_object());

    // Space returns: the file catches up from the database by itself.
    REQUIRE(::unlink((logs + "/filler").c_str()) == 0);
    REQUIRE(wait_for_status(
        agent, [](const nlohmann::json& o) { return o["jsonl"]["behind"].get<std::int64_t>() == 0; }, 60));
    const auto rows = agent.stop();
    check_covers_database(ids_of(jsonl_lines(path, 1)), rows);
    CHECK(vigil::test::find(rows, "modify", agent.root + "/c49").size() == 1);
    CHECK_THAT(agent.proc->output(), Catch::Contains("JSON-lines output works again"));
}

TEST_CASE("jsonl output: SIGHUP reopens the file, so an outside logrotate loses no line", "[kernel][agent][output]") {
    vigil::test::Agent agent("fanotify", "", false);
    const std::string path = agent.dir / "events.jsonl";
    set_output(agent, R"({"jsonl": {"path": ")" + path + R"(", "max_size_mb": 0}})");
    agent.start();
    for (int i = 0; i < 10; ++i) vigil::test::write_file(agent.root + "/a" + std::to_string(i), "a\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/a9"));
    // What logrotate does without copytruncate: rename, then tell the daemon.
    REQUIRE(::rename(path.c_str(), (path + ".1").c_str()) == 0);
    agent.proc->signal(SIGHUP);
    REQUIRE(agent.proc->wait_for_output("policy reloaded", 20));
    for (int i = 0; i < 10; ++i) vigil::test::write_file(agent.root + "/b" + std::to_string(i), "b\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/b9"));
    const auto rows = agent.stop();

    const auto fresh = jsonl_lines(path, 0);
    REQUIRE_FALSE(fresh.empty());  // a new file at the path, 0600
    bool b9 = false;
    for (const auto& l : fresh) b9 = b9 || l.find("\"path\":\"" + agent.root + "/b9\"") != std::string::npos;
    CHECK(b9);
    check_covers_database(ids_of(jsonl_lines(path, 1)), rows);  // the rotated file and the new one
}
