-- Sender domains with their DKIM keys, last verdicts and timeline.
--
-- Never edit this file once it has been applied anywhere: sqlx records a checksum of every
-- applied migration and refuses to start against a database whose history differs. Change
-- the schema with a new `0002_…` file instead.
--
-- The same schema as migrations/postgres, in SQLite's terms:
-- * STRICT tables, so a value of the wrong type is refused instead of stored as is.
-- * Times are INTEGER microseconds since 1970-01-01 UTC. SQLite has no time type, and
--   RFC 3339 text (sqlx's encoding) does not sort by time when the number of fractional
--   digits varies, which would break the monitor's due query. Microseconds, as Postgres
--   keeps them, so that both stores give back the same values.
-- * Booleans are INTEGER 0 or 1; JSON is TEXT that must be valid JSON.
-- * Text compares byte by byte (BINARY), so ULIDs sort by time without further ado.

CREATE TABLE domains (
    -- `dom_<ULID>`: ULIDs sort by creation time, which is the list order and its cursor.
    id                 TEXT PRIMARY KEY NOT NULL,
    -- Lower-case A-labels, as the core's `DomainName` guarantees.
    name               TEXT NOT NULL,
    partner_id         TEXT NOT NULL,
    -- NULL for a domain the partner shares with all of its tenants.
    tenant_id          TEXT,
    -- Whom the name is unique for: the tenant, or the partner for a shared domain. A unique
    -- index over (partner_id, tenant_id, name) would not do, because NULLs are distinct
    -- there and a partner could add the same shared domain twice. Derived, so that no
    -- writer can get it wrong.
    owner_key          TEXT NOT NULL GENERATED ALWAYS AS (COALESCE('tenant:' || tenant_id, 'shared')) STORED,
    dmarc_policy       TEXT NOT NULL CHECK (dmarc_policy IN ('none', 'quarantine', 'reject')),
    dmarc_rua          TEXT,
    is_active          INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    verified           INTEGER NOT NULL CHECK (verified IN (0, 1)),
    -- Rotate DKIM automatically after this many days; NULL: never.
    dkim_rotation_days INTEGER CHECK (dkim_rotation_days >= 0),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    last_verified_at   INTEGER,
    -- When the monitor first saw this verified domain failing: the grace period before it
    -- is unverified runs from here. NULL while it passes.
    failing_since      INTEGER,
    -- When the monitor should check the domain next.
    next_check_at      INTEGER NOT NULL,
    -- Optimistic concurrency: an update names the version it read and bumps it, so of two
    -- writers that read the same version only the first one succeeds.
    version            INTEGER NOT NULL,
    -- The monitor task that is checking the domain, and until when. A lease past its
    -- expiry is free again, so the claims of a task that died come back by themselves.
    -- Both NULL when nobody holds the domain.
    lease_owner        TEXT,
    lease_expires_at   INTEGER,
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
) STRICT;

-- One name per owner; also serves the send-time lookup (`find_sendable`), which asks for
-- exactly the owner keys `tenant:<t>` and `shared` under one partner.
CREATE UNIQUE INDEX domains_owner_name ON domains (partner_id, owner_key, name);

-- The list, in id order under a scope: a partner's domains, a tenant's own and shared
-- ones, and the two filters that can be selective (few unverified or inactive domains
-- among many). Lists in the system scope use the primary key.
CREATE INDEX domains_partner_list ON domains (partner_id, id);
CREATE INDEX domains_tenant_list ON domains (partner_id, tenant_id, id);
CREATE INDEX domains_verified_list ON domains (partner_id, verified, id);
CREATE INDEX domains_active_list ON domains (partner_id, is_active, id);

-- The monitor's due query: the most overdue domains first.
CREATE INDEX domains_due ON domains (next_check_at);

CREATE TABLE dkim_keys (
    domain_id      TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    selector       TEXT NOT NULL,
    -- The selector's number (1 for `scaisend`, 2 for `scaisend2`, …): the order of the
    -- keys, and never reused within a domain.
    idx            INTEGER NOT NULL CHECK (idx >= 1),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retiring', 'removed')),
    -- SubjectPublicKeyInfo DER: what the DNS record publishes.
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

CREATE TABLE domain_checks (
    domain_id TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('dkim', 'spf', 'dmarc')),
    -- The last verdict of this check, the core's `Verdict` as JSON: it is only ever read
    -- back whole, and its shape belongs to the core, so it may grow without a migration.
    verdict   TEXT NOT NULL CHECK (json_valid(verdict)),
    PRIMARY KEY (domain_id, kind)
) STRICT;

CREATE TABLE domain_events (
    -- `evt_<ULID>`: orders the timeline, and is its cursor.
    id        TEXT PRIMARY KEY NOT NULL,
    domain_id TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    at        INTEGER NOT NULL,
    -- `system`, or the `sub` of the user who acted.
    actor     TEXT NOT NULL,
    -- The core's `EventKind`. No CHECK: the set of kinds grows with the core, and an
    -- unknown kind is reported when it is read.
    kind      TEXT NOT NULL,
    message   TEXT NOT NULL,
    -- What changed (`{"before": …, "after": …}`); free-form for the core.
    detail    TEXT NOT NULL CHECK (json_valid(detail))
) STRICT;

-- A domain's timeline, newest first; also what the cascade on delete uses.
CREATE INDEX domain_events_by_domain ON domain_events (domain_id, id);
