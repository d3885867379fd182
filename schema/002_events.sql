-- 002: the event log. Append-only: rows are never updated. Unknown values are NULL,
-- never guessed (an inotify event has no actor; a process that exited has no exe).
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    time_ns       INTEGER NOT NULL,              -- CLOCK_REALTIME, nanoseconds
    action        TEXT    NOT NULL,              -- open, read, modify, create, delete, rename, attrib,
                                                 -- denied, alert, overflow, rescan, baseline_update,
                                                 -- agent_start, agent_stop
    source        TEXT    NOT NULL,              -- fanotify, inotify, audit, scan, cli
    path          BLOB,
    old_path      BLOB,                          -- rename: the previous name
    uid           INTEGER,
    euid          INTEGER,
    gid           INTEGER,
    auid          INTEGER,
    user          TEXT,
    login_user    TEXT,
    pid           INTEGER,
    ppid          INTEGER,
    exe           BLOB,
    comm          BLOB,
    cmdline       BLOB,
    label         TEXT,
    severity      TEXT,
    sha256_before BLOB,
    sha256_after  BLOB,
    unexpected    INTEGER NOT NULL DEFAULT 0,
    detail        TEXT                           -- free text: counts, reasons (JSON object)
) STRICT;

CREATE INDEX events_time ON events (time_ns);
CREATE INDEX events_path_time ON events (path, time_ns);
