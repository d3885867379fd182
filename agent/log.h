// Logging of vigild: one line per message on stderr (journald adds its own timestamp when
// run under systemd; we add ours for foreground use). Messages are escaped by the caller.
#pragma once

#include <string_view>

namespace vigil::agent {

enum class LogLevel { Info, Warning, Error };
void log(LogLevel level, std::string_view message);
inline void log_info(std::string_view m) { log(LogLevel::Info, m); }
inline void log_warning(std::string_view m) { log(LogLevel::Warning, m); }
inline void log_error(std::string_view m) { log(LogLevel::Error, m); }

}  // namespace vigil::agent
