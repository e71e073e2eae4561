-- The trace store, kept apart from the other data (its own file). Records are written once:
-- triggers refuse every update, and every delete unless the retention job opened the gate
-- inside its own transaction.

CREATE TABLE streams (
    name         TEXT PRIMARY KEY,
    head_hash    BLOB NOT NULL,
    -- The hash the oldest kept record follows: zeros, or the last destroyed record's hash.
    origin_hash  BLOB NOT NULL
);

CREATE TABLE traces (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    stream         TEXT NOT NULL,
    id             TEXT NOT NULL,
    at_us          INTEGER NOT NULL,
    actor_account  TEXT,
    actor_partner  TEXT,
    actor_caf      TEXT,
    partner        TEXT,
    session        TEXT,
    client_id      TEXT,
    action         TEXT NOT NULL,
    target         TEXT,
    outcome        TEXT NOT NULL,
    reason         TEXT,
    ip             TEXT,
    user_agent     TEXT,
    request_id     TEXT,
    prev_hash      BLOB NOT NULL,
    hash           BLOB NOT NULL,
    UNIQUE (stream, id)
);
CREATE INDEX traces_account ON traces (actor_account, at_us);
CREATE INDEX traces_partner ON traces (partner, at_us);
CREATE INDEX traces_time ON traces (at_us);

CREATE TABLE seals (
    stream        TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    hash          BLOB NOT NULL,
    sealed_at_us  INTEGER NOT NULL,
    signature     TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
);

CREATE TABLE attestations (
    id               TEXT PRIMARY KEY,
    stream           TEXT NOT NULL,
    destroyed_at_us  INTEGER NOT NULL,
    from_us          INTEGER NOT NULL,
    to_us            INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    first_hash       BLOB NOT NULL,
    last_hash        BLOB NOT NULL,
    signature        TEXT NOT NULL
);

CREATE TABLE retention_gate (open INTEGER NOT NULL);
INSERT INTO retention_gate (open) VALUES (0);

CREATE TRIGGER traces_write_once BEFORE UPDATE ON traces
BEGIN
    SELECT RAISE(ABORT, 'traces are written once');
END;

CREATE TRIGGER traces_deleted_by_retention_only BEFORE DELETE ON traces
WHEN (SELECT open FROM retention_gate) = 0
BEGIN
    SELECT RAISE(ABORT, 'traces are deleted by the retention job only');
END;

CREATE TRIGGER seals_write_once BEFORE UPDATE ON seals
BEGIN
    SELECT RAISE(ABORT, 'seals are written once');
END;

CREATE TRIGGER attestations_write_once BEFORE UPDATE ON attestations
BEGIN
    SELECT RAISE(ABORT, 'attestations are written once');
END;
