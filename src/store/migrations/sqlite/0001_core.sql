-- Core durable data of the OpenID Connect provider. Times are Unix seconds (UTC).

CREATE TABLE cafs (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE partners (
    id          TEXT PRIMARY KEY,
    caf_code    TEXT NOT NULL REFERENCES cafs(code),
    name        TEXT NOT NULL,
    siret       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE services (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    client_type               TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    secret_sha256             BLOB,
    redirect_uris             TEXT NOT NULL,  -- JSON array of strings
    post_logout_redirect_uris TEXT NOT NULL,  -- JSON array of strings
    grant_types               TEXT NOT NULL,  -- JSON array of strings
    pkce                      TEXT NOT NULL CHECK (pkce IN ('required', 'optional')),
    id_token_alg              TEXT NOT NULL,
    client_scopes             TEXT NOT NULL,  -- space-separated
    roles                     TEXT NOT NULL,  -- JSON array of {code, label}
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
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
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    private_pkcs8  BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER
);

CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
