// The rsyslog example of docs/log-pipeline.md (docs/examples/rsyslog-vigil.conf), run for
// real: rsyslogd (Debian 12's syslog daemon, installed by scripts/setup.sh) parses the
// agent's RFC 5424 datagrams with its own parser and tails the JSON-lines file, and both
// come out the other end complete and unchanged.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "common/escape.h"
#include "tests/agent/agent_fixture.h"

namespace {

std::vector<std::string> lines_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    const std::string text = vigil::test::read_file(path);
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto nl = text.find('\n', start);
        if (nl == std::string::npos) break;  // a line still being written
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

}  // namespace

TEST_CASE("rsyslog example: the datagrams parse as RFC 5424 and the JSON lines ship unchanged",
          "[kernel][root][agent][output][rsyslog]") {
    REQUIRE(::access("/usr/sbin/rsyslogd", X_OK) == 0);  // scripts/setup.sh installs rsyslog
    vigil::test::Agent agent("fanotify", "", false);
    const std::string d = agent.dir.path();
    vigil::test::make_dirs(d + "/spool");
    // The example with its paths moved here, after what Debian's rsyslog.conf sets up.
    std::string example = vigil::test::read_file(VIGIL_SOURCE_DIR "/docs/examples/rsyslog-vigil.conf");
    example = replace_all(example, "/var/log/vigil/", d + "/");
    example = replace_all(example, "/run/vigil/", d + "/");
    vigil::test::write_file(
        d + "/rsyslog.conf",
        "global(workDirectory=\"" + d + "/spool\")\nmodule(load=\"imuxsock\" SysSock.Use=\"off\")\n" + example);
    const auto check = vigil::test::run_program("/usr/sbin/rsyslogd", {"-N1", "-f", d + "/rsyslog.conf"});
    INFO(check.out + check.err);
    REQUIRE(check.exit_code == 0);
    vigil::test::BackgroundProcess rsyslogd("/usr/sbin/rsyslogd",
                                            {"-n", "-f", d + "/rsyslog.conf", "-i", d + "/rsyslogd.pid"});
    struct stat st {};
    for (int i = 0; i < 100 && ::stat((d + "/syslog.sock").c_str(), &st) != 0; ++i) ::usleep(50 * 1000);
    REQUIRE(S_ISSOCK(st.st_mode));

    const std::string text = vigil::test::read_file(agent.policy);
    vigil::test::write_file(agent.policy, R"({"output": {"jsonl": {"path": ")" + d + R"(/events.jsonl"},
        "syslog": {"socket": ")" + d + R"(/syslog.sock", "facility": "local3"}},)" +
                                              text.substr(1));
    agent.start();
    const std::string hostile = agent.root + "/a]b\"c\nd\\e \xff.txt";
    vigil::test::write_file(hostile, "x\n");
    for (int i = 0; i < 30; ++i) vigil::test::write_file(agent.root + "/f" + std::to_string(i), "f\n");
    REQUIRE(agent.wait_for("modify", agent.root + "/f29"));
    const auto rows = agent.stop();

    const auto written = lines_of(d + "/events.jsonl");
    REQUIRE(written.size() == rows.size());
    std::vector<std::string> shipped;
    std::vector<std::string> sd;
    for (int i = 0; i < 200; ++i) {
        shipped = lines_of(d + "/shipped.jsonl");
        sd = lines_of(d + "/syslog-events.txt");
        if (shipped.size() >= written.size() && sd.size() >= rows.size()) break;
        ::usleep(100 * 1000);
    }
    rsyslogd.signal(SIGTERM);
    rsyslogd.wait();
    INFO(rsyslogd.output());

    // imfile: every line, byte for byte.
    auto sorted = [](std::vector<std::string> v) {
        std::sort(v.begin(), v.end());
        return v;
    };
    CHECK(sorted(shipped) == sorted(written));

    // imuxsock + mmpstrucdata: one message per row, the SD params rsyslog parsed are the
    // JSON line's values (after its RFC 5424 unescaping).
    REQUIRE(sd.size() == rows.size());
    std::set<std::string> ids;
    bool saw_hostile = false;
    for (const auto& line : sd) {
        const auto first = line.find(' ');
        const auto second = line.find(' ', first + 1);
        const int pri = std::stoi(line.substr(0, first));
        const std::string msgid = line.substr(first + 1, second - first - 1);
        const auto j = nlohmann::json::parse(line.substr(second + 1), nullptr, false);
        INFO(line);
        REQUIRE(j.is_object());
        const auto& p = j["vigil@32473"];
        REQUIRE(p.is_object());
        CHECK(p["action"] == msgid);
        CHECK(pri / 8 == 19);
        ids.insert(p["id"].get<std::string>());
        if (p.contains("path") && p["path"] == vigil::escape_bytes(hostile)) {
            saw_hostile = true;
            CHECK(pri % 8 == 4);  // the rule's medium
        }
    }
    CHECK(saw_hostile);
    CHECK(ids.size() == rows.size());
    for (const auto& r : rows) CHECK(ids.count(*r.at("id")) == 1);
}
