-- A return-path (MAIL FROM) host per domain, and its check.
--
-- `return_path` is the label the tenant chose (`bounces` for `bounces.<domain>`); the
-- core derives the host. The return path has a flag and a grace period of its own,
-- independent of `verified`: mail uses the host as MAIL FROM only while it is verified
-- (docs/sending.md, "The return path"). `return_path_set_at` is when it was set, from
-- which the monitor backs off while it waits for the records.
ALTER TABLE domains
    ADD COLUMN return_path               TEXT,
    ADD COLUMN return_path_set_at        TIMESTAMPTZ,
    ADD COLUMN return_path_verified      BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN return_path_failing_since TIMESTAMPTZ,
    -- Set together, or not at all; without a return path nothing can be verified.
    ADD CONSTRAINT domains_return_path_set_at
        CHECK ((return_path IS NULL) = (return_path_set_at IS NULL)),
    ADD CONSTRAINT domains_return_path_state
        CHECK (return_path IS NOT NULL
               OR (NOT return_path_verified AND return_path_failing_since IS NULL));

-- The core's `CheckKind::ReturnPath`.
INSERT INTO check_kinds (kind) VALUES ('return_path');
