-- Credential lifecycle: single-use links, password history, account flags.

-- Services the account was created for: they decide its password policy and onboarding until
-- habilitations exist. JSON array of client ids.
ALTER TABLE accounts ADD COLUMN services TEXT NOT NULL DEFAULT '[]';
-- Set by a Caf officer or by a temporary password: no code is issued until it is changed.
ALTER TABLE accounts ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN password_changed_at INTEGER;

-- Password policy profile a service imposes (a name from the configuration), if any.
ALTER TABLE services ADD COLUMN password_policy TEXT;

-- Single-use links (activation, password reset, unlock), stored only as SHA-256 digests.
CREATE TABLE credential_links (
    token_sha256  BLOB PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    purpose       TEXT NOT NULL CHECK (purpose IN ('activation', 'reset', 'unlock')),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX credential_links_account ON credential_links (account_id, purpose);

-- Previous password hashes, to refuse their reuse.
CREATE TABLE password_history (
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    replaced_at   INTEGER NOT NULL
);
CREATE INDEX password_history_account ON password_history (account_id, replaced_at);
