-- Keys generated ahead of time, so that creating a domain does not wait for RSA key
-- generation (docs/operations.md, "Speed").
--
-- A pooled private key is sealed under the master key like every other, bound to its
-- row here (id, kind and public key), so no private key is stored in clear. Taking a key
-- deletes its row in the same statement that reads it, so each key is handed out once,
-- whatever the number of instances; the core then seals it again for its domain's row.
CREATE TABLE key_pool (
    -- A ULID: ordered by generation, so the oldest key is taken first.
    id             TEXT PRIMARY KEY,
    -- What kind of key it is: `rsa-2048`, `rsa-4096`, `ed25519`.
    kind           TEXT NOT NULL,
    -- The signing algorithm of its public key, as dkim_keys.algorithm.
    algorithm      TEXT NOT NULL,
    public_key     BLOB NOT NULL,
    sealed_private BLOB NOT NULL
);
CREATE INDEX key_pool_by_kind ON key_pool (kind, id);
