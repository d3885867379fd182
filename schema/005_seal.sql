-- Tamper evidence (docs/tamper-evidence.md): a forward-secure HMAC chain over the event
-- log, and a seal over each baseline. Event ids are the chain's sequence numbers.

CREATE TABLE seal (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    key_id        TEXT    NOT NULL,              -- HMAC(K_0, "vigil-v1 key-id"), hex: which verification key
    created_ns    INTEGER NOT NULL,
    first_seq     INTEGER NOT NULL,              -- events from this id on are sealed
    epoch_seconds INTEGER NOT NULL               -- how long one key lives in the agent
) STRICT;

ALTER TABLE events ADD COLUMN epoch INTEGER;     -- the key epoch that sealed the row
ALTER TABLE events ADD COLUMN mac BLOB;          -- HMAC(event key of epoch, previous mac || canonical row)
ALTER TABLE baselines ADD COLUMN seal_epoch INTEGER;
ALTER TABLE baselines ADD COLUMN seal_mac BLOB;  -- over the baseline's fields and its last file mac
ALTER TABLE files ADD COLUMN mac BLOB;           -- chained over the files in path order
