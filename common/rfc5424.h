// Events as RFC 5424 syslog messages, for the agent's syslog output (agent/syslog_sink.h):
//
//   <PRI>1 TIMESTAMP HOSTNAME vigild PROCID ACTION [vigil@32473 id="…" path="…" …] MSG
//
// PRI = facility * 8 + the severity mapped from the event's (syslog_severity()). The
// structured data carries the same fields as a line of `vigil query --format jsonl`;
// each byte string is first escaped with escape_bytes() (common/escape.h), so it is
// printable UTF-8 whatever the file name holds, and then escaped as RFC 5424 §6.3.3
// asks ('"', '\' and ']' behind a backslash). A reader undoes the RFC escaping and gets
// exactly the jsonl's text. 32473 is the private enterprise number RFC 5612 reserves for
// documentation: the SD-ID is fixed, nothing in the policy changes it.
//
// A message never exceeds `max_bytes`: the MSG (a human summary) is cut first; if the
// structured data alone would not fit, the longest byte strings are cut on a whole
// escape sequence (never inside "\xNN") and named in a `truncated` parameter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/event_view.h"
#include "common/policy.h"

namespace vigil {

inline constexpr std::string_view kSyslogSdId = "vigil@32473";

struct SyslogIdentity {
    int facility = 16;     // local0
    std::string hostname;  // as gethostname() gave it; made printable here
    std::string app_name = "vigild";
    std::int64_t procid = 0;
};

// The Vigil severity an event counts as for syslog: the rule's, or for events without
// one (agent-level rows) medium for overflow/denied/alert and info for the rest.
Severity effective_severity(const EventView& e);
// RFC 5424 severity (0 emergency .. 7 debug): critical 2, high 3, medium 4, low 5, info 6.
int syslog_severity(Severity s);

std::string format_rfc5424(const EventView& e, const SyslogIdentity& who, std::size_t max_bytes);

// The longest prefix of `escaped` (escape_bytes() output) made of whole characters and
// escape sequences whose RFC 5424 escaping takes at most `budget` bytes.
std::string_view cut_escaped(std::string_view escaped, std::size_t budget);

}  // namespace vigil
