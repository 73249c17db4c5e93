-- The keys that sign the JSON Web Tokens of `session-jwt-issue` (not
-- upstream), shared by every instance: the newest is the current key, the
-- one before it stays published in /.well-known/jwks.json. `public_key` is
-- the public key (base64url); `sealed_private_key` is the private key
-- encrypted with a key derived from the server secret (never in the clear).
-- Upstream never reads this table.
CREATE TABLE IF NOT EXISTS jwt_signing_keys (
    kid VARCHAR(64) NOT NULL,
    algorithm VARCHAR(16) NOT NULL,
    public_key TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL,
    created TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    PRIMARY KEY (kid)
);
