-- 0001_init.sql: pgpush schema version 1: messages, per-user streams and cursors, read state, NOTIFY
--
-- Run through install.sql, never alone. How it works, in short:
--
-- * push.message is the one table a site writes to. recipient NULL means everyone.
-- * Every message belongs to one stream: the recipient's, or the broadcast stream ('' in
--   push.stream). A BEFORE INSERT trigger locks the stream's row, then draws the message id. The row
--   lock is held until commit, so within one stream a later id always commits later: a reader that
--   has seen id N of a stream will never be shown a smaller id of that stream afterwards. (A bare
--   serial id does not give this: two publishers can commit in the opposite order of their
--   INSERTs.) Ids of different streams interleave, which is harmless.
-- * A user's position is the pair (last personal id seen, last broadcast id seen); clients see it as
--   an opaque cursor string. "After cursor (p, b)" is: personal id > p, or broadcast id > b.
-- * Read state: a per-user watermark pair (push.reader), a per-user per-kind watermark pair
--   (push.reader_kind), and single messages (push.message_read). A broadcast costs one row, whatever
--   the number of users.
-- * A statement-level trigger sends a bounded number of NOTIFYs per statement on channel 'pgpush':
--   'u:<user>' for a user's stream, '*' for everyone. Payloads name users only, never content.

BEGIN;

CREATE SEQUENCE push.message_id_seq AS bigint;

-- one row per stream, locked by publishers to order the stream; '' is the broadcast stream
CREATE TABLE push.stream (
    recipient text PRIMARY KEY
);

CREATE TABLE push.kind (
    name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,31}$'),
    description text
);
INSERT INTO push.kind (name, description) VALUES
    ('notice', 'the default kind'),
    ('system', 'messages from the site itself');

CREATE TABLE push.message (
    id bigint PRIMARY KEY,
    recipient text CHECK (recipient <> '' AND octet_length(recipient) <= 128
                          AND recipient !~ '[[:cntrl:]]'),
    kind text NOT NULL DEFAULT 'notice' CHECK (kind ~ '^[a-z0-9][a-z0-9_.-]{0,31}$'),
    title text NOT NULL DEFAULT '' CHECK (octet_length(title) <= 1024),
    body text NOT NULL DEFAULT '' CHECK (octet_length(body) <= 32768),
    data jsonb CHECK (octet_length(data::text) <= 16384),
    link text CHECK (octet_length(link) <= 2048 AND link ~ '^(https?://|/)'),
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE push.message_id_seq OWNED BY push.message.id;

-- serves: a user's messages after a cursor, the newest ones, the head, the unread count by kind
-- (index-only scans: kind is included)
CREATE INDEX message_recipient_id ON push.message (recipient, id) INCLUDE (kind)
    WHERE recipient IS NOT NULL;
-- the same for the broadcast stream
CREATE INDEX message_broadcast_id ON push.message (id) INCLUDE (kind)
    WHERE recipient IS NULL;
-- serves push.prune()
CREATE INDEX message_created_at ON push.message (created_at);

-- read state: everything up to (read_p, read_b) is read; version changes with every read-state change
CREATE TABLE push.reader (
    recipient text PRIMARY KEY,
    read_p bigint NOT NULL DEFAULT 0,
    read_b bigint NOT NULL DEFAULT 0,
    version bigint NOT NULL DEFAULT 0
);
-- read state of one kind: everything of this kind up to (read_p, read_b) is read
CREATE TABLE push.reader_kind (
    recipient text NOT NULL,
    kind text NOT NULL,
    read_p bigint NOT NULL DEFAULT 0,
    read_b bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (recipient, kind)
);
-- single messages marked read (beyond the watermarks)
CREATE TABLE push.message_read (
    recipient text NOT NULL,
    message_id bigint NOT NULL REFERENCES push.message (id) ON DELETE CASCADE,
    PRIMARY KEY (recipient, message_id)
);
CREATE INDEX message_read_message ON push.message_read (message_id);

-- BEFORE INSERT: lock the stream, then draw the id (see the top of this file for why)
CREATE FUNCTION push.message_assign_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stream_key text := coalesce(NEW.recipient, '');
BEGIN
    PERFORM 1 FROM push.stream WHERE recipient = stream_key FOR UPDATE;
    IF NOT FOUND THEN
        -- first message of this stream; a concurrent first publisher waits on our row until we commit.
        -- Under REPEATABLE READ a row created after our snapshot raises a serialization failure here,
        -- which such clients retry.
        INSERT INTO push.stream AS s (recipient) VALUES (stream_key)
            ON CONFLICT (recipient) DO UPDATE SET recipient = s.recipient;
    END IF;
    NEW.id := nextval('push.message_id_seq');
    RETURN NEW;
END $$;

CREATE TRIGGER message_assign_id BEFORE INSERT ON push.message
    FOR EACH ROW EXECUTE FUNCTION push.message_assign_id();

-- AFTER INSERT, once per statement: register new kinds and wake listeners. At most 64 user
-- notifications per statement; past that, or for a broadcast, one '*' (everyone re-reads).
CREATE FUNCTION push.message_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    users text[];
BEGIN
    INSERT INTO push.kind (name) SELECT DISTINCT kind FROM new_rows ON CONFLICT DO NOTHING;
    IF EXISTS (SELECT 1 FROM new_rows WHERE recipient IS NULL) THEN
        PERFORM pg_notify('pgpush', '*');
        RETURN NULL;
    END IF;
    SELECT array_agg(DISTINCT recipient) INTO users
        FROM (SELECT recipient FROM new_rows LIMIT 100000) r;
    IF cardinality(users) > 64 THEN
        PERFORM pg_notify('pgpush', '*');
    ELSIF users IS NOT NULL THEN
        PERFORM pg_notify('pgpush', 'u:' || u) FROM unnest(users) u;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER message_inserted AFTER INSERT ON push.message
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION push.message_inserted();

-- an edit or a deletion changes what clients have seen: bump content_version (part of every ETag)
-- and wake everyone. The id and recipient never change: they place the message in its stream.
CREATE FUNCTION push.message_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.recipient IS DISTINCT FROM OLD.recipient THEN
        RAISE EXCEPTION 'push.message: id and recipient cannot change'
            USING HINT = 'Delete the message and insert a new one.';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER message_guard_update BEFORE UPDATE ON push.message
    FOR EACH ROW EXECUTE FUNCTION push.message_guard_update();

CREATE FUNCTION push.message_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed_rows) THEN
        UPDATE push.meta SET content_version = content_version + 1;
        PERFORM pg_notify('pgpush', '*');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER message_updated AFTER UPDATE ON push.message
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION push.message_changed();
CREATE TRIGGER message_deleted AFTER DELETE ON push.message
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION push.message_changed();

-- ---------------------------------------------------------------------------------------------
-- Reading. All STABLE: the statements inside see the caller's snapshot.

-- the state a client's view depends on; last_id bounds every valid cursor
CREATE FUNCTION push.state(u text, OUT p bigint, OUT b bigint, OUT read_version bigint,
                           OUT content_version bigint, OUT last_id bigint)
STABLE LANGUAGE sql AS $$
    SELECT coalesce((SELECT max(id) FROM push.message WHERE recipient = u), 0),
           coalesce((SELECT max(id) FROM push.message WHERE recipient IS NULL), 0),
           coalesce((SELECT version FROM push.reader WHERE recipient = u), 0),
           (SELECT content_version FROM push.meta),
           (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM push.message_id_seq)
$$;

-- is message (id, broadcast, kind) read by u?
CREATE FUNCTION push.is_read(u text, message_id bigint, broadcast boolean, message_kind text)
RETURNS boolean STABLE LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM push.reader r WHERE r.recipient = u
                   AND message_id <= CASE WHEN broadcast THEN r.read_b ELSE r.read_p END)
        OR EXISTS (SELECT 1 FROM push.reader_kind k WHERE k.recipient = u AND k.kind = message_kind
                   AND message_id <= CASE WHEN broadcast THEN k.read_b ELSE k.read_p END)
        OR EXISTS (SELECT 1 FROM push.message_read x WHERE x.recipient = u
                   AND x.message_id = is_read.message_id)
$$;

-- The position in u's stream just after message (id, broadcast): every message of each stream
-- up to id. A later commit in a stream always has a larger id, so resuming from it is exact.
CREATE FUNCTION push.position_p(u text, message_id bigint, broadcast boolean) RETURNS bigint
STABLE LANGUAGE sql AS $$
    SELECT CASE WHEN NOT broadcast THEN message_id
                ELSE coalesce((SELECT max(x.id) FROM push.message x
                               WHERE x.recipient = u AND x.id < message_id), 0) END
$$;
CREATE FUNCTION push.position_b(message_id bigint, broadcast boolean) RETURNS bigint
STABLE LANGUAGE sql AS $$
    SELECT CASE WHEN broadcast THEN message_id
                ELSE coalesce((SELECT max(x.id) FROM push.message x
                               WHERE x.recipient IS NULL AND x.id < message_id), 0) END
$$;

-- up to lim messages of u's stream after cursor (after_p, after_b), oldest first
CREATE FUNCTION push.messages_after(u text, after_p bigint, after_b bigint, lim integer)
RETURNS TABLE (id bigint, broadcast boolean, kind text, title text, body text, data jsonb,
               link text, created_at text, read boolean, pos_p bigint, pos_b bigint)
STABLE LANGUAGE sql AS $$
    SELECT m.id, m.recipient IS NULL, m.kind, m.title, m.body, m.data, m.link,
           to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           push.is_read(u, m.id, m.recipient IS NULL, m.kind),
           push.position_p(u, m.id, m.recipient IS NULL), push.position_b(m.id, m.recipient IS NULL)
    FROM ((SELECT * FROM push.message WHERE recipient = u AND id > after_p ORDER BY id LIMIT lim)
          UNION ALL
          (SELECT * FROM push.message WHERE recipient IS NULL AND id > after_b ORDER BY id LIMIT lim)) m
    ORDER BY m.id
    LIMIT lim
$$;

-- the newest lim messages of u's stream, oldest first
CREATE FUNCTION push.messages_newest(u text, lim integer)
RETURNS TABLE (id bigint, broadcast boolean, kind text, title text, body text, data jsonb,
               link text, created_at text, read boolean, pos_p bigint, pos_b bigint)
STABLE LANGUAGE sql AS $$
    SELECT * FROM (
        SELECT m.id, m.recipient IS NULL, m.kind, m.title, m.body, m.data, m.link,
               to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               push.is_read(u, m.id, m.recipient IS NULL, m.kind),
               push.position_p(u, m.id, m.recipient IS NULL),
               push.position_b(m.id, m.recipient IS NULL)
        FROM ((SELECT * FROM push.message WHERE recipient = u ORDER BY id DESC LIMIT lim)
              UNION ALL
              (SELECT * FROM push.message WHERE recipient IS NULL ORDER BY id DESC LIMIT lim)) m
        ORDER BY m.id DESC
        LIMIT lim) newest
    ORDER BY 1
$$;

-- u's unread messages counted by kind (kinds with none are left out). Only messages above u's
-- watermarks are visited, through the indexes message_recipient_id and message_broadcast_id.
CREATE FUNCTION push.unread(u text) RETURNS TABLE (kind text, n bigint)
STABLE LANGUAGE sql AS $$
    WITH w AS (
        SELECT coalesce(max(read_p), 0) AS p, coalesce(max(read_b), 0) AS b
        FROM push.reader WHERE recipient = u)
    SELECT m.kind, count(*)
    FROM ((SELECT id, kind, false AS broadcast FROM push.message, w
           WHERE recipient = u AND id > w.p)
          UNION ALL
          (SELECT id, kind, true FROM push.message, w
           WHERE recipient IS NULL AND id > w.b)) m
    LEFT JOIN push.reader_kind k ON k.recipient = u AND k.kind = m.kind
    WHERE m.id > CASE WHEN m.broadcast THEN coalesce(k.read_b, 0) ELSE coalesce(k.read_p, 0) END
      AND NOT EXISTS (SELECT 1 FROM push.message_read x
                      WHERE x.recipient = u AND x.message_id = m.id)
    GROUP BY m.kind
$$;

-- ---------------------------------------------------------------------------------------------
-- Marking read. Each bumps u's read version and wakes u's listeners.

CREATE FUNCTION push.reader_touch(u text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO push.reader AS r (recipient, version) VALUES (u, 1)
        ON CONFLICT (recipient) DO UPDATE SET version = r.version + 1;
    SELECT pg_notify('pgpush', 'u:' || u);
$$;

-- one message; false when u cannot see it
CREATE FUNCTION push.mark_read(u text, message_id bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM push.message m
        WHERE m.id = mark_read.message_id AND (m.recipient = u OR m.recipient IS NULL);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO push.message_read (recipient, message_id) VALUES (u, mark_read.message_id)
        ON CONFLICT DO NOTHING;
    PERFORM push.reader_touch(u);
    RETURN true;
END $$;

-- everything up to a cursor (p, b): personal ids <= p and broadcast ids <= b
CREATE FUNCTION push.mark_read_upto(u text, p bigint, b bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM push.reader_touch(u);
    UPDATE push.reader SET read_p = greatest(read_p, p), read_b = greatest(read_b, b)
        WHERE recipient = u;
    -- single marks now covered by the watermark are dropped
    DELETE FROM push.message_read x USING push.message m
        WHERE x.recipient = u AND m.id = x.message_id
          AND m.id <= CASE WHEN m.recipient IS NULL THEN b ELSE p END;
END $$;

-- everything u can see now
CREATE FUNCTION push.mark_all_read(u text) RETURNS void LANGUAGE sql AS $$
    SELECT push.mark_read_upto(u, s.p, s.b) FROM push.state(u) s;
$$;

-- everything of one kind up to a cursor (p, b); false when the kind is unknown
CREATE FUNCTION push.mark_kind_read(u text, message_kind text, p bigint, b bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM push.kind WHERE name = message_kind;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO push.reader_kind AS k (recipient, kind, read_p, read_b)
        VALUES (u, message_kind, p, b)
        ON CONFLICT (recipient, kind)
        DO UPDATE SET read_p = greatest(k.read_p, p), read_b = greatest(k.read_b, b);
    PERFORM push.reader_touch(u);
    RETURN true;
END $$;

-- everything of one kind that u can see now
CREATE FUNCTION push.mark_kind_read(u text, message_kind text) RETURNS boolean LANGUAGE sql AS $$
    SELECT push.mark_kind_read(u, message_kind, s.p, s.b) FROM push.state(u) s;
$$;

-- ---------------------------------------------------------------------------------------------
-- Publishing helpers (plain INSERT works as well; these only save typing)

CREATE FUNCTION push.send(recipient text, title text, body text DEFAULT '',
                          kind text DEFAULT 'notice', data jsonb DEFAULT NULL, link text DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO push.message (recipient, title, body, kind, data, link)
        VALUES (recipient, title, body, kind, data, link) RETURNING id;
$$;

CREATE FUNCTION push.broadcast(title text, body text DEFAULT '', kind text DEFAULT 'notice',
                               data jsonb DEFAULT NULL, link text DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
    SELECT push.send(NULL, title, body, kind, data, link);
$$;

-- ---------------------------------------------------------------------------------------------
-- Retention. Deletes personal messages read by their recipient and older than read_age,
-- broadcasts older than broadcast_age, and, when unread_age is given, any message older than it.
-- Cursors stay valid: ids are never reused and streams never go back, so "after cursor C" still
-- means exactly what the client has not seen. Returns the number of messages deleted.
CREATE FUNCTION push.prune(read_age interval DEFAULT '30 days',
                           broadcast_age interval DEFAULT '90 days',
                           unread_age interval DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM push.message m
        WHERE (m.recipient IS NOT NULL AND m.created_at < now() - read_age
               AND push.is_read(m.recipient, m.id, false, m.kind))
           OR (m.recipient IS NULL AND m.created_at < now() - broadcast_age)
           OR (unread_age IS NOT NULL AND m.created_at < now() - unread_age)
        RETURNING 1)
    SELECT count(*) FROM gone;
$$;

UPDATE push.meta SET schema_version = 1;

COMMIT;
