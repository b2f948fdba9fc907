-- DKIM keys come in generations, with Ed25519 beside RSA and two ways to publish them.
--
-- A rotation now creates a generation: one key per algorithm the domain signs with
-- (`rsa-sha256`, and `ed25519-sha256` when asked for), all in one state. A generation is
-- published in TXT mode (the tenant publishes each key's TXT record; selectors are
-- numbered by generation) or in CNAME mode (the tenant points two fixed slots per
-- algorithm at our zone once; generations take turns in them, so a selector comes back).
-- A key is therefore named by its domain, generation and algorithm; a selector is unique
-- only among the keys that are not removed.

INSERT INTO key_algorithms (algorithm) VALUES ('ed25519-sha256');

ALTER TABLE dkim_keys DROP CONSTRAINT dkim_keys_pkey;
ALTER TABLE dkim_keys DROP CONSTRAINT dkim_keys_domain_id_idx_key;
ALTER TABLE dkim_keys ADD PRIMARY KEY (domain_id, idx, algorithm);
CREATE UNIQUE INDEX dkim_keys_live_selector ON dkim_keys (domain_id, selector)
    WHERE state <> 'removed';

-- How the key's generation is published. Every key stored before this migration was TXT.
ALTER TABLE dkim_keys
    ADD COLUMN mode TEXT NOT NULL DEFAULT 'txt' CHECK (mode IN ('txt', 'cname'));

-- The domain's label in our DKIM zone: `<selector>.<label>.<zone>` is where its CNAMEs
-- point. Random (sixteen hexadecimal digits), so that it says nothing about the tenant;
-- fixed for the life of the domain. Existing domains get theirs here.
ALTER TABLE domains ADD COLUMN dkim_label TEXT;
UPDATE domains SET dkim_label = substr(md5(random()::text || id), 1, 16);
ALTER TABLE domains ALTER COLUMN dkim_label SET NOT NULL;
CREATE UNIQUE INDEX domains_dkim_label ON domains (dkim_label);
