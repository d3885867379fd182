// The HTML report in a real browser: Debian's headless Chromium (installed by
// scripts/setup.sh) renders it to a PNG without a single console message. A broken page
// run through the same harness must produce one, so the check itself can fail.
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace {

constexpr const char* kChromium = "/usr/bin/chromium";

vigil::test::RunResult render(const vigil::test::TempDir& dir, const std::string& html, const std::string& png) {
    return vigil::test::run_program(
        kChromium,
        {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--user-data-dir=" + dir / ("profile-" + std::to_string(png.size())), "--enable-logging=stderr", "--v=0",
         "--window-size=1280,1600", "--screenshot=" + png, "file://" + html},
        {.uid = std::nullopt, .gid = std::nullopt, .env = {}, .timeout_seconds = 120});
}

bool is_png(const std::string& path) {
    const std::string bytes = vigil::test::read_file(path);
    return bytes.size() > 1000 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

}  // namespace

TEST_CASE("the HTML report renders in headless Chromium without console errors", "[e2e][report][browser]") {
    REQUIRE(::access(kChromium, X_OK) == 0);  // scripts/setup.sh installs Debian's chromium
    vigil::test::TempDir dir;
    const std::string root = dir / "tree";
    vigil::test::make_dirs(root);
    vigil::test::write_file(root + "/a <b>&\"c\".conf", "v1\n");  // markup in a name must stay text
    const std::string db = dir / "db/vigil.db";
    const std::string policy = vigil::test::write_policy(dir, root);
    REQUIRE(vigil::test::run_vigil({"init", "--policy", policy, "--db", db}).exit_code == 0);
    vigil::test::write_file(root + "/a <b>&\"c\".conf", "v2\n");
    const std::string html = dir / "report.html";
    auto r = vigil::test::run_vigil({"report", "--policy", policy, "--db", db, "--format", "html", "--output", html});
    REQUIRE(r.exit_code == 4);
    const std::string page = vigil::test::read_file(html);
    CHECK_THAT(page, Catch::Contains("a &lt;b&gt;&amp;&quot;c&quot;.conf"));
    ::chmod(dir.path().c_str(), 0755);

    const std::string png = dir / "report.png";
    auto shot = render(dir, html, png);
    INFO(shot.err);
    CHECK(shot.exit_code == 0);
    CHECK(is_png(png));
    CHECK(shot.err.find(":CONSOLE") == std::string::npos);

    // Negative control: the same harness sees a page's console error.
    const std::string broken = dir / "broken.html";
    vigil::test::write_file(broken, "<!DOCTYPE html><html><body>x<script>undefinedFunction();</script></body></html>");
    auto bad = render(dir, broken, dir / "broken-page.png");
    CHECK(bad.err.find(":CONSOLE") != std::string::npos);
}
