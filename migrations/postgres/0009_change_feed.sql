-- Every change of a domain that a read shows is announced on the channel
-- `scaisend_domain_changes`, as "<id> <name>", so that the other instances sharing this
-- database forget their cached copies at once (docs/operations.md, "Speed"). A monitor
-- claim (lease columns only) announces nothing; a write bumps `version`; a release moves
-- `next_check_at`. PostgreSQL delivers notifications at commit, and not at all on
-- rollback.
CREATE FUNCTION scaisend_announce_domain_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('scaisend_domain_changes', OLD.id || ' ' || OLD.name);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('scaisend_domain_changes', NEW.id || ' ' || NEW.name);
    RETURN NEW;
END
$$;

CREATE TRIGGER domains_announce_insert_delete
    AFTER INSERT OR DELETE ON domains
    FOR EACH ROW EXECUTE FUNCTION scaisend_announce_domain_change();

CREATE TRIGGER domains_announce_update
    AFTER UPDATE ON domains
    FOR EACH ROW
    WHEN (OLD.version IS DISTINCT FROM NEW.version
          OR OLD.next_check_at IS DISTINCT FROM NEW.next_check_at)
    EXECUTE FUNCTION scaisend_announce_domain_change();
