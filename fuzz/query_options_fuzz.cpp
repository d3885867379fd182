// Fuzz target: the command-line parser with the options of `vigil query` (the one with the
// most), then the WHEN parser on what --since/--until received, as run_query does. The
// input is an argv: arguments separated by NUL bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cli/options.h"
#include "common/time_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> args;
    std::size_t start = 0;
    while (start <= all.size() && args.size() < 64) {
        const auto nul = all.find('\0', start);
        args.emplace_back(all.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start));
        if (nul == std::string_view::npos) break;
        start = nul + 1;
    }
    static const std::vector<std::string> kQuery = {"db",         "path",  "under", "user",  "action",  "label",
                                                    "unexpected", "since", "until", "limit", "reverse", "format"};
    static const std::vector<std::string> kAll = {"policy", "db",       "format",      "threads", "since",
                                                  "output", "key-file", "checkpoints", "path",    "under"};
    for (const auto* allowed : {&kQuery, &kAll}) {
        auto opts = vigil::cli::parse_options(args, *allowed);
        if (!opts) continue;
        if (opts->threads > 256) __builtin_trap();
        if (opts->since) (void)vigil::parse_when(*opts->since, 1'795'000'000'000'000'000);
        if (opts->until) (void)vigil::parse_when(*opts->until, 1'795'000'000'000'000'000);
    }
    return 0;
}
