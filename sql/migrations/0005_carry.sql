-- 0005_carry.sql: pgpush schema version 5: the wake-up carries the message, sealed, and each
-- message names the one before it in its stream
--
-- Run through install.sql, never alone. Until version 4 a notification only named a user, and
-- every woken program read the new rows back: PostgreSQL was on the path of every delivery. Now:
--
-- * push.stream.last_id is the last id drawn in each stream (a recipient's, or '' for the broadcast
--   stream), and push.message.prev_id the id before a message's own in its stream (0 for a stream's
--   first). The BEFORE INSERT trigger already holds the stream's row lock while it draws the id, so
--   the chain has no hole: a message's prev_id is exactly the previous message of its stream, in
--   commit order. A program that has delivered everything of a stream up to id X, and is woken by
--   a message whose prev_id is X, knows that message is the next one: it sends it from the wake-up
--   and reads nothing. Any other prev_id (it missed a wake-up, a message was deleted) makes it read
--   from its cursor, as before.
-- * The AFTER INSERT statement trigger sends, for each of up to 64 new rows in id order, the whole
--   message in its notification, SEALED: AES-256-CBC with a random IV, then HMAC-SHA-256 over the IV
--   and the ciphertext (encrypt-then-MAC), with the two keys of push.wake_key. Any role that can
--   connect may LISTEN (PostgreSQL has no privilege for it), so a notification's content must be
--   worth nothing without the keys: push.wake_key is readable by the programs' role (push_reader)
--   and the owner, as push.message is, and by no publisher. The payload:
--
--       'm:' base64(iv(16) ciphertext hmac(32)) ':' target        target = 'u:' user | '*'
--
--   The target is in clear, as it was before (a notification named its user already), so that a
--   program that cannot open the seal still wakes the right streams, which then read. A message
--   whose JSON is longer than 5,600 bytes (the payload must stay under PostgreSQL's 8,000) is
--   notified as before, with the target only. So are statements of more than 64 rows.
-- * The seal needs pgcrypto (a trusted extension: the database's owner may create it). When it is
--   not installed yet it is created in a schema of its own, push_crypto (its functions belong to
--   the bootstrap superuser, whatever role installs it: kept out of schema push, whose privileges
--   install.sql sets in full); when it is installed elsewhere, that schema is used. Either way the
--   trigger names its functions with their schema.
-- * push.unread_view(u) is push.unread plus what a program must know to keep the counts in memory
--   after a read: the heads of u's two streams and the highest read-state watermarks (a new message
--   above them is unread), all read in the statement's one snapshot.

BEGIN;

DO $ext$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pgcrypto') THEN
        CREATE SCHEMA IF NOT EXISTS push_crypto;
        CREATE EXTENSION pgcrypto WITH SCHEMA push_crypto;
    END IF;
END $ext$;

ALTER TABLE push.stream ADD COLUMN last_id bigint NOT NULL DEFAULT 0;
UPDATE push.stream s
    SET last_id = coalesce((SELECT max(m.id) FROM push.message m
                            WHERE m.recipient IS NOT DISTINCT FROM nullif(s.recipient, '')), 0);
ALTER TABLE push.message ADD COLUMN prev_id bigint;

-- the keys that seal the notifications (see the top of this file); one row
CREATE TABLE push.wake_key (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    enc bytea NOT NULL CHECK (octet_length(enc) = 32),
    mac bytea NOT NULL CHECK (octet_length(mac) = 32)
);

DO $keys$
DECLARE
    ext text := (SELECT extnamespace::regnamespace::text FROM pg_catalog.pg_extension
                 WHERE extname = 'pgcrypto');
BEGIN
    EXECUTE format('INSERT INTO push.wake_key (enc, mac) VALUES (%1$s.gen_random_bytes(32), '
                   '%1$s.gen_random_bytes(32))', ext);
END $keys$;

-- BEFORE INSERT: lock the stream, draw the id, and chain it to the stream's last
CREATE OR REPLACE FUNCTION push.message_assign_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stream_key text := coalesce(NEW.recipient, '');
    last bigint;
BEGIN
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

-- AFTER INSERT, once per statement: register new kinds, then wake listeners with each message
-- sealed (up to 64 rows); past that, the bounded plain wake-ups of version 1. Made here with the
-- pgcrypto functions named in their schema (%1$I), so that its search_path stays pg_catalog's.
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
            IF k.enc IS NULL OR octet_length(msg) > 5600 THEN
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

-- CREATE OR REPLACE set them back to the defaults: as the owner, with a fixed search_path (0004)
ALTER FUNCTION push.message_assign_id()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION push.message_inserted()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- the chain is part of a message's place in its stream: it never changes
CREATE OR REPLACE FUNCTION push.message_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.recipient IS DISTINCT FROM OLD.recipient
       OR NEW.prev_id IS DISTINCT FROM OLD.prev_id THEN
        RAISE EXCEPTION 'push.message: id, recipient and prev_id cannot change'
            USING HINT = 'Delete the message and insert a new one.';
    END IF;
    RETURN NEW;
END $$;

-- push.unread's rows, each with u's heads (p, b) and highest watermarks (mark_p, mark_b), in one
-- snapshot; one row with kind NULL when nothing is unread
CREATE FUNCTION push.unread_view(u text)
RETURNS TABLE (kind text, n bigint, p bigint, b bigint, mark_p bigint, mark_b bigint)
STABLE LANGUAGE sql AS $$
    SELECT c.kind, c.n, v.p, v.b, v.mark_p, v.mark_b
    FROM (SELECT coalesce((SELECT max(id) FROM push.message WHERE recipient = u), 0) AS p,
                 coalesce((SELECT max(id) FROM push.message WHERE recipient IS NULL), 0) AS b,
                 greatest(coalesce((SELECT read_p FROM push.reader WHERE recipient = u), 0),
                          coalesce((SELECT max(read_p) FROM push.reader_kind WHERE recipient = u), 0))
                     AS mark_p,
                 greatest(coalesce((SELECT read_b FROM push.reader WHERE recipient = u), 0),
                          coalesce((SELECT max(read_b) FROM push.reader_kind WHERE recipient = u), 0))
                     AS mark_b) v
    LEFT JOIN push.unread(u) c ON true
$$;

UPDATE push.meta SET schema_version = 5;

COMMIT;
