#include "common/escape.h"

#include <array>
#include <cstdint>

namespace vigil {
namespace {

constexpr std::array<char, 16> kHex = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

// Code points that are valid UTF-8 but must not reach a terminal or a reader as-is.
bool is_deceptive(std::uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9f)         // C1 controls (CSI, OSC as one code point)
           || (cp >= 0x200b && cp <= 0x200f)  // zero-width space/joiners, LRM/RLM
           || (cp >= 0x2028 && cp <= 0x202e)  // line/paragraph separators, bidi embeddings
           || (cp >= 0x2060 && cp <= 0x2069)  // word joiner, bidi isolates
           || cp == 0xfeff;                   // zero-width no-break space (BOM)
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 if there is none. Stores the code point in `cp`.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& cp) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t min = 0;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2, min = 0x80, cp = b0 & 0x1fU;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3, min = 0x800, cp = b0 & 0x0fU;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4, min = 0x10000, cp = b0 & 0x07U;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xc0U) != 0x80U) return 0;
        cp = (cp << 6U) | (b & 0x3fU);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

// One pass for both outputs: `Json` writes each backslash of the escaped text as two
// and a quote as \", which is what a JSON encoder makes of escape_bytes()'s result (that
// result holds no control bytes, so nothing else needs JSON escaping).
template <bool Json>
void append_escaped_impl(std::string& out, std::string_view raw) {
    const std::string_view slash = Json ? "\\\\" : "\\";  // one backslash of the escaped text
    auto byte_escape = [&](unsigned char b) {
        out += slash;
        out += 'x';
        out += kHex[b >> 4U];
        out += kHex[b & 0xfU];
    };
    const std::size_t n = raw.size();
    for (std::size_t i = 0; i < n;) {
        // Most paths are plain ASCII: copy runs of it in one append.
        std::size_t run = i;
        while (run < n) {
            const auto c = static_cast<unsigned char>(raw[run]);
            if (c < 0x20 || c >= 0x7f || c == '\\' || (Json && c == '"')) break;
            ++run;
        }
        out.append(raw.data() + i, run - i);
        i = run;
        if (i == n) break;
        const auto b = static_cast<unsigned char>(raw[i]);
        if (b == '\\') {
            out += slash;
            out += slash;
            ++i;
        } else if (b == '"') {
            out += "\\\"";
            ++i;
        } else if (b < 0x80) {  // control bytes and DEL
            byte_escape(b);
            ++i;
        } else {
            std::uint32_t cp = 0;
            const std::size_t len = utf8_sequence(raw, i, cp);
            if (len == 0) {
                byte_escape(b);
                ++i;
            } else if (is_deceptive(cp)) {
                out += slash;
                out += 'u';
                for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xfU];
                i += len;
            } else {
                out.append(raw.substr(i, len));
                i += len;
            }
        }
    }
}

}  // namespace

std::string escape_bytes(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    append_escaped_impl<false>(out, raw);
    return out;
}

void append_escaped(std::string& out, std::string_view raw) { append_escaped_impl<false>(out, raw); }

void append_json_escaped(std::string& out, std::string_view raw) { append_escaped_impl<true>(out, raw); }

std::string to_hex(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    append_hex(out, bytes);
    return out;
}

void append_hex(std::string& out, std::string_view bytes) {
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += kHex[b >> 4U];
        out += kHex[b & 0xfU];
    }
}

}  // namespace vigil
