-- bench/wakeup.sql: the wake-up channels bench/wakeup.sh measures, over an installed pgpush schema
--
-- Not part of the schema: bench/wakeup.sh runs it in its own database after sql/install.sql, then
-- puts one of these functions behind the trigger message_inserted (AFTER INSERT, once per
-- statement), or none:
--   push.message_inserted  today's: one NOTIFY 'u:<user>' per user; the programs then read the rows
--   push.wake_json         one NOTIFY per new row, carrying the row as JSON (plaintext)
--   push.wake_sealed       the same JSON, sealed: base64(iv || AES-256-CBC(json) || HMAC-SHA256 of
--                          iv || ciphertext), keys in push.wake_key, which only the owner and
--                          push_reader may read (any role that may connect may LISTEN)
-- A payload that would not fit NOTIFY's 8,000 bytes falls back to today's 'u:<user>'.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public;

CREATE TABLE push.wake_key (
    enc bytea NOT NULL CHECK (octet_length(enc) = 32),
    mac bytea NOT NULL CHECK (octet_length(mac) = 32)
);
REVOKE ALL ON push.wake_key FROM PUBLIC;
GRANT SELECT ON push.wake_key TO push_reader;
INSERT INTO push.wake_key VALUES (public.gen_random_bytes(32), public.gen_random_bytes(32));

CREATE FUNCTION push.wake_json() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO push.kind (name) SELECT DISTINCT kind FROM new_rows ON CONFLICT DO NOTHING;
    PERFORM pg_notify('pgpush', CASE WHEN octet_length(p) < 8000 THEN p
                                     ELSE 'u:' || coalesce(recipient, '*') END)
        FROM (SELECT n.id, n.recipient, row_to_json(n)::text AS p FROM new_rows n ORDER BY n.id) r;
    RETURN NULL;
END $$;

-- The sealing is written out inside the trigger, the keys read once per statement: a SQL function
-- sealing one payload (SECURITY DEFINER, SET search_path: never inlined, its body planned again at
-- every statement) made a single-row INSERT about 0.1 ms slower than this (pgbench -c 1).
CREATE FUNCTION push.wake_sealed() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
BEGIN
    INSERT INTO push.kind (name) SELECT DISTINCT kind FROM new_rows ON CONFLICT DO NOTHING;
    SELECT enc, mac INTO k FROM push.wake_key;
    PERFORM pg_notify('pgpush', CASE WHEN octet_length(p) < 8000 THEN p
                                     ELSE 'u:' || coalesce(recipient, '*') END)
        FROM (SELECT n.id, n.recipient,
                     translate(encode(e.c || public.hmac(e.c, k.mac, 'sha256'), 'base64'), E'\n', '') AS p
              FROM new_rows n,
                   LATERAL (SELECT r.iv || public.encrypt_iv(convert_to(row_to_json(n)::text, 'UTF8'),
                                                             k.enc, r.iv, 'aes-cbc/pad:pkcs') AS c
                            FROM (SELECT public.gen_random_bytes(16) AS iv, n.id) r) e
              ORDER BY n.id) x;
    RETURN NULL;
END $$;

-- a role that may connect and nothing else (the privilege row)
DO $$
BEGIN
    CREATE ROLE wake_nosy LOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;
END $$;
