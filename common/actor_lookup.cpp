#include "common/actor_lookup.h"

namespace vigil {
namespace {

struct Columns {
    std::string from;  // FROM events with the index (INDEXED BY: never a scan), WHERE its condition
    const char* id;
    const char* name;
};

Columns columns_of(ActorColumn c) {
    if (c == ActorColumn::User) return {"events e INDEXED BY events_uid_user_time WHERE 1", "e.uid", "e.user"};
    return {std::string("events e INDEXED BY events_auid_login_time WHERE ") + kLoginIndexCondition, "e.auid",
            "e.login_user"};
}

}  // namespace

Result<std::vector<std::optional<std::string>>> names_of(db::Database& db, ActorColumn column, std::int64_t id) {
    const Columns c = columns_of(column);
    const std::string base = std::string("SELECT ") + c.name + " FROM " + c.from + " AND " + c.id + " = :id";
    auto null_name = db.prepare(base + " AND " + c.name + " IS NULL LIMIT 1");
    auto first = db.prepare(base + " AND " + c.name + " IS NOT NULL ORDER BY " + c.name + " LIMIT 1");
    auto next = db.prepare(base + " AND " + c.name + " > :prev ORDER BY " + c.name + " LIMIT 1");
    if (!null_name) return null_name.error();
    if (!first) return first.error();
    if (!next) return next.error();
    std::vector<std::optional<std::string>> out;
    VIGIL_TRY(null_name->bind_int(":id", id));
    auto has_null = null_name->step();
    if (!has_null) return has_null.error();
    if (has_null.value()) out.emplace_back();
    VIGIL_TRY(first->bind_int(":id", id));
    db::Stmt* st = &first.value();
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        std::string name = st->col_blob(0);
        next->reset();
        VIGIL_TRY(next->bind_int(":id", id));
        VIGIL_TRY(next->bind_text(":prev", name));
        out.emplace_back(std::move(name));
        st = &next.value();
    }
    return out;
}

Result<std::vector<std::optional<std::int64_t>>> ids_of(db::Database& db, ActorColumn column, const std::string& name) {
    const Columns c = columns_of(column);
    const std::string from = " FROM " + c.from;
    // Every distinct id, in index order, and whether it was recorded with the name.
    auto first = db.prepare(std::string("SELECT ") + c.id + from + " AND " + c.id + " IS NOT NULL ORDER BY " + c.id +
                            " LIMIT 1");
    auto next =
        db.prepare(std::string("SELECT ") + c.id + from + " AND " + c.id + " > :prev ORDER BY " + c.id + " LIMIT 1");
    auto has =
        db.prepare(std::string("SELECT 1") + from + " AND " + c.id + " IS :id AND " + c.name + " = :name LIMIT 1");
    if (!first) return first.error();
    if (!next) return next.error();
    if (!has) return has.error();
    std::vector<std::optional<std::int64_t>> out;
    auto check = [&](std::optional<std::int64_t> id) -> Result<void> {
        has->reset();
        VIGIL_TRY(has->bind_opt_int(":id", id));
        VIGIL_TRY(has->bind_text(":name", name));
        auto row = has->step();
        if (!row) return row.error();
        if (row.value()) out.push_back(id);
        return {};
    };
    if (column == ActorColumn::User) VIGIL_TRY(check(std::nullopt));  // the login index holds no NULL auid
    db::Stmt* st = &first.value();
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!row.value()) break;
        const std::int64_t id = st->col_int(0);
        next->reset();
        VIGIL_TRY(next->bind_int(":prev", id));
        VIGIL_TRY(check(id));
        st = &next.value();
    }
    return out;
}

}  // namespace vigil
