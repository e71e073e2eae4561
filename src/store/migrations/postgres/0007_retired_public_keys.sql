-- The public part of signing keys whose private part was deleted (every token they signed has
-- expired): kept without limit so that the documents they signed — yearly review reports,
-- seals of the trace streams, attestations of destruction and erasure — can still be verified.
CREATE TABLE retired_public_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    public_key  BYTEA NOT NULL,  -- as the verifier reads it (PKCS#1 for RSA, the point for EC)
    jwk         TEXT NOT NULL,   -- the public JWK as it was published
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT NOT NULL
);
