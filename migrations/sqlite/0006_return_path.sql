-- A return-path (MAIL FROM) host per domain, and its check.
--
-- `return_path` is the label the tenant chose (`bounces` for `bounces.<domain>`); the
-- core derives the host. The return path has a flag and a grace period of its own,
-- independent of `verified`: mail uses the host as MAIL FROM only while it is verified
-- (docs/sending.md, "The return path"). `return_path_set_at` is when it was set, from
-- which the monitor backs off while it waits for the records.
--
-- SQLite adds no table constraint to an existing table, so each rule is a CHECK on the
-- column it is added with (SQLite lets such a CHECK name other columns).
ALTER TABLE domains ADD COLUMN return_path TEXT;
-- Set together with the return path, or not at all.
ALTER TABLE domains ADD COLUMN return_path_set_at INTEGER
    CHECK ((return_path IS NULL) = (return_path_set_at IS NULL));
ALTER TABLE domains ADD COLUMN return_path_verified INTEGER NOT NULL DEFAULT 0
    CHECK (return_path_verified IN (0, 1));
-- Without a return path nothing can be verified or failing.
ALTER TABLE domains ADD COLUMN return_path_failing_since INTEGER
    CHECK (return_path IS NOT NULL OR (return_path_verified = 0 AND return_path_failing_since IS NULL));

-- The core's `CheckKind::ReturnPath`.
INSERT INTO check_kinds (kind) VALUES ('return_path');
