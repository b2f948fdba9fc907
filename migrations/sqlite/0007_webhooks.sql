-- Webhooks (docs/webhooks.md): endpoints, the outbox of messages, one delivery per
-- message and endpoint, and the log of attempts. The same schema as
-- migrations/postgres/0007_webhooks.sql, in SQLite's terms (see 0001).

CREATE TABLE webhook_endpoints (
    -- `whe_<ULID>`: the list order and its cursor.
    id                    TEXT PRIMARY KEY NOT NULL,
    partner_id            TEXT NOT NULL,
    -- NULL for a partner's endpoint, which receives the events of its shared domains.
    tenant_id             TEXT,
    -- Whose events: the tenant's, or the partner's shared domains' (as for domains).
    owner_key             TEXT NOT NULL GENERATED ALWAYS AS (COALESCE('tenant:' || tenant_id, 'shared')) STORED,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL,
    -- `["*"]`: every type; else the types in webhook_endpoint_events.
    all_events            INTEGER NOT NULL CHECK (all_events IN (0, 1)),
    enabled               INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    -- Why the service disabled it (410, or failing for the whole retry window).
    disabled_reason       TEXT,
    -- The signing secret, sealed under the master key (AES-256-GCM), never in clear.
    secret                BLOB NOT NULL,
    -- The rotated-out secret, signing beside the new one until previous_secret_until.
    previous_secret       BLOB,
    previous_secret_until INTEGER CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL)),
    -- Since when every attempt failed; NULL after a success.
    failing_since         INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (partner_id, owner_key, id);

CREATE TABLE webhook_endpoint_events (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The core's `EventType`; no CHECK, the set grows with the core.
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
) STRICT;

-- The outbox: written in the transaction of the change that caused the event.
CREATE TABLE webhook_messages (
    -- `msg_<ULID>`: the `webhook-id` header.
    id          TEXT PRIMARY KEY NOT NULL,
    partner_id  TEXT NOT NULL,
    tenant_id   TEXT,
    owner_key   TEXT NOT NULL GENERATED ALWAYS AS (COALESCE('tenant:' || tenant_id, 'shared')) STORED,
    event_type  TEXT NOT NULL,
    -- The exact body, signed as is.
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    message_id       TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    -- When a pending delivery is due.
    next_attempt_at  INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    PRIMARY KEY (message_id, endpoint_id)
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id);

CREATE TABLE webhook_attempts (
    -- `wha_<ULID>`: newest first in the deliveries log, and its cursor.
    id              TEXT PRIMARY KEY NOT NULL,
    message_id      TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type      TEXT NOT NULL,
    attempt         INTEGER NOT NULL CHECK (attempt >= 1),
    at              INTEGER NOT NULL,
    status          INTEGER,
    error           TEXT,
    latency_ms      INTEGER NOT NULL,
    next_attempt_at INTEGER
) STRICT;

CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
