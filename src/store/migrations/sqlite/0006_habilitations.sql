-- Habilitations: conventions between a Caf and a partner, quotas, groups, the habilitations
-- themselves, delegations to delegated managers, yearly reviews and the record of every change.
-- Times are Unix seconds (UTC); dates of conventions are ISO dates (YYYY-MM-DD).

-- The signed agreement between a Caf and a partner for one offering. It opens services to the
-- partner; its mode says who manages the partner's habilitations for those services.
CREATE TABLE conventions (
    id              TEXT PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('cooperation', 'monenfant', 'mon_compte_partenaire')),
    caf_code        TEXT NOT NULL REFERENCES cafs(code),
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    services        TEXT NOT NULL,  -- JSON array of client ids
    starts_on       TEXT NOT NULL,
    terminated_on   TEXT,
    mode            TEXT NOT NULL DEFAULT 'delegue' CHECK (mode IN ('delegue', 'centralise')),
    contacts        TEXT NOT NULL DEFAULT '[]',  -- JSON array of {side, role, name, email, phone}
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX conventions_partner ON conventions (partner_id);

-- The most people a partner may hold a service role for (set by the Caf).
CREATE TABLE quotas (
    convention_id   TEXT NOT NULL REFERENCES conventions(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL REFERENCES services(client_id),
    role            TEXT NOT NULL,
    maximum         INTEGER NOT NULL CHECK (maximum >= 0),
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (convention_id, client_id, role)
);

-- Groups of people of one partner: a habilitation granted to a group is held by its members.
CREATE TABLE groups (
    id              TEXT PRIMARY KEY,
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    name            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    closed_at       INTEGER,
    UNIQUE (partner_id, name)
);

CREATE TABLE group_members (
    group_id        TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    added_at        INTEGER NOT NULL,
    PRIMARY KEY (group_id, account_id)
);
CREATE INDEX group_members_account ON group_members (account_id);

-- One service role (and optional scope) granted to one person or one group of a partner.
CREATE TABLE habilitations (
    id              TEXT PRIMARY KEY,
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    -- The convention under which it was granted: its mode, quotas and retention apply.
    convention_id   TEXT NOT NULL REFERENCES conventions(id),
    client_id       TEXT NOT NULL REFERENCES services(client_id),
    role            TEXT NOT NULL,
    scope           TEXT NOT NULL DEFAULT '[]',  -- JSON array, e.g. INSEE commune codes
    account_id      TEXT REFERENCES accounts(id),
    group_id        TEXT REFERENCES groups(id),
    valid_from      INTEGER NOT NULL,
    valid_until     INTEGER,
    status          TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'closed')),
    granted_by      TEXT NOT NULL,
    granted_at      INTEGER NOT NULL,
    status_changed_at INTEGER NOT NULL,
    status_changed_by TEXT NOT NULL,
    status_reason   TEXT,
    closed_at       INTEGER,
    reviewed_at     INTEGER,
    CHECK ((account_id IS NULL) <> (group_id IS NULL))
);
CREATE INDEX habilitations_account ON habilitations (account_id, client_id);
CREATE INDEX habilitations_group ON habilitations (group_id);
CREATE INDEX habilitations_partner ON habilitations (partner_id, client_id, role, status);
CREATE INDEX habilitations_closed ON habilitations (closed_at) WHERE closed_at IS NOT NULL;

-- What a partner administrator delegated to a delegated manager: the service roles the manager
-- may grant and withdraw ('*' for every role of the service).
CREATE TABLE delegations (
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL REFERENCES services(client_id),
    role            TEXT NOT NULL,
    granted_by      TEXT NOT NULL,
    granted_at      INTEGER NOT NULL,
    PRIMARY KEY (account_id, client_id, role)
);

-- The yearly reverse review of a partner's habilitations by its principal administrator.
CREATE TABLE reviews (
    id              TEXT PRIMARY KEY,
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    started_at      INTEGER NOT NULL,
    started_by      TEXT NOT NULL,
    completed_at    INTEGER,
    completed_by    TEXT,
    report          TEXT,  -- the signed report (compact JWS) once completed
    decisions       TEXT NOT NULL DEFAULT '{}'  -- JSON object habilitation id -> decision
);
CREATE INDEX reviews_partner ON reviews (partner_id, completed_at);

-- Accounts closed on departure: no login, kept until retention removes them.
ALTER TABLE accounts ADD COLUMN closed_at INTEGER;
-- Why the account was suspended or closed, and by whom (account id or 'provisioning').
ALTER TABLE accounts ADD COLUMN status_reason TEXT;

-- The back-channel logout endpoint of a relying application (OpenID Connect Back-Channel
-- Logout 1.0), and the kind of scope its habilitations carry ('insee_communes' or NULL).
ALTER TABLE services ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE services ADD COLUMN habilitation_scope TEXT;

-- Every change to partners, conventions, accounts, groups and habilitations: who, when, what,
-- why. The traces store (issue 5) takes these over; until then they are kept here.
CREATE TABLE changes (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    partner_id      TEXT,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    reason          TEXT,
    detail          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX changes_partner ON changes (partner_id, at);
