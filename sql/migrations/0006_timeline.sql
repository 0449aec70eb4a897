-- 0006_timeline.sql: pgpush schema version 6: ids and versions jump when the database's history
-- forks (a standby promoted, a point-in-time recovery)
--
-- Run through install.sql, never alone. A client holds what the database answered it: a message's
-- id as its cursor and, for the short poll, push.meta.content_version and its read version in its
-- ETag. When a standby is promoted after its primary failed, commits it never received
-- (asynchronous replication) are gone; clients may have been sent them. Their cursors then name
-- ids the new primary has not drawn yet and would draw again for other messages: a client resuming
-- after such an id would take the new message of that id as seen, a loss nobody notices. An ETag
-- could likewise name a different state. So on a new timeline, before the first id is drawn there,
-- the id sequence and push.meta.content_version jump by 1,000,000,000, past anything the lost
-- history can have handed out. The cursor of a lost message then points between the old ids and
-- the new ones, and its client gets every message of the new history; every ETag from before the
-- fork differs from every one after it.
--
-- * push.history: the timeline the ids were last drawn on, when it became so, how many jumps.
-- * push.timeline(): the server's current timeline, from the name of its WAL file. On a primary
--   only (PostgreSQL refuses pg_walfile_name during recovery).
-- * push.follow_timeline(): the jump, when push.history names another timeline; once per fork (the
--   row lock); returns the timeline. The BEFORE INSERT trigger runs it before drawing an id when the
--   timelines differ, the programs when they connect their LISTEN. Replica reads compare the
--   standby's push.history with the primary's timeline: a standby left on the old history (it had
--   replayed further than the promoted one) is never read, and one that follows the new primary is
--   read again once it has replayed the jump.
-- * push.jump(): the jump alone, for the owner: after restoring a backup that kept its timeline.

BEGIN;

CREATE TABLE push.history (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    timeline integer NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    jumps integer NOT NULL DEFAULT 0
);

-- (no SET clause, names qualified instead: so that the trigger's call is inlined, not a function
-- call with its settings saved and restored, which cost 20 us per INSERT)
CREATE FUNCTION push.timeline() RETURNS integer VOLATILE LANGUAGE sql AS $$
    SELECT ('x' OPERATOR(pg_catalog.||) pg_catalog.left(
                pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_insert_lsn()), 8))::bit(32)::integer
$$;

INSERT INTO push.history (timeline) VALUES (push.timeline());

CREATE FUNCTION push.jump() RETURNS void LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- setval is not transactional: a rolled back jump still moved the ids, which is harmless
    PERFORM setval('push.message_id_seq',
                   (SELECT last_value FROM push.message_id_seq) + 1000000000, true);
    UPDATE push.meta SET content_version = content_version + 1000000000;
    UPDATE push.history SET jumps = jumps + 1, since = now();
END $$;

CREATE FUNCTION push.follow_timeline() RETURNS integer LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tl integer;
    seen integer;
BEGIN
    IF pg_is_in_recovery() THEN
        RETURN NULL; -- a standby: nothing to follow, the primary does it
    END IF;
    tl := push.timeline();
    SELECT h.timeline INTO seen FROM push.history h;
    IF seen IS NOT DISTINCT FROM tl THEN
        RETURN tl;
    END IF;
    -- the first caller on the new timeline jumps; the others wait on the row, then see it done
    SELECT h.timeline INTO seen FROM push.history h FOR UPDATE;
    IF seen IS DISTINCT FROM tl THEN
        PERFORM push.jump();
        UPDATE push.history SET timeline = tl;
    END IF;
    RETURN tl;
END $$;

-- BEFORE INSERT (0005), now first following the timeline: an id drawn on a new history is past the
-- ids of the old one
CREATE OR REPLACE FUNCTION push.message_assign_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stream_key text := coalesce(NEW.recipient, '');
    last bigint;
BEGIN
    IF (SELECT h.timeline FROM push.history h) IS DISTINCT FROM push.timeline() THEN
        PERFORM push.follow_timeline();
    END IF;
    SELECT s.last_id INTO last FROM push.stream s WHERE s.recipient = stream_key FOR UPDATE;
    IF NOT FOUND THEN
        -- first message of this stream; a concurrent first publisher waits on our row until we
        -- commit, then takes the last id we left
        INSERT INTO push.stream AS s (recipient) VALUES (stream_key)
            ON CONFLICT (recipient) DO UPDATE SET recipient = s.recipient
            RETURNING s.last_id INTO last;
    END IF;
    NEW.id := nextval('push.message_id_seq');
    NEW.prev_id := last;
    UPDATE push.stream SET last_id = NEW.id WHERE recipient = stream_key;
    RETURN NEW;
END $$;
ALTER FUNCTION push.message_assign_id()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

UPDATE push.meta SET schema_version = 6;

COMMIT;
