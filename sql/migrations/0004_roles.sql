-- 0004_roles.sql: pgpush schema version 4: the functions that write do it as the schema's owner
--
-- Run through install.sql, never alone. The programs connect as a role granted push_reader, a
-- site's publishers as one granted push_publisher (install.sql creates and grants both; README
-- "Database roles"). Neither may write the tables behind read state, streams and kinds: these
-- functions do it for them, as the owner (SECURITY DEFINER):
--
-- * mark_read, mark_read_upto, mark_kind_read: push_reader changes read state through these only,
--   so it can move a user's watermarks forward and nothing else (mark_all_read and the two-argument
--   mark_kind_read call them).
-- * mqtt_ack, mqtt_seen: push-mqtt's cursors, likewise.
-- * the triggers of push.message: an INSERT by push_publisher locks (or creates) the stream's row,
--   draws the id and registers new kinds; an edit or a deletion bumps push.meta.content_version.
--
-- Each runs with a fixed search_path: a caller's own objects (an operator "=" in a schema of theirs
-- placed before pg_catalog) are never taken for the system's inside a function that runs as the
-- owner. Their bodies name the schema's objects as push.*.

BEGIN;

ALTER FUNCTION push.mark_read(text, bigint)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.mark_read_upto(text, bigint, bigint)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.mark_kind_read(text, text, bigint, bigint)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.mqtt_ack(text, bigint)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.mqtt_seen(text)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.message_assign_id()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.message_inserted()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.message_changed()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

UPDATE push.meta SET schema_version = 4;

COMMIT;
