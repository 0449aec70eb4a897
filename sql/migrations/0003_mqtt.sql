-- 0003_mqtt.sql: pgpush schema version 3: what the push-mqtt bridge has handed to the broker
--
-- Run through install.sql, never alone. push-mqtt publishes every stream (a user's personal
-- messages, and the broadcast stream '') to MQTT in id order, which within a stream is commit
-- order (see 0001_init.sql). push.mqtt_cursor keeps, per stream, the last message id the broker
-- acknowledged (PUBACK, QoS 1); the bridge moves it only after that acknowledgement, so after a
-- restart of the bridge, the broker or PostgreSQL it publishes again from there: nothing is
-- skipped, and a message is repeated only when its acknowledgement was lost (clients drop it:
-- its id is not above the last one they saw on that topic).

BEGIN;

CREATE TABLE push.mqtt_cursor (
    stream text PRIMARY KEY,            -- a recipient, or '' for the broadcast stream (as push.stream)
    acked bigint NOT NULL DEFAULT 0,    -- the last id of that stream the broker acknowledged
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Streams that exist now start at their head: what was sent before the bridge was installed is
-- not published (web clients had it; MQTT subscribers did not exist yet). A stream without a row
-- starts at 0: everything it ever had goes out.
INSERT INTO push.mqtt_cursor (stream, acked)
    SELECT s.recipient,
           coalesce((SELECT max(m.id) FROM push.message m
                     WHERE m.recipient IS NOT DISTINCT FROM nullif(s.recipient, '')), 0)
    FROM push.stream s;

-- the last acknowledged id of a stream ('' = broadcasts); 0 when never published
CREATE FUNCTION push.mqtt_acked(stream_key text) RETURNS bigint STABLE LANGUAGE sql AS $$
    SELECT coalesce((SELECT acked FROM push.mqtt_cursor WHERE stream = stream_key), 0)
$$;

-- records that the broker acknowledged everything of a stream up to id; never moves back
CREATE FUNCTION push.mqtt_ack(stream_key text, id bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO push.mqtt_cursor AS c (stream, acked) VALUES (stream_key, id)
        ON CONFLICT (stream) DO UPDATE SET acked = greatest(c.acked, excluded.acked),
                                           updated_at = now();
$$;

-- up to lim users after after_user (in name order) whose personal messages go beyond what the
-- broker acknowledged: what a catch-up publishes
CREATE FUNCTION push.mqtt_pending(after_user text, lim integer) RETURNS SETOF text
STABLE LANGUAGE sql AS $$
    SELECT s.recipient FROM push.stream s
    WHERE s.recipient > after_user
      AND EXISTS (SELECT 1 FROM push.message m
                  WHERE m.recipient = s.recipient
                    AND m.id > coalesce((SELECT c.acked FROM push.mqtt_cursor c
                                         WHERE c.stream = s.recipient), 0))
    ORDER BY s.recipient
    LIMIT lim
$$;

-- a user logged in over MQTT (the auth plugin says so): from now on their unread counts are kept
-- even if they never have a message of their own (push.mqtt_users)
CREATE FUNCTION push.mqtt_seen(u text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO push.mqtt_cursor (stream, acked) VALUES (u, 0) ON CONFLICT DO NOTHING;
$$;

-- up to lim users after after_user (in name order) that have unread counts to keep: everyone
-- who ever had a personal message or read state, or logged in over MQTT
CREATE FUNCTION push.mqtt_users(after_user text, lim integer) RETURNS SETOF text
STABLE LANGUAGE sql AS $$
    SELECT u FROM (SELECT recipient FROM push.stream WHERE recipient > after_user
                   UNION
                   SELECT recipient FROM push.reader WHERE recipient > after_user
                   UNION
                   SELECT stream FROM push.mqtt_cursor WHERE stream > after_user) r(u)
    WHERE u <> ''
    ORDER BY u
    LIMIT lim
$$;

UPDATE push.meta SET schema_version = 3;

COMMIT;
