-- WebAuthn passkeys, several per account. `credential` is the verified credential as
-- webauthn-rs keeps it (JSON: the public key, the signature counter, the flags): nothing in it
-- is secret. `credential_id` is the authenticator's handle, unique across accounts.
CREATE TABLE passkeys (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    credential_id    BYTEA NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    credential       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    last_used_at     BIGINT
);
CREATE INDEX passkeys_account ON passkeys (account_id);
