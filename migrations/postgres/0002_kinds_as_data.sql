-- The kinds of checks and of DKIM keys become data.
--
-- 0001 wrote the check kinds into a CHECK constraint and assumed every key was RSA. A new
-- check (a return-path MX, say) or a new key algorithm is now one row in a lookup table,
-- added by a migration of its own, instead of a change to a constraint. The core's
-- `CheckKind::ALL` and `Algorithm::ALL` are the lists these tables must hold; the store
-- contract tests check that every one of them can be written.

CREATE TABLE check_kinds (
    -- The core's `CheckKind::as_str`.
    kind TEXT PRIMARY KEY
);
INSERT INTO check_kinds (kind) VALUES ('dkim'), ('spf'), ('dmarc');

ALTER TABLE domain_checks DROP CONSTRAINT domain_checks_kind_check;
ALTER TABLE domain_checks
    ADD CONSTRAINT domain_checks_kind_fkey FOREIGN KEY (kind) REFERENCES check_kinds (kind);

CREATE TABLE key_algorithms (
    -- The core's `Algorithm::as_str`: the `a=` tag of the signatures a key makes.
    algorithm TEXT PRIMARY KEY
);
INSERT INTO key_algorithms (algorithm) VALUES ('rsa-sha256');

-- Every key stored before this migration is RSA. `public_key` holds what the key's `p=`
-- publishes, which for RSA is SubjectPublicKeyInfo DER.
ALTER TABLE dkim_keys
    ADD COLUMN algorithm TEXT NOT NULL DEFAULT 'rsa-sha256' REFERENCES key_algorithms (algorithm);
