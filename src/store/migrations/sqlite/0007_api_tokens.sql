-- Personal API tokens: a named person's credential for scripts calling the admin API, so that
-- what a script does stays attributed to that person. Stored as SHA-256 digests only.
CREATE TABLE api_tokens (
    token_sha256  BLOB PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);
