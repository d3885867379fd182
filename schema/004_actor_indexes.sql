-- 004: the actor filter (`vigil query --user`) with fewer, smaller indexes. Every insert
-- paid for all 11 indexes of events; these 9 serve the same questions, and two of them
-- hold only the rare rows where an effective or login uid differs from the uid.
--
-- Names: `user` and `login_user` are the names of `uid` and `auid` when the event
-- happened (common/actor.cpp resolves them from the ids). With the name after the id in
-- one index, a name is found by visiting each distinct id once (common/actor_lookup.cpp)
-- and the rows of one (id, name) come out in time order: no index on names alone.
DROP INDEX events_user_time;
DROP INDEX events_login_user_time;
DROP INDEX events_uid_time;
CREATE INDEX events_uid_user_time ON events (uid, user, time_ns);

-- Effective and login uid: almost always the uid itself (setuid programs and sudo differ;
-- daemons have no login uid). A row whose euid (auid, login_user) equals its uid (user)
-- is found through events_uid_user_time already; only the others are indexed here.
DROP INDEX events_euid_time;
DROP INDEX events_auid_time;
CREATE INDEX events_euid_time ON events (euid, time_ns) WHERE euid IS NOT uid;
CREATE INDEX events_auid_login_time ON events (auid, login_user, time_ns)
    WHERE auid IS NOT NULL AND (auid IS NOT uid OR login_user IS NOT user);
