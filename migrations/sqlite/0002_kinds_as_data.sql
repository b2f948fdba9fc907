-- The kinds of checks and of DKIM keys become data.
--
-- 0001 wrote the check kinds into a CHECK constraint and assumed every key was RSA. A new
-- check (a return-path MX, say) or a new key algorithm is now one row in a lookup table,
-- added by a migration of its own, instead of a change to a constraint. The core's
-- `CheckKind::ALL` and `Algorithm::ALL` are the lists these tables must hold; the store
-- contract tests check that every one of them can be written.
--
-- SQLite cannot drop a constraint or add a column that references another table with a
-- non-NULL default, so the two tables are rebuilt: created anew, filled from the old
-- ones, and renamed into place. Nothing references them, so no foreign key breaks.

CREATE TABLE check_kinds (
    -- The core's `CheckKind::as_str`.
    kind TEXT PRIMARY KEY NOT NULL
) STRICT;
INSERT INTO check_kinds (kind) VALUES ('dkim'), ('spf'), ('dmarc');

CREATE TABLE domain_checks_new (
    domain_id TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL REFERENCES check_kinds (kind),
    -- The last verdict of this check, the core's `Verdict` as JSON: it is only ever read
    -- back whole, and its shape belongs to the core, so it may grow without a migration.
    verdict   TEXT NOT NULL CHECK (json_valid(verdict)),
    PRIMARY KEY (domain_id, kind)
) STRICT;
INSERT INTO domain_checks_new (domain_id, kind, verdict)
    SELECT domain_id, kind, verdict FROM domain_checks;
DROP TABLE domain_checks;
ALTER TABLE domain_checks_new RENAME TO domain_checks;

CREATE TABLE key_algorithms (
    -- The core's `Algorithm::as_str`: the `a=` tag of the signatures a key makes.
    algorithm TEXT PRIMARY KEY NOT NULL
) STRICT;
INSERT INTO key_algorithms (algorithm) VALUES ('rsa-sha256');

CREATE TABLE dkim_keys_new (
    domain_id      TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    selector       TEXT NOT NULL,
    -- The selector's number (1 for `scaisend`, 2 for `scaisend2`, …): the order of the
    -- keys, and never reused within a domain.
    idx            INTEGER NOT NULL CHECK (idx >= 1),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retiring', 'removed')),
    -- Every key stored before this migration is RSA.
    algorithm      TEXT NOT NULL DEFAULT 'rsa-sha256' REFERENCES key_algorithms (algorithm),
    -- What the key's `p=` publishes; for RSA, SubjectPublicKeyInfo DER.
    public_key     BLOB NOT NULL,
    -- The private key sealed under the master key (AES-256-GCM, bound to this domain id and
    -- selector, so it does not open in another row). Never the private key in clear.
    -- NULL once the key is removed: removal destroys the private key, which the CHECK
    -- below holds the store to.
    sealed_private BLOB,
    created_at     INTEGER NOT NULL,
    activated_at   INTEGER,
    retired_at     INTEGER,
    removed_at     INTEGER,
    PRIMARY KEY (domain_id, selector),
    UNIQUE (domain_id, idx),
    CHECK ((state = 'removed') = (sealed_private IS NULL))
) STRICT;
INSERT INTO dkim_keys_new (domain_id, selector, idx, state, public_key, sealed_private,
                           created_at, activated_at, retired_at, removed_at)
    SELECT domain_id, selector, idx, state, public_key, sealed_private,
           created_at, activated_at, retired_at, removed_at
    FROM dkim_keys;
DROP TABLE dkim_keys;
ALTER TABLE dkim_keys_new RENAME TO dkim_keys;
