-- 0007_changes.sql: pgpush schema version 7: edits, retractions and expiry reach every client, in
-- order with the messages, and exactly across reconnects; reads may keep to some kinds
--
-- Run through install.sql, never alone. Until version 6 an edit or a deletion only bumped
-- push.meta.content_version and woke everyone: open pages kept what they were shown, and a client
-- that resumed never learned of it. Now:
--
-- * push.change, the change log. An UPDATE of a message's content, a DELETE, or its expiry writes
--   one row, which takes its id from the message's own stream exactly as a new message does
--   (push.stream_next: the stream's row lock, the id sequence, the chain of prev_ids). So a change
--   has a position in the user's stream, after everything committed before it and before everything
--   committed after it: "what changed after cursor (p, b)" is the changes of the user's stream with
--   id > p and of the broadcast stream with id > b, as for messages. A broadcast's change is one row,
--   whatever the number of users.
-- * The reads (push.messages_after) return the changes with the messages, in stream order, each
--   row named by op: 'message', 'update' (the message as it is now, with its original position, so
--   its cursor still marks read up to it), 'delete' (its id only). A change is returned only for a
--   message at or below the cursor (one the client may hold); a message above it is returned as it
--   is now, and one deleted meanwhile not at all. A message's changes after the cursor come as one
--   row, at the last one's position. A last row, op 'head', gives the heads of the user's two
--   streams in the same snapshot: a read that was not cut by its limit has seen everything up to
--   them, including changes it had no reason to return.
-- * Expiry: push.message.expires_at. From that time no read returns the message and no count has
--   it. push.expire_due(), called by every program at the next expiry time (one timer per
--   process), marks the due messages expired, which logs their 'delete': open clients get it then,
--   and a client that resumes later gets it from the log. An UPDATE that moves expires_at to the
--   future shows the message again (an 'update'). push.prune() removes expired messages.
-- * Kinds: the reads take an optional array of kinds; messages of other kinds are skipped, and an
--   edit that moves a message out of them is a 'delete' for that reader.
-- * push.edit, push.retract, push.expire: the API for a site's backend (push_publisher). A plain
--   UPDATE or DELETE by the owner does the same: the triggers log every change, however it is made.
-- * The heads in push.state and push.unread_view are now push.stream.last_id: the last id drawn in
--   each stream and committed, a message's or a change's.

BEGIN;

ALTER TABLE push.message ADD COLUMN expires_at timestamptz;
ALTER TABLE push.message ADD COLUMN expired boolean NOT NULL DEFAULT false;

-- the reads and the counts visit these: now with what decides visibility, for index-only scans
DROP INDEX push.message_recipient_id;
DROP INDEX push.message_broadcast_id;
CREATE INDEX message_recipient_id ON push.message (recipient, id) INCLUDE (kind, expired, expires_at)
    WHERE recipient IS NOT NULL;
CREATE INDEX message_broadcast_id ON push.message (id) INCLUDE (kind, expired, expires_at)
    WHERE recipient IS NULL;
-- the next expiry (push.expire_due)
CREATE INDEX message_expiry ON push.message (expires_at) WHERE NOT expired AND expires_at IS NOT NULL;

CREATE TABLE push.change (
    id bigint PRIMARY KEY,          -- drawn in the message's stream (push.stream_next)
    recipient text,                 -- the message's stream: its recipient, NULL for a broadcast
    message_id bigint NOT NULL,     -- (no reference: the message may be gone)
    op text NOT NULL CHECK (op IN ('update', 'delete')),
    kind_before text NOT NULL,      -- the message's kind before the change
    kind text,                      -- and after an update
    prev_id bigint NOT NULL,        -- the id before this one in the stream
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_recipient_id ON push.change (recipient, id) WHERE recipient IS NOT NULL;
CREATE INDEX change_broadcast_id ON push.change (id) WHERE recipient IS NULL;
CREATE INDEX change_at ON push.change (at);

-- The next position in a stream ('' the broadcast stream): locks the stream's row until commit,
-- draws an id and chains it to the stream's last (see 0001 and 0005 for why). For the changes; the
-- INSERT trigger does the same inline, where a function call would cost every publisher.
CREATE FUNCTION push.stream_next(stream_key text, OUT id bigint, OUT prev bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT h.timeline FROM push.history h) IS DISTINCT FROM push.timeline() THEN
        PERFORM push.follow_timeline();
    END IF;
    SELECT s.last_id INTO prev FROM push.stream s WHERE s.recipient = stream_key FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO push.stream AS s (recipient) VALUES (stream_key)
            ON CONFLICT (recipient) DO UPDATE SET recipient = s.recipient
            RETURNING s.last_id INTO prev;
    END IF;
    id := nextval('push.message_id_seq');
    UPDATE push.stream SET last_id = stream_next.id WHERE recipient = stream_key;
END $$;

-- a row of push.message visible now
CREATE FUNCTION push.visible(expired boolean, expires_at timestamptz) RETURNS boolean
STABLE LANGUAGE sql AS $$
    SELECT NOT expired AND (expires_at IS NULL OR expires_at > now())
$$;

-- BEFORE UPDATE, each row (after message_guard_update, by name): expired follows expires_at; a
-- change clients can see is logged.
CREATE FUNCTION push.message_log_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was boolean := NOT OLD.expired; -- clients may hold it (its expiry, when past, not logged yet)
    op text;
    d record;
BEGIN
    NEW.expired := NEW.expires_at IS NOT NULL AND NEW.expires_at <= now();
    IF was AND NEW.expired THEN
        op := 'delete';
    ELSIF NOT NEW.expired AND (NOT was OR (NEW.kind, NEW.title, NEW.body, NEW.data, NEW.link, NEW.created_at)
                                   IS DISTINCT FROM (OLD.kind, OLD.title, OLD.body, OLD.data, OLD.link, OLD.created_at)) THEN
        op := 'update';
    ELSE
        RETURN NEW; -- nothing a client sees changed (expires_at moved; an expired message edited)
    END IF;
    IF NEW.kind <> OLD.kind THEN
        INSERT INTO push.kind (name) VALUES (NEW.kind) ON CONFLICT DO NOTHING;
    END IF;
    SELECT * INTO d FROM push.stream_next(coalesce(NEW.recipient, ''));
    INSERT INTO push.change (id, recipient, message_id, op, kind_before, kind, prev_id)
        VALUES (d.id, NEW.recipient, NEW.id, op, OLD.kind,
                CASE WHEN op = 'update' THEN NEW.kind END, d.prev);
    RETURN NEW;
END $$;

CREATE TRIGGER message_log_update BEFORE UPDATE ON push.message
    FOR EACH ROW EXECUTE FUNCTION push.message_log_update();

-- BEFORE DELETE, each row: the deletion of a message not expired is logged, except push.prune's (which
-- removes what is old, read or expired: open pages keep those until they reload)
CREATE FUNCTION push.message_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    IF OLD.expired OR current_setting('push.pruning', true) = 'on' THEN
        RETURN OLD;
    END IF;
    SELECT * INTO d FROM push.stream_next(coalesce(OLD.recipient, ''));
    INSERT INTO push.change (id, recipient, message_id, op, kind_before, kind, prev_id)
        VALUES (d.id, OLD.recipient, OLD.id, 'delete', OLD.kind, NULL, d.prev);
    RETURN OLD;
END $$;

CREATE TRIGGER message_log_delete BEFORE DELETE ON push.message
    FOR EACH ROW EXECUTE FUNCTION push.message_log_delete();

-- AFTER UPDATE or DELETE, once per statement: bump content_version (part of every short poll's
-- ETag) and wake the streams of the users whose messages changed (at most 64; past that, or for a
-- broadcast, everyone). The wake-up carries nothing: the woken streams read.
CREATE OR REPLACE FUNCTION push.message_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    users text[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM changed_rows) THEN
        RETURN NULL;
    END IF;
    UPDATE push.meta SET content_version = content_version + 1;
    IF EXISTS (SELECT 1 FROM changed_rows WHERE expires_at IS NOT NULL AND NOT expired) THEN
        PERFORM pg_notify('pgpush', 'x'); -- an expiry may have been set: the timers look again
    END IF;
    IF EXISTS (SELECT 1 FROM changed_rows WHERE recipient IS NULL) THEN
        PERFORM pg_notify('pgpush', '*');
        RETURN NULL;
    END IF;
    SELECT array_agg(DISTINCT recipient) INTO users
        FROM (SELECT recipient FROM changed_rows LIMIT 100000) r;
    IF cardinality(users) > 64 THEN
        PERFORM pg_notify('pgpush', '*');
    ELSE
        PERFORM pg_notify('pgpush', 'u:' || u) FROM unnest(users) u;
    END IF;
    RETURN NULL;
END $$;

ALTER FUNCTION push.message_log_update() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.message_log_delete() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.message_changed() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.stream_next(text) SET search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------------------------
-- The API for a site's backend (push_publisher), as the owner. Each returns false when there is no
-- such message.

-- new content; a NULL argument leaves that field as it is (data and link: pass 'null'::jsonb or
-- clear => true to empty them)
CREATE FUNCTION push.edit(message_id bigint, title text DEFAULT NULL, body text DEFAULT NULL,
                          kind text DEFAULT NULL, data jsonb DEFAULT NULL, link text DEFAULT NULL,
                          clear boolean DEFAULT false)
RETURNS boolean LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH e AS (
        UPDATE push.message m
        SET title = coalesce(edit.title, m.title), body = coalesce(edit.body, m.body),
            kind = coalesce(edit.kind, m.kind),
            data = CASE WHEN clear THEN edit.data ELSE coalesce(edit.data, m.data) END,
            link = CASE WHEN clear THEN edit.link ELSE coalesce(edit.link, m.link) END
        WHERE m.id = edit.message_id
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM e)
$$;

-- the message is deleted, and everyone who may hold it is told
CREATE FUNCTION push.retract(message_id bigint)
RETURNS boolean LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM push.message m WHERE m.id = retract.message_id RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;

-- the message expires at at (now or in the past: at once; NULL: never)
CREATE FUNCTION push.expire(message_id bigint, at timestamptz DEFAULT now())
RETURNS boolean LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH e AS (UPDATE push.message m SET expires_at = expire.at WHERE m.id = expire.message_id
               RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM e)
$$;

-- The programs' timer (push_reader): marks up to 1,000 due messages expired, which logs and wakes
-- as above; returns when to call again (now() when more are due; NULL: nothing will expire). Two
-- processes at once share the work (SKIP LOCKED).
CREATE FUNCTION push.expire_due() RETURNS timestamptz LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    UPDATE push.message m SET expired = true
        WHERE m.id IN (SELECT x.id FROM push.message x
                       WHERE NOT x.expired AND x.expires_at <= now()
                       ORDER BY x.expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 1000 THEN
        RETURN now();
    END IF;
    RETURN (SELECT min(x.expires_at) FROM push.message x
            WHERE NOT x.expired AND x.expires_at IS NOT NULL);
END $$;

-- ---------------------------------------------------------------------------------------------
-- Reading

-- the state: the heads are the streams' last ids (a message's or a change's); next_expiry is the
-- first expiry push.expire_due has not marked yet (Unix ms; NULL: none): once it has come, the
-- state is no longer what a read returns until it is marked (push-poll runs it, then reads again)
DROP FUNCTION push.state(text);
CREATE FUNCTION push.state(u text, OUT p bigint, OUT b bigint, OUT read_version bigint,
                           OUT content_version bigint, OUT last_id bigint, OUT next_expiry bigint)
STABLE LANGUAGE sql AS $$
    SELECT coalesce((SELECT s.last_id FROM push.stream s WHERE s.recipient = u), 0),
           coalesce((SELECT s.last_id FROM push.stream s WHERE s.recipient = ''), 0),
           coalesce((SELECT version FROM push.reader WHERE recipient = u), 0),
           (SELECT content_version FROM push.meta),
           (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM push.message_id_seq),
           (SELECT floor(extract(epoch FROM min(x.expires_at)) * 1000)::bigint FROM push.message x
            WHERE NOT x.expired AND x.expires_at IS NOT NULL)
$$;

-- Up to lim entries of u's stream after cursor (after_p, after_b), in stream order: new messages
-- and changes (see the top of this file), of the given kinds only when kinds is not NULL; then the
-- 'head' row. at_p/at_b: the position just after the entry (for a change, in its own stream only).
DROP FUNCTION push.messages_after(text, bigint, bigint, integer);
CREATE FUNCTION push.messages_after(u text, after_p bigint, after_b bigint, lim integer,
                                    kinds text[] DEFAULT NULL)
RETURNS TABLE (id bigint, broadcast boolean, kind text, title text, body text, data jsonb,
               link text, created_at text, read boolean, pos_p bigint, pos_b bigint,
               op text, at_p bigint, at_b bigint)
STABLE LANGUAGE sql AS $$
    SELECT e.id, e.broadcast, e.kind, e.title, e.body, e.data, e.link, e.created_at, e.read,
           e.pos_p, e.pos_b, e.op, a.at_p, a.at_b
    FROM (
        (SELECT x.* FROM (
            -- new messages
            SELECT m.id, m.recipient IS NULL AS broadcast, m.kind, m.title, m.body, m.data, m.link,
                   to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
                   EXISTS (SELECT 1 FROM push.reader r WHERE r.recipient = u
                           AND m.id <= CASE WHEN m.recipient IS NULL THEN r.read_b ELSE r.read_p END)
                   OR EXISTS (SELECT 1 FROM push.reader_kind k WHERE k.recipient = u AND k.kind = m.kind
                              AND m.id <= CASE WHEN m.recipient IS NULL THEN k.read_b ELSE k.read_p END)
                   OR EXISTS (SELECT 1 FROM push.message_read x WHERE x.recipient = u
                              AND x.message_id = m.id) AS read,
                   CASE WHEN m.recipient IS NOT NULL THEN m.id
                        ELSE coalesce((SELECT max(x.id) FROM push.message x
                                       WHERE x.recipient = u AND x.id < m.id), 0) END AS pos_p,
                   CASE WHEN m.recipient IS NULL THEN m.id
                        ELSE coalesce((SELECT max(x.id) FROM push.message x
                                       WHERE x.recipient IS NULL AND x.id < m.id), 0) END AS pos_b,
                   'message' AS op, m.id AS ord
            FROM ((SELECT * FROM push.message WHERE recipient = u AND id > after_p
                     AND push.visible(expired, expires_at) AND (kinds IS NULL OR kind = ANY (kinds))
                   ORDER BY id LIMIT lim)
                  UNION ALL
                  (SELECT * FROM push.message WHERE recipient IS NULL AND id > after_b
                     AND push.visible(expired, expires_at) AND (kinds IS NULL OR kind = ANY (kinds))
                   ORDER BY id LIMIT lim)) m
            UNION ALL
            -- changes of messages the client may hold, the last of each message
            SELECT c.message_id, c.recipient IS NULL, coalesce(m.kind, c.kind_before),
                   m.title, m.body, m.data, m.link,
                   to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   EXISTS (SELECT 1 FROM push.reader r WHERE r.recipient = u
                           AND m.id <= CASE WHEN m.recipient IS NULL THEN r.read_b ELSE r.read_p END)
                   OR EXISTS (SELECT 1 FROM push.reader_kind k WHERE k.recipient = u AND k.kind = m.kind
                              AND m.id <= CASE WHEN m.recipient IS NULL THEN k.read_b ELSE k.read_p END)
                   OR EXISTS (SELECT 1 FROM push.message_read x WHERE x.recipient = u
                              AND x.message_id = m.id),
                   CASE WHEN m.recipient IS NOT NULL THEN m.id
                        ELSE coalesce((SELECT max(x.id) FROM push.message x
                                       WHERE x.recipient = u AND x.id < m.id), 0) END,
                   CASE WHEN m.recipient IS NULL THEN m.id
                        ELSE coalesce((SELECT max(x.id) FROM push.message x
                                       WHERE x.recipient IS NULL AND x.id < m.id), 0) END,
                   CASE WHEN m.id IS NULL OR NOT push.visible(m.expired, m.expires_at)
                             OR (kinds IS NOT NULL AND NOT m.kind = ANY (kinds)) THEN 'delete'
                        ELSE 'update' END,
                   c.id
            FROM (SELECT DISTINCT ON (c0.message_id) c0.*
                  FROM ((SELECT * FROM push.change WHERE recipient = u AND id > after_p
                           AND message_id <= after_p
                           AND (kinds IS NULL OR kind_before = ANY (kinds) OR kind = ANY (kinds))
                         ORDER BY id LIMIT lim)
                        UNION ALL
                        (SELECT * FROM push.change WHERE recipient IS NULL AND id > after_b
                           AND message_id <= after_b
                           AND (kinds IS NULL OR kind_before = ANY (kinds) OR kind = ANY (kinds))
                         ORDER BY id LIMIT lim)) c0
                  ORDER BY c0.message_id, c0.id DESC) c
            LEFT JOIN push.message m ON m.id = c.message_id) x
         ORDER BY x.ord
         LIMIT lim)
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               coalesce((SELECT s.last_id FROM push.stream s WHERE s.recipient = u), 0),
               coalesce((SELECT s.last_id FROM push.stream s WHERE s.recipient = ''), 0),
               'head', NULL) e(id, broadcast, kind, title, body, data, link, created_at, read, pos_p, pos_b, op, ord)
    CROSS JOIN LATERAL (SELECT CASE WHEN e.op = 'message' THEN e.pos_p
                                    WHEN e.op = 'head' THEN e.pos_p
                                    WHEN NOT e.broadcast THEN e.ord ELSE 0 END,
                               CASE WHEN e.op = 'message' THEN e.pos_b
                                    WHEN e.op = 'head' THEN e.pos_b
                                    WHEN e.broadcast THEN e.ord ELSE 0 END) a(at_p, at_b)
    ORDER BY e.op = 'head', e.ord
$$;

-- the newest lim messages of u's stream (of the given kinds), oldest first, in messages_after's
-- columns (op 'message')
DROP FUNCTION push.messages_newest(text, integer);
CREATE FUNCTION push.messages_newest(u text, lim integer, kinds text[] DEFAULT NULL)
RETURNS TABLE (id bigint, broadcast boolean, kind text, title text, body text, data jsonb,
               link text, created_at text, read boolean, pos_p bigint, pos_b bigint,
               op text, at_p bigint, at_b bigint)
STABLE LANGUAGE sql AS $$
    SELECT newest.*, 'message', newest.pos_p, newest.pos_b FROM (
        SELECT m.id, m.recipient IS NULL, m.kind, m.title, m.body, m.data, m.link,
               to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               EXISTS (SELECT 1 FROM push.reader r WHERE r.recipient = u
                       AND m.id <= CASE WHEN m.recipient IS NULL THEN r.read_b ELSE r.read_p END)
               OR EXISTS (SELECT 1 FROM push.reader_kind k WHERE k.recipient = u AND k.kind = m.kind
                          AND m.id <= CASE WHEN m.recipient IS NULL THEN k.read_b ELSE k.read_p END)
               OR EXISTS (SELECT 1 FROM push.message_read x WHERE x.recipient = u
                          AND x.message_id = m.id),
               CASE WHEN m.recipient IS NOT NULL THEN m.id
                    ELSE coalesce((SELECT max(x.id) FROM push.message x
                                   WHERE x.recipient = u AND x.id < m.id), 0) END AS pos_p,
               CASE WHEN m.recipient IS NULL THEN m.id
                    ELSE coalesce((SELECT max(x.id) FROM push.message x
                                   WHERE x.recipient IS NULL AND x.id < m.id), 0) END AS pos_b
        FROM ((SELECT * FROM push.message WHERE recipient = u
                 AND push.visible(expired, expires_at) AND (kinds IS NULL OR kind = ANY (kinds))
               ORDER BY id DESC LIMIT lim)
              UNION ALL
              (SELECT * FROM push.message WHERE recipient IS NULL
                 AND push.visible(expired, expires_at) AND (kinds IS NULL OR kind = ANY (kinds))
               ORDER BY id DESC LIMIT lim)) m
        ORDER BY m.id DESC
        LIMIT lim) newest
    ORDER BY 1
$$;

-- u's unread messages counted by kind, of those visible now
CREATE OR REPLACE FUNCTION push.unread(u text) RETURNS TABLE (kind text, n bigint)
STABLE LANGUAGE sql AS $$
    WITH w AS (
        SELECT coalesce(max(read_p), 0) AS p, coalesce(max(read_b), 0) AS b
        FROM push.reader WHERE recipient = u)
    SELECT m.kind, count(*)
    FROM ((SELECT id, kind, false AS broadcast FROM push.message, w
           WHERE recipient = u AND id > w.p AND push.visible(expired, expires_at))
          UNION ALL
          (SELECT id, kind, true FROM push.message, w
           WHERE recipient IS NULL AND id > w.b AND push.visible(expired, expires_at))) m
    LEFT JOIN push.reader_kind k ON k.recipient = u AND k.kind = m.kind
    WHERE m.id > CASE WHEN m.broadcast THEN coalesce(k.read_b, 0) ELSE coalesce(k.read_p, 0) END
      AND NOT EXISTS (SELECT 1 FROM push.message_read x
                      WHERE x.recipient = u AND x.message_id = m.id)
    GROUP BY m.kind
$$;

-- push.unread with the heads (now the streams' last ids) and the highest watermarks
CREATE OR REPLACE FUNCTION push.unread_view(u text)
RETURNS TABLE (kind text, n bigint, p bigint, b bigint, mark_p bigint, mark_b bigint)
STABLE LANGUAGE sql AS $$
    SELECT c.kind, c.n, v.p, v.b, v.mark_p, v.mark_b
    FROM (SELECT coalesce((SELECT s.last_id FROM push.stream s WHERE s.recipient = u), 0) AS p,
                 coalesce((SELECT s.last_id FROM push.stream s WHERE s.recipient = ''), 0) AS b,
                 greatest(coalesce((SELECT read_p FROM push.reader WHERE recipient = u), 0),
                          coalesce((SELECT max(read_p) FROM push.reader_kind WHERE recipient = u), 0))
                     AS mark_p,
                 greatest(coalesce((SELECT read_b FROM push.reader WHERE recipient = u), 0),
                          coalesce((SELECT max(read_b) FROM push.reader_kind WHERE recipient = u), 0))
                     AS mark_b) v
    LEFT JOIN push.unread(u) c ON true
$$;

-- one message, visible now; false when u cannot see it
CREATE OR REPLACE FUNCTION push.mark_read(u text, message_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM 1 FROM push.message m
        WHERE m.id = mark_read.message_id AND (m.recipient = u OR m.recipient IS NULL)
          AND push.visible(m.expired, m.expires_at);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO push.message_read (recipient, message_id) VALUES (u, mark_read.message_id)
        ON CONFLICT DO NOTHING;
    PERFORM push.reader_touch(u);
    RETURN true;
END $$;

-- Retention, as in version 1, plus: expired messages (expired_age after their expiry) and the
-- change log's rows older than change_age. A client resuming from a cursor older than change_age
-- may miss an edit or a deletion. Removing messages here tells no open page (it removes what is
-- old, read or expired); push.retract does. Returns the number of messages deleted.
DROP FUNCTION push.prune(interval, interval, interval);
CREATE FUNCTION push.prune(read_age interval DEFAULT '30 days',
                           broadcast_age interval DEFAULT '90 days',
                           unread_age interval DEFAULT NULL,
                           expired_age interval DEFAULT '1 day',
                           change_age interval DEFAULT '30 days')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('push.pruning', 'on', true);
    WITH gone AS (
        DELETE FROM push.message m
        WHERE (m.recipient IS NOT NULL AND m.created_at < now() - read_age
               AND push.is_read(m.recipient, m.id, false, m.kind))
           OR (m.recipient IS NULL AND m.created_at < now() - broadcast_age)
           OR (unread_age IS NOT NULL AND m.created_at < now() - unread_age)
           OR (m.expires_at < now() - expired_age)
        RETURNING 1)
    SELECT count(*) INTO n FROM gone;
    DELETE FROM push.change c WHERE c.at < now() - change_age;
    PERFORM set_config('push.pruning', 'off', true);
    RETURN n;
END $$;

-- push-mqtt's catch-up: the users whose stream has gone past what the broker acknowledged, a
-- change as well as a message (the stream's last id)
CREATE OR REPLACE FUNCTION push.mqtt_pending(after_user text, lim integer) RETURNS SETOF text
STABLE LANGUAGE sql AS $$
    SELECT s.recipient FROM push.stream s
    WHERE s.recipient > after_user
      AND s.last_id > coalesce((SELECT c.acked FROM push.mqtt_cursor c WHERE c.stream = s.recipient), 0)
    ORDER BY s.recipient
    LIMIT lim
$$;

-- AFTER INSERT, once per statement (0005's), now: a message with an expiry is not carried in its
-- wake-up (its streams read it, and the read knows the time), and such a message also sends 'x',
-- on which every program runs push.expire_due again: its timer learns the new expiry.
DO $make$
DECLARE
    ext text := (SELECT extnamespace::regnamespace::text FROM pg_catalog.pg_extension
                 WHERE extname = 'pgcrypto');
BEGIN
    EXECUTE format($body$
CREATE OR REPLACE FUNCTION push.message_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    users text[];
    k record;
    r record;
    msg bytea;
    iv bytea;
    ct bytea;
    target text;
BEGIN
    INSERT INTO push.kind (name) SELECT DISTINCT kind FROM new_rows ON CONFLICT DO NOTHING;
    IF EXISTS (SELECT 1 FROM new_rows WHERE expires_at IS NOT NULL) THEN
        PERFORM pg_notify('pgpush', 'x');
    END IF;
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT 65) c) <= 64 THEN
        SELECT enc, mac INTO k FROM push.wake_key;
        FOR r IN SELECT * FROM new_rows ORDER BY id LOOP
            target := CASE WHEN r.recipient IS NULL THEN '*' ELSE 'u:' || r.recipient END;
            msg := convert_to(json_build_object(
                       'id', r.id::text, 'prev', coalesce(r.prev_id, 0)::text, 'r', r.recipient,
                       'kind', r.kind, 'title', r.title, 'body', r.body, 'data', r.data,
                       'link', r.link,
                       'created_at', to_char(r.created_at AT TIME ZONE 'UTC',
                                             'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text, 'UTF8');
            IF k.enc IS NULL OR octet_length(msg) > 5600 OR r.expires_at IS NOT NULL THEN
                PERFORM pg_notify('pgpush', target);
            ELSE
                iv := %1$I.gen_random_bytes(16);
                ct := iv || %1$I.encrypt_iv(msg, k.enc, iv, 'aes-cbc/pad:pkcs');
                PERFORM pg_notify('pgpush',
                                  'm:' || translate(encode(ct || %1$I.hmac(ct, k.mac, 'sha256'),
                                                           'base64'), E'\n', '')
                                  || ':' || target);
            END IF;
        END LOOP;
        RETURN NULL;
    END IF;
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
END $fn$ $body$, ext);
END $make$;
ALTER FUNCTION push.message_inserted() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

UPDATE push.meta SET schema_version = 7;

COMMIT;
