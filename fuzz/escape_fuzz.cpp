// Fuzz target: the escaper every printed name goes through (R5). Checks its promises, not
// only its memory safety: the output never holds a control byte, is valid UTF-8 that JSON
// accepts, the JSON form is exactly the JSON string of the text form, and two different
// names never print the same.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/escape.h"

namespace {

[[noreturn]] void fail() { __builtin_trap(); }

void check_one(std::string_view raw) {
    const std::string text = vigil::escape_bytes(raw);
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) fail();
    }
    std::string json;
    vigil::append_json_escaped(json, raw);
    // Throws (and the fuzzer reports it) if the text is not valid UTF-8 or not escaped.
    const auto parsed = nlohmann::json::parse("\"" + json + "\"");
    if (parsed.get<std::string>() != text) fail();
    std::string appended = "prefix";
    vigil::append_escaped(appended, raw);
    if (appended != "prefix" + text) fail();
    const std::string hex = vigil::to_hex(raw);
    if (hex.size() != raw.size() * 2) fail();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    check_one(all);
    // Injectivity: split the input in two names; equal prints mean equal names.
    const std::string_view a = all.substr(0, size / 2);
    const std::string_view b = all.substr(size / 2);
    if (a != b && vigil::escape_bytes(a) == vigil::escape_bytes(b)) fail();
    return 0;
}
