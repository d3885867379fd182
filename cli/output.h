// Writing reports and messages: every write checked, so a full disk or a closed pipe
// becomes an exit code instead of a silently truncated report.
#pragma once

#include <string_view>

namespace vigil::cli {

bool write_stdout(std::string_view text);
void print_error(std::string_view message);    // "vigil: error: ..." on stderr
void print_warning(std::string_view message);  // "vigil: warning: ..." on stderr
bool stdout_wants_color();                     // a terminal, and NO_COLOR unset

}  // namespace vigil::cli
