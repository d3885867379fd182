-- 001: the baseline. Paths are raw bytes (BLOB): Linux names need not be UTF-8.
-- The whole baseline is replaced in one transaction, so `files` always holds exactly the
-- entries of the newest row of `baselines`: a crash leaves the previous one intact.

-- One row per accepted baseline (vigil init, vigil update), never deleted: the history of
-- who accepted which state of the system.
CREATE TABLE baselines (
    id            INTEGER PRIMARY KEY,
    created_ns    INTEGER NOT NULL,              -- CLOCK_REALTIME, nanoseconds
    kind          TEXT    NOT NULL CHECK (kind IN ('init', 'update')),
    policy_source TEXT    NOT NULL,              -- file path, or '(embedded default)'
    policy_sha256 TEXT    NOT NULL,              -- hex digest of the policy text
    policy_text   TEXT    NOT NULL,              -- the policy itself, so a check can say what changed
    entries       INTEGER NOT NULL,
    errors        INTEGER NOT NULL,              -- entries recorded with an error (unreadable, ...)
    uid           INTEGER,                       -- who accepted it; NULL when unknown
    auid          INTEGER,                       -- login uid (survives sudo); NULL when unset
    user          TEXT,
    login_user    TEXT,
    hostname      TEXT
) STRICT;

CREATE TABLE files (
    path        BLOB    PRIMARY KEY,
    baseline_id INTEGER NOT NULL REFERENCES baselines(id),
    rule        INTEGER NOT NULL,                -- index of the policy rule (0-based)
    type        INTEGER NOT NULL,                -- vigil::FileType
    mode        INTEGER NOT NULL,                -- st_mode & 07777
    uid         INTEGER NOT NULL,
    gid         INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    ctime_ns    INTEGER NOT NULL,
    inode       INTEGER NOT NULL,                -- u64 stored bit-for-bit in an i64
    dev         INTEGER NOT NULL,
    nlink       INTEGER NOT NULL,
    rdev        INTEGER NOT NULL,
    sha256      BLOB,                            -- 32 bytes; NULL: not a regular file, or unreadable
    target      BLOB,                            -- symlink target
    xattrs      BLOB,                            -- common/xattrs.h encoding
    error       TEXT                             -- why something could not be read; NULL when complete
) STRICT, WITHOUT ROWID;
