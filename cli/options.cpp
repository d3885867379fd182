#include "cli/options.h"

#include <algorithm>
#include <charconv>

#include "common/escape.h"

namespace vigil::cli {

Result<Options> parse_options(const std::vector<std::string>& args, const std::vector<std::string>& allowed) {
    Options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "-h" || arg == "--help") {
            o.help = true;
            continue;
        }
        if (arg.rfind("--", 0) != 0 || arg == "--") {
            o.positional.push_back(arg);
            continue;
        }
        std::string name = arg.substr(2);
        std::optional<std::string> value;
        if (const auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        }
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
            return Error::msg("unknown option --" + escape_bytes(name));
        if (name == "unexpected" || name == "reverse" || name == "dry-run") {  // flags: no value
            if (value) return Error::msg("option --" + name + " takes no value");
            (name == "unexpected" ? o.unexpected : name == "reverse" ? o.reverse : o.dry_run) = true;
            continue;
        }
        if (!value) {
            if (i + 1 >= args.size()) return Error::msg("option --" + name + " needs a value");
            value = args[++i];
        }
        if (name == "policy") {
            if (value->empty()) return Error::msg("--policy needs a file name");
            o.policy = *value;
        } else if (name == "older-than") {
            if (value->empty()) return Error::msg("--older-than needs a duration (90d) or a date");
            o.older_than = *value;
        } else if (name == "db") {
            if (value->empty()) return Error::msg("--db needs a file name");
            o.db = *value;
        } else if (name == "format") {
            o.format = *value;
            o.format_given = true;
        } else if (name == "path") {
            o.path = *value;
        } else if (name == "under") {
            o.under = *value;
        } else if (name == "user") {
            o.user = *value;
        } else if (name == "action") {
            o.action = *value;
        } else if (name == "label") {
            o.label = *value;
        } else if (name == "since") {
            o.since = *value;
        } else if (name == "until") {
            o.until = *value;
        } else if (name == "limit") {
            o.limit = *value;
        } else if (name == "output") {
            if (value->empty()) return Error::msg("--output needs a file name");
            o.output = *value;
        } else if (name == "key-file") {
            if (value->empty()) return Error::msg("--key-file needs a file name");
            o.key_file = *value;
        } else if (name == "checkpoints") {
            if (value->empty()) return Error::msg("--checkpoints needs a file name");
            o.checkpoints = *value;
        } else if (name == "threads") {
            unsigned n = 0;
            const auto [p, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
            if (ec != std::errc() || p != value->data() + value->size() || n == 0 || n > 256)
                return Error::msg("--threads needs a number from 1 to 256");
            o.threads = n;
        }
    }
    return o;
}

}  // namespace vigil::cli
