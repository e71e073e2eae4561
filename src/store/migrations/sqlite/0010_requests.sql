-- Requests a partner in centralized mode addresses to its Caf, and the Caf's decisions.
CREATE TABLE requests (
    id               TEXT PRIMARY KEY,
    partner_id       TEXT NOT NULL REFERENCES partners(id),
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,      -- JSON: what is asked (store::request::RequestedChange)
    reason           TEXT,
    requested_by     TEXT NOT NULL,
    requested_at     BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'refused', 'cancelled')),
    decided_by       TEXT,
    decided_at       BIGINT,
    decision_reason  TEXT
);
CREATE INDEX requests_partner ON requests (partner_id, requested_at);
CREATE INDEX requests_pending ON requests (status, requested_at) WHERE status = 'pending';
