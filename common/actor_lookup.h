// Which names an id had and which ids a name had, as recorded in the event log. Read off
// the indexes on (uid, user, time_ns) and (auid, login_user, time_ns) (schema/004) by
// skip-scan: one index seek per distinct value, never a scan of events. A user deleted
// since (getpwnam no longer knows the name) is still found by name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/db/sqlite.h"

namespace vigil {

enum class ActorColumn {
    User,       // uid and user, every row
    LoginUser,  // auid and login_user, rows where they differ from uid and user
};

// The names (NULL included) recorded with `id`.
Result<std::vector<std::optional<std::string>>> names_of(db::Database& db, ActorColumn column, std::int64_t id);

// The ids (NULL included) recorded with `name`.
Result<std::vector<std::optional<std::int64_t>>> ids_of(db::Database& db, ActorColumn column, const std::string& name);

// The condition a query must state for SQLite to use the partial login index.
inline constexpr const char* kLoginIndexCondition =
    "e.auid IS NOT NULL AND (e.auid IS NOT e.uid OR e.login_user IS NOT e.user)";

}  // namespace vigil
