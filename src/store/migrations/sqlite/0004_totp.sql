-- TOTP second factor and recovery codes.

-- One TOTP factor per account. The secret must be readable to verify codes, so it cannot be
-- hashed; confirmed_at stays NULL until the person typed a first valid code. last_step is the
-- last accepted time step: a code is accepted once.
CREATE TABLE totp_factors (
    account_id    TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    secret        BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0
);

-- Single-use recovery codes, stored as SHA-256 digests (each has 60 random bits).
CREATE TABLE recovery_codes (
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code_sha256  BLOB NOT NULL,
    used_at      INTEGER,
    PRIMARY KEY (account_id, code_sha256)
);

-- Whether a service requires a second factor: 'optional' or 'required'.
ALTER TABLE services ADD COLUMN mfa TEXT NOT NULL DEFAULT 'optional';
