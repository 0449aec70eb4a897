-- 0008_webpush.sql: pgpush schema version 8: Web Push subscriptions and their cursors
--
-- Run through install.sql, never alone. README "Web Push".
--
-- A browser's push subscription (the Push API's PushSubscription: an endpoint at its vendor's push
-- service and the two keys the payload is encrypted for) belongs to one user. push-poll registers
-- and removes them for the user who asks (push.webpush_subscribe, push.webpush_unsubscribe), and
-- push-webpush sends each of them the user's new messages, encrypted (RFC 8291), in stream order.
--
-- Each subscription carries its own cursor (sent_p, sent_b: the positions in the user's stream and
-- in the broadcasts' stream of the last entry its push service accepted, 201), moved only after the
-- push service accepted, and only forward. A new subscription starts at the streams' heads: a
-- browser that just subscribed is not sent the user's history.
--
-- Everything here is written through functions that run as the owner (SECURITY DEFINER, as
-- 0004_roles.sql): push_reader, the programs' role, may read the table and nothing more.

BEGIN;

CREATE TABLE push.webpush_subscription (
    id bigserial PRIMARY KEY,
    recipient text NOT NULL CHECK (recipient <> ''),
    -- the push service's URL for this browser; unique: a browser profile has one per site and
    -- key, and it belongs to whoever registered it last (a shared computer, another login)
    endpoint text NOT NULL UNIQUE CHECK (length(endpoint) BETWEEN 12 AND 1024),
    p256dh text NOT NULL CHECK (p256dh ~ '^[A-Za-z0-9_-]{87}$'),  -- 65 bytes, base64url
    auth text NOT NULL CHECK (auth ~ '^[A-Za-z0-9_-]{22}$'),      -- 16 bytes, base64url
    user_agent text CHECK (length(user_agent) <= 256),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_success timestamptz,
    failures integer NOT NULL DEFAULT 0,             -- in a row; 0 after a delivery
    last_error text CHECK (length(last_error) <= 200),
    retry_at timestamptz,                            -- after a failure: not tried again before
    sent_p bigint NOT NULL,
    sent_b bigint NOT NULL
);
CREATE INDEX webpush_subscription_recipient ON push.webpush_subscription (recipient);

-- The VAPID public key push-webpush signs with (it writes it at start): push-poll gives it to the
-- browser for PushManager.subscribe (applicationServerKey). One row.
CREATE TABLE push.webpush_vapid (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    public_key text NOT NULL CHECK (public_key ~ '^[A-Za-z0-9_-]{87}$'),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Registers (or takes over) a subscription for u, at the streams' heads; a re-registration of the
-- same endpoint by the same user with the same keys keeps its cursor (nothing is sent twice, or
-- skipped). Past max_per_user subscriptions of u, the ones longest without a delivery go. Returns
-- the subscription's id.
CREATE FUNCTION push.webpush_subscribe(u text, ep text, key_p256dh text, key_auth text, ua text,
                                       max_per_user integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sid bigint;
    head_p bigint;
    head_b bigint;
BEGIN
    -- one registration of u at a time: the bound below holds under concurrent ones
    PERFORM pg_advisory_xact_lock(hashtext('pgpush webpush'), hashtext(u));
    SELECT s.p, s.b INTO head_p, head_b FROM push.state(u) s;
    INSERT INTO push.webpush_subscription AS w (recipient, endpoint, p256dh, auth, user_agent,
                                                sent_p, sent_b)
    VALUES (u, ep, key_p256dh, key_auth, ua, head_p, head_b)
    ON CONFLICT (endpoint) DO UPDATE
        SET recipient = excluded.recipient, p256dh = excluded.p256dh, auth = excluded.auth,
            user_agent = excluded.user_agent, failures = 0, last_error = NULL, retry_at = NULL,
            created_at = CASE WHEN w.recipient = excluded.recipient THEN w.created_at ELSE now() END,
            last_success = CASE WHEN w.recipient = excluded.recipient THEN w.last_success END,
            -- another user's browser now, or new keys: from the heads, as a new subscription
            sent_p = CASE WHEN (w.recipient, w.p256dh, w.auth)
                               = (excluded.recipient, excluded.p256dh, excluded.auth)
                          THEN w.sent_p ELSE excluded.sent_p END,
            sent_b = CASE WHEN (w.recipient, w.p256dh, w.auth)
                               = (excluded.recipient, excluded.p256dh, excluded.auth)
                          THEN w.sent_b ELSE excluded.sent_b END
    RETURNING w.id INTO sid;
    DELETE FROM push.webpush_subscription d
    WHERE d.id IN (SELECT o.id FROM push.webpush_subscription o
                   WHERE o.recipient = u AND o.id <> sid
                   ORDER BY coalesce(o.last_success, o.created_at) DESC, o.id DESC
                   OFFSET greatest(max_per_user - 1, 0));
    RETURN sid;
END
$$;

-- Removes u's subscription at ep (another user's is never touched): whether there was one.
CREATE FUNCTION push.webpush_unsubscribe(u text, ep text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM push.webpush_subscription w
               WHERE w.recipient = u AND w.endpoint = ep RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;

-- The push service accepted what was sent up to (p, b): the cursor moves there, never back. Only
-- while the subscription is still u's with the keys it was read with (key_auth): false when it was
-- removed, taken over by another user or given new keys meanwhile, and the sender drops what it
-- holds of it (a push read for one user never goes on to another's browser).
CREATE FUNCTION push.webpush_ack(sid bigint, u text, key_auth text, p bigint, b bigint)
RETURNS boolean LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH a AS (UPDATE push.webpush_subscription
               SET sent_p = greatest(sent_p, p), sent_b = greatest(sent_b, b), last_success = now(),
                   failures = 0, last_error = NULL, retry_at = NULL
               WHERE id = sid AND recipient = u AND auth = key_auth RETURNING 1)
    SELECT count(*) > 0 FROM a
$$;

-- A failure the sender will retry (429, 5xx, no answer, 400/401/403), with its reason, not before
-- wait_ms from now: meanwhile push.webpush_due leaves it out, so that it holds no place among the
-- subscriptions the sender works on. Returns the failures in a row, this one included.
CREATE FUNCTION push.webpush_failed(sid bigint, why text, wait_ms bigint) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE push.webpush_subscription
    SET failures = failures + 1, last_error = left(why, 200),
        retry_at = now() + make_interval(secs => greatest(wait_ms, 0) / 1000.0)
    WHERE id = sid
    RETURNING failures
$$;

-- The push service says the subscription is gone (404, 410): it is removed.
CREATE FUNCTION push.webpush_gone(sid bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM push.webpush_subscription WHERE id = sid
$$;

-- push-webpush's key, recorded at its start.
CREATE FUNCTION push.webpush_set_key(k text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO push.webpush_vapid (public_key) VALUES (k)
    ON CONFLICT (singleton) DO UPDATE SET public_key = excluded.public_key, updated_at = now()
    WHERE push.webpush_vapid.public_key <> excluded.public_key
$$;

-- Subscriptions with something after their cursor (a message, a change) and not waiting after a
-- failure, by id after after_id: at start, on a broadcast and after a lost connection; u not NULL:
-- that user's only. retry: the first time a waiting one may be tried again (NULL: none waits).
CREATE FUNCTION push.webpush_next_retry() RETURNS timestamptz
STABLE LANGUAGE sql AS $$
    SELECT min(retry_at) FROM push.webpush_subscription WHERE retry_at > now()
$$;

CREATE FUNCTION push.webpush_due(u text, after_id bigint, lim integer)
RETURNS TABLE (id bigint, recipient text, endpoint text, p256dh text, auth text, sent_p bigint,
               sent_b bigint, failures integer)
STABLE LANGUAGE sql AS $$
    SELECT w.id, w.recipient, w.endpoint, w.p256dh, w.auth, w.sent_p, w.sent_b, w.failures
    FROM push.webpush_subscription w
    WHERE w.id > after_id AND (u IS NULL OR w.recipient = u)
      AND (w.retry_at IS NULL OR w.retry_at <= now())
      AND (coalesce((SELECT s.last_id FROM push.stream s WHERE s.recipient = w.recipient), 0) > w.sent_p
           OR coalesce((SELECT s.last_id FROM push.stream s WHERE s.recipient = ''), 0) > w.sent_b)
    ORDER BY w.id
    LIMIT lim
$$;

UPDATE push.meta SET schema_version = 8;

COMMIT;
