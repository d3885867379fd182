-- 003: indexes for the auditor's questions (vigil query, vigil history, vigil report).
-- Each filter of `vigil query` is served by one of these; tests/cli/query_plan_test.cpp
-- checks with EXPLAIN QUERY PLAN that none becomes a full scan of `events`.
CREATE INDEX events_old_path_time ON events (old_path, time_ns) WHERE old_path IS NOT NULL;
CREATE INDEX events_uid_time ON events (uid, time_ns);
CREATE INDEX events_euid_time ON events (euid, time_ns);
CREATE INDEX events_auid_time ON events (auid, time_ns);
CREATE INDEX events_user_time ON events (user, time_ns);
CREATE INDEX events_login_user_time ON events (login_user, time_ns);
CREATE INDEX events_action_time ON events (action, time_ns);
CREATE INDEX events_label_time ON events (label, time_ns);
CREATE INDEX events_unexpected_time ON events (time_ns) WHERE unexpected = 1;
