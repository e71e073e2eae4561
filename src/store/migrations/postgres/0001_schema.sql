-- The durable schema on PostgreSQL: the same tables, columns and constraints as the SQLite
-- migrations 0001 to 0007 (kept in one file: this backend has no earlier history), with
-- BIGINT for every integer and BYTEA for every blob. Times are Unix seconds (UTC).

-- Core durable data of the OpenID Connect provider. Times are Unix seconds (UTC).

CREATE TABLE cafs (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE partners (
    id          TEXT PRIMARY KEY,
    caf_code    TEXT NOT NULL REFERENCES cafs(code),
    name        TEXT NOT NULL,
    siret       TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE services (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    client_type               TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    secret_sha256             BYTEA,
    redirect_uris             TEXT NOT NULL,  -- JSON array of strings
    post_logout_redirect_uris TEXT NOT NULL,  -- JSON array of strings
    grant_types               TEXT NOT NULL,  -- JSON array of strings
    pkce                      TEXT NOT NULL CHECK (pkce IN ('required', 'optional')),
    id_token_alg              TEXT NOT NULL,
    client_scopes             TEXT NOT NULL,  -- space-separated
    roles                     TEXT NOT NULL,  -- JSON array of {code, label}
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL
);

CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    civility       TEXT,
    given_name     TEXT NOT NULL,
    family_name    TEXT NOT NULL,
    function       TEXT,
    partner_id     TEXT REFERENCES partners(id),
    caf_code       TEXT REFERENCES cafs(code),
    password_hash  TEXT,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended')),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    private_pkcs8  BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    retired_at     BIGINT
);

CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    value       BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Credential lifecycle: single-use links, password history, account flags.

-- Services the account was created for: they decide its password policy and onboarding until
-- habilitations exist. JSON array of client ids.
ALTER TABLE accounts ADD COLUMN services TEXT NOT NULL DEFAULT '[]';
-- Set by a Caf officer or by a temporary password: no code is issued until it is changed.
ALTER TABLE accounts ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN password_changed_at BIGINT;

-- Password policy profile a service imposes (a name from the configuration), if any.
ALTER TABLE services ADD COLUMN password_policy TEXT;

-- Single-use links (activation, password reset, unlock), stored only as SHA-256 digests.
CREATE TABLE credential_links (
    token_sha256  BYTEA PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    purpose       TEXT NOT NULL CHECK (purpose IN ('activation', 'reset', 'unlock')),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX credential_links_account ON credential_links (account_id, purpose);

-- Previous password hashes, to refuse their reuse.
CREATE TABLE password_history (
    -- SQLite's implicit rowid, made explicit: the shared SQL orders and trims by it.
    rowid         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    replaced_at   BIGINT NOT NULL
);
CREATE INDEX password_history_account ON password_history (account_id, replaced_at);

-- Legacy onboarding by temporary password (the monenfant case).

-- How a service's new users receive their first credential: 'activation_link' or
-- 'temporary_password'.
ALTER TABLE services ADD COLUMN onboarding TEXT NOT NULL DEFAULT 'activation_link';
-- While set, the password is a temporary one: refused after this time, and spent (set to the
-- time of use) by its one successful login.
ALTER TABLE accounts ADD COLUMN temporary_password_expires_at BIGINT;

-- TOTP second factor and recovery codes.

-- One TOTP factor per account. The secret must be readable to verify codes, so it cannot be
-- hashed; confirmed_at stays NULL until the person typed a first valid code. last_step is the
-- last accepted time step: a code is accepted once.
CREATE TABLE totp_factors (
    account_id    TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    secret        BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    confirmed_at  BIGINT,
    last_step     BIGINT NOT NULL DEFAULT 0
);

-- Single-use recovery codes, stored as SHA-256 digests (each has 60 random bits).
CREATE TABLE recovery_codes (
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code_sha256  BYTEA NOT NULL,
    used_at      BIGINT,
    PRIMARY KEY (account_id, code_sha256)
);

-- Whether a service requires a second factor: 'optional' or 'required'.
ALTER TABLE services ADD COLUMN mfa TEXT NOT NULL DEFAULT 'optional';

-- Passerelle's own administrative roles held by an account (JSON array): Caf habilitation
-- officer, partner administrators, delegated managers, security officers, national operator.
-- Holding any of them imposes the administrator password profile and a second factor.
ALTER TABLE accounts ADD COLUMN admin_roles TEXT NOT NULL DEFAULT '[]';

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
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX conventions_partner ON conventions (partner_id);

-- The most people a partner may hold a service role for (set by the Caf).
CREATE TABLE quotas (
    convention_id   TEXT NOT NULL REFERENCES conventions(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL REFERENCES services(client_id),
    role            TEXT NOT NULL,
    maximum         BIGINT NOT NULL CHECK (maximum >= 0),
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (convention_id, client_id, role)
);

-- Groups of people of one partner: a habilitation granted to a group is held by its members.
CREATE TABLE groups (
    id              TEXT PRIMARY KEY,
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    name            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    closed_at       BIGINT,
    UNIQUE (partner_id, name)
);

CREATE TABLE group_members (
    group_id        TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    added_at        BIGINT NOT NULL,
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
    valid_from      BIGINT NOT NULL,
    valid_until     BIGINT,
    status          TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'closed')),
    granted_by      TEXT NOT NULL,
    granted_at      BIGINT NOT NULL,
    status_changed_at BIGINT NOT NULL,
    status_changed_by TEXT NOT NULL,
    status_reason   TEXT,
    closed_at       BIGINT,
    reviewed_at     BIGINT,
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
    granted_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_id, role)
);

-- The yearly reverse review of a partner's habilitations by its principal administrator.
CREATE TABLE reviews (
    id              TEXT PRIMARY KEY,
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    started_at      BIGINT NOT NULL,
    started_by      TEXT NOT NULL,
    completed_at    BIGINT,
    completed_by    TEXT,
    report          TEXT,  -- the signed report (compact JWS) once completed
    decisions       TEXT NOT NULL DEFAULT '{}'  -- JSON object habilitation id -> decision
);
CREATE INDEX reviews_partner ON reviews (partner_id, completed_at);

-- Accounts closed on departure: no login, kept until retention removes them.
ALTER TABLE accounts ADD COLUMN closed_at BIGINT;
-- Why the account was suspended or closed, and by whom (account id or 'provisioning').
ALTER TABLE accounts ADD COLUMN status_reason TEXT;

-- The back-channel logout endpoint of a relying application (OpenID Connect Back-Channel
-- Logout 1.0), and the kind of scope its habilitations carry ('insee_communes' or NULL).
ALTER TABLE services ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE services ADD COLUMN habilitation_scope TEXT;

-- Every change to partners, conventions, accounts, groups and habilitations: who, when, what,
-- why. The traces store (issue 5) takes these over; until then they are kept here.
CREATE TABLE changes (
    seq             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at              BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    partner_id      TEXT,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    reason          TEXT,
    detail          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX changes_partner ON changes (partner_id, at);

-- Personal API tokens: a named person's credential for scripts calling the admin API, so that
-- what a script does stays attributed to that person. Stored as SHA-256 digests only.
CREATE TABLE api_tokens (
    token_sha256  BYTEA PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);

-- The application's role: the replicas log in as a member of it. It reads and writes these
-- tables; the migrations run as their owner (store.migration_url), which keeps the schema.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'passerelle_app') THEN
        CREATE ROLE passerelle_app NOLOGIN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO passerelle_app', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO passerelle_app',
                   current_schema());
    EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO passerelle_app', current_schema());
    -- Tables later migrations add to this schema (only this one: the trace schema has its
    -- own, narrower grants).
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I
                    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO passerelle_app', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I
                    GRANT USAGE ON SEQUENCES TO passerelle_app', current_schema());
END
$$;
