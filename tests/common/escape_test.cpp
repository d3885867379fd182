#include "common/escape.h"

#include <catch2/catch.hpp>

using vigil::escape_bytes;

TEST_CASE("printable ASCII and valid UTF-8 pass through", "[unit][escape]") {
    CHECK(escape_bytes("/etc/passwd") == "/etc/passwd");
    CHECK(escape_bytes("/srv/Víctor/日本") == "/srv/Víctor/日本");
}

TEST_CASE("control bytes, DEL and backslash are escaped", "[unit][escape]") {
    CHECK(escape_bytes("a\nb") == "a\\x0ab");
    CHECK(escape_bytes("a\tb\rc") == "a\\x09b\\x0dc");
    CHECK(escape_bytes("\x1b[2J") == "\\x1b[2J");
    CHECK(escape_bytes("x\x7fy") == "x\\x7fy");
    CHECK(escape_bytes("back\\slash") == "back\\\\slash");
    CHECK(escape_bytes(std::string_view("nul\0byte", 8)) == "nul\\x00byte");
}

TEST_CASE("invalid UTF-8 is escaped byte by byte", "[unit][escape]") {
    CHECK(escape_bytes("\xff") == "\\xff");
    CHECK(escape_bytes("V\xed"
                       "ctor") == "V\\xedctor");                        // ISO-8859-1
    CHECK(escape_bytes("\xc0\xaf") == "\\xc0\\xaf");                    // overlong '/'
    CHECK(escape_bytes("\xed\xa0\x80") == "\\xed\\xa0\\x80");           // lone surrogate
    CHECK(escape_bytes("\xe6\x97") == "\\xe6\\x97");                    // truncated sequence
    CHECK(escape_bytes("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
}

TEST_CASE("code points that make text lie are escaped", "[unit][escape]") {
    CHECK(escape_bytes("evil\u202Etxt.exe") == "evil\\u202etxt.exe");  // RTL override
    CHECK(escape_bytes("zero\u200Bwidth") == "zero\\u200bwidth");
    CHECK(escape_bytes("c1\u009Bcsi") == "c1\\u009bcsi");
    CHECK(escape_bytes("/etc/pаsswd") == "/etc/pаsswd");  // Cyrillic а stays: visible, distinct bytes
}

TEST_CASE("escaping is injective on tricky inputs", "[unit][escape]") {
    // A literal backslash-x sequence must not print like the byte it spells.
    CHECK(escape_bytes("\\x0a") != escape_bytes("\n"));
    CHECK(escape_bytes("\\x0a") == "\\\\x0a");
}

TEST_CASE("to_hex", "[unit][escape]") { CHECK(vigil::to_hex(std::string_view("\x00\xff\x10", 3)) == "00ff10"); }
