// Fuzz target: the decoder of the xattr blob stored in baseline rows (R6: "DB rows,
// xattrs/ACLs"; AIDE CVE-2025-54409 crashed on its own re-read encoding). A row is
// attacker-reachable for whoever can write the database file: decoding must fail cleanly,
// and whatever decodes must encode back to the same bytes (one encoding per list).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/xattrs.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view blob(reinterpret_cast<const char*>(data), size);
    auto list = vigil::decode_xattrs(blob);
    if (!list) return 0;
    const std::string again = vigil::encode_xattrs(list.value());
    auto round = vigil::decode_xattrs(again);
    if (again != blob) __builtin_trap();  // the encoding is canonical: nothing else decodes
    if (!round || round.value() != list.value()) __builtin_trap();
    (void)vigil::xattr_group(list->empty() ? std::string_view() : std::string_view(list->front().first));
    return 0;
}
