#include "common/escape.h"

#include <array>
#include <cstdint>
#include <cstring>

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
// result holds no control bytes, so nothing else needs JSON escaping). Writes through a
// pointer with room for kEscapedMaxPerByte bytes per input byte: no capacity check per
// byte, which a million-row query otherwise pays on every one.
template <bool Json>
char* write_escaped_impl(char* p, std::string_view raw) {
    auto slash = [&p] {  // one backslash of the escaped text
        *p++ = '\\';
        if (Json) *p++ = '\\';
    };
    auto byte_escape = [&](unsigned char b) {
        slash();
        *p++ = 'x';
        *p++ = kHex[b >> 4U];
        *p++ = kHex[b & 0xfU];
    };
    const std::size_t n = raw.size();
    for (std::size_t i = 0; i < n;) {
        const auto b = static_cast<unsigned char>(raw[i]);
        // Most paths are plain ASCII.
        if (b >= 0x20 && b < 0x7f && b != '\\' && (!Json || b != '"')) {
            *p++ = static_cast<char>(b);
            ++i;
        } else if (b == '\\') {
            slash();
            slash();
            ++i;
        } else if (b == '"') {
            *p++ = '\\';
            *p++ = '"';
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
                slash();
                *p++ = 'u';
                for (int shift = 12; shift >= 0; shift -= 4) *p++ = kHex[(cp >> shift) & 0xfU];
                i += len;
            } else {
                std::memcpy(p, raw.data() + i, len);
                p += len;
                i += len;
            }
        }
    }
    return p;
}

// The length of the prefix of `raw` that escaping leaves as it is.
template <bool Json>
std::size_t plain_prefix(std::string_view raw) {
    std::size_t i = 0;
    for (; i < raw.size(); ++i) {
        const auto b = static_cast<unsigned char>(raw[i]);
        if (b < 0x20 || b >= 0x7f || b == '\\' || (Json && b == '"')) break;
    }
    return i;
}

// Most names need no escape: they are appended as they are, without sizing the
// output for the worst case first.
template <bool Json>
void append_escaped_impl(std::string& out, std::string_view raw) {
    const std::size_t plain = plain_prefix<Json>(raw);
    out.append(raw.data(), plain);
    if (plain == raw.size()) return;
    raw.remove_prefix(plain);
    const std::size_t old = out.size();
    out.resize(old + kEscapedMaxPerByte * raw.size());
    char* end = write_escaped_impl<Json>(out.data() + old, raw);
    out.resize(static_cast<std::size_t>(end - out.data()));
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

char* write_escaped(char* p, std::string_view raw) { return write_escaped_impl<false>(p, raw); }

char* write_json_escaped(char* p, std::string_view raw) { return write_escaped_impl<true>(p, raw); }

void append_hex(std::string& out, std::string_view bytes) {
    const std::size_t old = out.size();
    out.resize(old + 2 * bytes.size());
    write_hex(out.data() + old, bytes);
}

char* write_hex(char* p, std::string_view bytes) {
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        *p++ = kHex[b >> 4U];
        *p++ = kHex[b & 0xfU];
    }
    return p;
}

}  // namespace vigil
