-- 0020_principal_notify: a principal disabled or removed is announced on
-- the channel minyi_principals (payload: its id), so every gateway on the
-- database closes that principal's open connections at once
-- (storage/listen.c, gateway/access.c) instead of at its next SIGHUP.

CREATE FUNCTION minyi_principal_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('minyi_principals', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER principals_disabled AFTER UPDATE OF active ON principals
    FOR EACH ROW WHEN (OLD.active AND NOT NEW.active)
    EXECUTE FUNCTION minyi_principal_notify();

CREATE TRIGGER principals_removed AFTER DELETE ON principals
    FOR EACH ROW EXECUTE FUNCTION minyi_principal_notify();
