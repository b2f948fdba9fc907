-- Sender domains with their DKIM keys, last verdicts and timeline.
--
-- Never edit this file once it has been applied anywhere: sqlx records a checksum of every
-- applied migration and refuses to start against a database whose history differs. Change
-- the schema with a new `0002_…` file instead.

CREATE TABLE domains (
    -- `dom_<ULID>`. ULIDs sort by creation time byte by byte; the "C" collation keeps the
    -- list order, and so the list cursor, independent of the database's locale.
    id                 TEXT COLLATE "C" PRIMARY KEY,
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
    is_active          BOOLEAN NOT NULL,
    verified           BOOLEAN NOT NULL,
    -- Rotate DKIM automatically after this many days; NULL: never. BIGINT because the
    -- core's value is a u32, which does not fit an INTEGER.
    dkim_rotation_days BIGINT CHECK (dkim_rotation_days >= 0),
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    last_verified_at   TIMESTAMPTZ,
    -- When the monitor first saw this verified domain failing: the grace period before it
    -- is unverified runs from here. NULL while it passes.
    failing_since      TIMESTAMPTZ,
    -- When the monitor should check the domain next.
    next_check_at      TIMESTAMPTZ NOT NULL,
    -- Optimistic concurrency: an update names the version it read and bumps it, so of two
    -- writers that read the same version only the first one succeeds.
    version            BIGINT NOT NULL,
    -- The monitor instance that is checking the domain, and until when. A lease past its
    -- expiry is free again, so the claims of an instance that crashed come back by
    -- themselves. Both NULL when nobody holds the domain.
    lease_owner        TEXT,
    lease_expires_at   TIMESTAMPTZ,
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);

-- One name per owner; also serves the send-time lookup (`find_sendable`), which asks for
-- exactly the owner keys `tenant:<t>` and `shared` under one partner.
CREATE UNIQUE INDEX domains_owner_name ON domains (partner_id, owner_key, name);

-- The list, in id order under a scope: a partner's domains, a tenant's own and shared
-- ones (tenant_id IS NULL is indexable), and the two filters that can be selective (few
-- unverified or inactive domains among many). Lists in the system scope use the primary key.
CREATE INDEX domains_partner_list ON domains (partner_id, id);
CREATE INDEX domains_tenant_list ON domains (partner_id, tenant_id, id);
CREATE INDEX domains_verified_list ON domains (partner_id, verified, id);
CREATE INDEX domains_active_list ON domains (partner_id, is_active, id);

-- The monitor's due query: the most overdue domains first.
CREATE INDEX domains_due ON domains (next_check_at);

CREATE TABLE dkim_keys (
    domain_id      TEXT COLLATE "C" NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    selector       TEXT NOT NULL,
    -- The selector's number (1 for `scaisend`, 2 for `scaisend2`, …): the order of the
    -- keys, and never reused within a domain.
    idx            BIGINT NOT NULL CHECK (idx >= 1),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retiring', 'removed')),
    -- SubjectPublicKeyInfo DER: what the DNS record publishes.
    public_key     BYTEA NOT NULL,
    -- The private key sealed under the master key (AES-256-GCM, bound to this domain id and
    -- selector, so it does not open in another row). Never the private key in clear.
    -- NULL once the key is removed: removal destroys the private key, which the CHECK
    -- below holds the store to.
    sealed_private BYTEA,
    created_at     TIMESTAMPTZ NOT NULL,
    activated_at   TIMESTAMPTZ,
    retired_at     TIMESTAMPTZ,
    removed_at     TIMESTAMPTZ,
    PRIMARY KEY (domain_id, selector),
    UNIQUE (domain_id, idx),
    CHECK ((state = 'removed') = (sealed_private IS NULL))
);

CREATE TABLE domain_checks (
    domain_id TEXT COLLATE "C" NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('dkim', 'spf', 'dmarc')),
    -- The last verdict of this check, the core's `Verdict` as JSON: it is only ever read
    -- back whole, and its shape belongs to the core, so it may grow without a migration.
    verdict   JSONB NOT NULL,
    PRIMARY KEY (domain_id, kind)
);

CREATE TABLE domain_events (
    -- `evt_<ULID>`: orders the timeline, and is its cursor.
    id        TEXT COLLATE "C" PRIMARY KEY,
    domain_id TEXT COLLATE "C" NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    at        TIMESTAMPTZ NOT NULL,
    -- `system`, or the `sub` of the user who acted.
    actor     TEXT NOT NULL,
    -- The core's `EventKind`. No CHECK: the set of kinds grows with the core, and an
    -- unknown kind is reported when it is read.
    kind      TEXT NOT NULL,
    message   TEXT NOT NULL,
    -- What changed (`{"before": …, "after": …}`); free-form for the core.
    detail    JSONB NOT NULL
);

-- A domain's timeline, newest first; also what the cascade on delete uses.
CREATE INDEX domain_events_by_domain ON domain_events (domain_id, id);
