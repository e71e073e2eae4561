-- Security alerts: one row per burst of one rule on one subject (an address, an account…).
-- `open_key` (rule and subject) is set while the burst lasts, so that replicas raising the same
-- alert at once meet on it and the officers are mailed once; it is cleared when the burst
-- ends (no event within the rule's window).
CREATE TABLE alerts (
    id                TEXT PRIMARY KEY,
    rule              TEXT NOT NULL,
    subject           TEXT NOT NULL,
    partner_id        TEXT,
    caf_code          TEXT,
    first_at          INTEGER NOT NULL,
    last_at           INTEGER NOT NULL,
    events            INTEGER NOT NULL,
    evidence          TEXT NOT NULL,
    open_key          TEXT UNIQUE,
    acknowledged_by   TEXT,
    acknowledged_at   INTEGER,
    acknowledgement   TEXT
);
CREATE INDEX alerts_recent ON alerts (last_at);

-- Requests for traces beyond a partner's reach (MCP art. 5.3.4 and 7), answered by the Caf's
-- security officer with an export attached to the request (kept 30 days).
CREATE TABLE trace_requests (
    id            TEXT PRIMARY KEY,
    partner_id    TEXT NOT NULL,
    caf_code      TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    requested_at  INTEGER NOT NULL,
    purpose       TEXT NOT NULL,
    filter        TEXT NOT NULL,
    status        TEXT NOT NULL,
    answered_by   TEXT,
    answered_at   INTEGER,
    answer        TEXT,
    export_csv    TEXT,
    export_count  INTEGER
);
CREATE INDEX trace_requests_partner ON trace_requests (partner_id, requested_at);
CREATE INDEX trace_requests_caf ON trace_requests (caf_code, requested_at);
