// Extended attributes: reading every readable namespace (user, trusted, security,
// system.posix_acl_*) and a canonical, length-prefixed encoding that round-trips any
// bytes (names with ',' '=' or '\n', empty values, binary values: AIDE CVE-2025-54409).
//
// Encoding, sorted by name: for each attribute
//   u32 name length (LE) | name bytes | u32 value length (LE) | value bytes
// Decoding is bounded and rejects anything malformed instead of trusting lengths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace vigil {

using XattrList = std::vector<std::pair<std::string, std::string>>;  // sorted by name

// Reads every attribute of the open fd (a regular file or directory).
Result<XattrList> read_xattrs_fd(int fd, std::string_view what);

std::string encode_xattrs(const XattrList& list);
Result<XattrList> decode_xattrs(std::string_view blob);

// Which comparison attribute an xattr belongs to: "acl", "caps" or "xattrs".
std::string_view xattr_group(std::string_view name);

// The subset of `list` in one group, encoded canonically (for comparisons).
std::string xattr_group_blob(const XattrList& list, std::string_view group);

}  // namespace vigil
