// Escaping of raw bytes (file names, symlink targets, xattr values) for every output.
//
// Linux paths are bytes, not text. Everything Vigil prints goes through escape_bytes():
// control bytes, DEL and bytes that are not valid UTF-8 become \xNN, a backslash becomes
// \\, and code points that make text lie visually (bidi overrides, zero-width and C1
// controls) become \uNNNN. The same file therefore always prints the same way, two
// distinct names never print identically, and nothing reaches a terminal raw.
// The result is valid UTF-8, so it can go into JSON unchanged.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vigil {

std::string escape_bytes(std::string_view raw);
void append_escaped(std::string& out, std::string_view raw);  // escape_bytes(raw), appended

// escape_bytes(raw) as the inside of a JSON string (its backslashes doubled, quotes as
// \"), appended in one pass: the bytes a JSON writer would print for escape_bytes(raw).
void append_json_escaped(std::string& out, std::string_view raw);

// Lowercase hex of arbitrary bytes.
std::string to_hex(std::string_view bytes);
void append_hex(std::string& out, std::string_view bytes);

// The same, written at `p` for writers that size a whole row once (common/event_format.cpp);
// each returns the end of what it wrote. Room needed: kEscapedMaxPerByte bytes per input
// byte for the escapes (an invalid byte as JSON: \\xNN), 2 per byte for hex.
inline constexpr std::size_t kEscapedMaxPerByte = 5;
char* write_escaped(char* p, std::string_view raw);       // escape_bytes(raw)
char* write_json_escaped(char* p, std::string_view raw);  // as append_json_escaped
char* write_hex(char* p, std::string_view bytes);

}  // namespace vigil
