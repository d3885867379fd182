// Moved out of tests/agent/disk_full_test.cpp (needs its SmallTmpfs, fill and integrity helpers).
// See tests/pending/README.md.

TEST_CASE("past its memory bound under a full disk the agent counts what it lost, then repairs it",
          "[kernel][root][agent]") {
    REQUIRE(vigil::test::running_as_root());
    vigil::test::Agent agent("fanotify", "", false);
    std::string text = vigil::test::read_file(agent.policy);
    text.insert(1, R"("limits":{"queue_memory_mb":16},)");
    vigil::test::write_file(agent.policy, text);
    ::chmod(agent.policy.c_str(), 0644);
    const std::string state = agent.dir / "state";
    const SmallTmpfs fs(state, "8m");
    agent.start();

    const std::string filler = state + "/filler";
    REQUIRE(fill(filler) > 0);
    // ~60,000 events (a create and a write each): far more than 16 MiB of queued events.
    constexpr int kFiles = 30'000;
    vigil::test::make_dirs(agent.root + "/burst");
    for (int i = 0; i < kFiles; ++i) vigil::test::write_file(agent.root + "/burst/f" + std::to_string(i), "d\n");
    REQUIRE(agent.proc->wait_for_output("retrying", 30));

    REQUIRE(::unlink(filler.c_str()) == 0);
    // The count of what was lost is recorded, and the rescan finds every file.
    auto missing_in = [&](const std::vector<vigil::test::Row>& rows) {
        std::set<std::string> seen;
        for (const auto& r : rows)
            if (r.at("path") && (r.at("action") == "create" || r.at("action") == "modify")) seen.insert(*r.at("path"));
        int missing = 0;
        for (int i = 0; i < kFiles; ++i) missing += seen.count(agent.root + "/burst/f" + std::to_string(i)) ? 0 : 1;
        return missing;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    while (missing_in(vigil::test::read_events(agent.db)) != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto rows = agent.stop();
    std::uint64_t lost = 0;
    bool rescanned = false;
    for (const auto& r : rows) {
        rescanned = rescanned || r.at("action") == "rescan";
        if (r.at("action") != "overflow") continue;
        INFO(r.at("detail").value_or(""));
        const auto detail = r.at("detail").value_or("");
        CHECK_THAT(detail, Catch::Contains("\"first_lost\"") && Catch::Contains("\"last_lost\""));
        const auto at = detail.find("\"lost\":");
        REQUIRE(at != std::string::npos);
        lost += std::stoull(detail.substr(at + 7));
    }
    CHECK(lost > 0);
    CHECK(rescanned);
    const int missing = missing_in(rows);
    CHECK(missing == 0);  // by its own row, or found by the rescan (source scan)
    CHECK(integrity(agent.db) == "ok");
    auto verify = vigil::test::run_vigil({"verify", "--db", agent.db, "--key-file", agent.db + ".verification-key"});
    INFO(verify.out << verify.err);
    CHECK(verify.exit_code == 0);
}
