-- DKIM keys come in generations, with Ed25519 beside RSA and two ways to publish them.
--
-- A rotation now creates a generation: one key per algorithm the domain signs with
-- (`rsa-sha256`, and `ed25519-sha256` when asked for), all in one state. A generation is
-- published in TXT mode (the tenant publishes each key's TXT record; selectors are
-- numbered by generation) or in CNAME mode (the tenant points two fixed slots per
-- algorithm at our zone once; generations take turns in them, so a selector comes back).
-- A key is therefore named by its domain, generation and algorithm; a selector is unique
-- only among the keys that are not removed. SQLite cannot change a primary key, so the
-- table is rebuilt.

INSERT INTO key_algorithms (algorithm) VALUES ('ed25519-sha256');

CREATE TABLE dkim_keys_new (
    domain_id      TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    selector       TEXT NOT NULL,
    -- The key's generation: 1 for a domain's first keys, one more per rotation.
    idx            INTEGER NOT NULL CHECK (idx >= 1),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retiring', 'removed')),
    algorithm      TEXT NOT NULL DEFAULT 'rsa-sha256' REFERENCES key_algorithms (algorithm),
    -- How the key's generation is published. Every key stored before this was TXT.
    mode           TEXT NOT NULL DEFAULT 'txt' CHECK (mode IN ('txt', 'cname')),
    -- What the key's `p=` publishes: for RSA SubjectPublicKeyInfo DER, for Ed25519 the
    -- 32-byte key.
    public_key     BLOB NOT NULL,
    -- The private key sealed under the master key (AES-256-GCM, bound to this row). Never
    -- the private key in clear. NULL once the key is removed: removal destroys it.
    sealed_private BLOB,
    created_at     INTEGER NOT NULL,
    activated_at   INTEGER,
    retired_at     INTEGER,
    removed_at     INTEGER,
    PRIMARY KEY (domain_id, idx, algorithm),
    CHECK ((state = 'removed') = (sealed_private IS NULL))
) STRICT;
INSERT INTO dkim_keys_new (domain_id, selector, idx, state, algorithm, mode, public_key,
                           sealed_private, created_at, activated_at, retired_at, removed_at)
    SELECT domain_id, selector, idx, state, algorithm, 'txt', public_key,
           sealed_private, created_at, activated_at, retired_at, removed_at
    FROM dkim_keys;
DROP TABLE dkim_keys;
ALTER TABLE dkim_keys_new RENAME TO dkim_keys;
CREATE UNIQUE INDEX dkim_keys_live_selector ON dkim_keys (domain_id, selector)
    WHERE state <> 'removed';

-- The domain's label in our DKIM zone: `<selector>.<label>.<zone>` is where its CNAMEs
-- point. Random (sixteen hexadecimal digits), so that it says nothing about the tenant;
-- fixed for the life of the domain. Existing domains get theirs here.
ALTER TABLE domains ADD COLUMN dkim_label TEXT NOT NULL DEFAULT '';
UPDATE domains SET dkim_label = lower(hex(randomblob(8)));
CREATE UNIQUE INDEX domains_dkim_label ON domains (dkim_label);
