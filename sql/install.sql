-- install.sql: installs or upgrades the pgpush schema in the current database; safe to run again
--
--   psql -v ON_ERROR_STOP=1 -d YOURDB -f sql/install.sql
--
-- Each migration in migrations/ runs once, in its own transaction, in order; the version reached is
-- kept in push.meta.schema_version, which the programs check at connect time. Then the roles
-- push_reader (the programs) and push_publisher (a site's backend) are granted what they may do.
-- It needs no superuser: the database's owner runs it (and creates the two roles when they do not
-- exist yet, which takes CREATEROLE).
\set ON_ERROR_STOP on
\set QUIET on
SET client_min_messages = warning;

-- one installer at a time (two at once would both see version 0)
SELECT pg_advisory_lock(hashtext('pgpush schema install')) AS locked \gset

-- The roles the grants at the end name (README "Database roles"), first: when they cannot be made,
-- nothing is changed. Roles belong to the whole cluster; when the owner running this may not create
-- roles (no CREATEROLE), a database administrator creates them once.
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['push_reader', 'push_publisher'] LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r);
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by an install into another database of the cluster
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'pgpush: the role % does not exist, and % may not create roles', r, current_user
                    USING HINT = 'Have a database administrator run once: CREATE ROLE push_reader NOLOGIN; '
                                 'CREATE ROLE push_publisher NOLOGIN; then run install.sql again.';
        END;
    END LOOP;
END $roles$;

CREATE SCHEMA IF NOT EXISTS push;
CREATE TABLE IF NOT EXISTS push.meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    schema_version integer NOT NULL DEFAULT 0,
    content_version bigint NOT NULL DEFAULT 0
);
INSERT INTO push.meta (singleton) VALUES (true) ON CONFLICT DO NOTHING;

SELECT schema_version < 1 AS need_0001 FROM push.meta \gset
\if :need_0001
\ir migrations/0001_init.sql
\endif
SELECT schema_version < 2 AS need_0002 FROM push.meta \gset
\if :need_0002
\ir migrations/0002_inline_reads.sql
\endif
SELECT schema_version < 3 AS need_0003 FROM push.meta \gset
\if :need_0003
\ir migrations/0003_mqtt.sql
\endif
SELECT schema_version < 4 AS need_0004 FROM push.meta \gset
\if :need_0004
\ir migrations/0004_roles.sql
\endif
SELECT schema_version < 5 AS need_0005 FROM push.meta \gset
\if :need_0005
\ir migrations/0005_carry.sql
\endif
SELECT schema_version < 6 AS need_0006 FROM push.meta \gset
\if :need_0006
\ir migrations/0006_timeline.sql
\endif
SELECT schema_version < 7 AS need_0007 FROM push.meta \gset
\if :need_0007
\ir migrations/0007_changes.sql
\endif
SELECT schema_version < 8 AS need_0008 FROM push.meta \gset
\if :need_0008
\ir migrations/0008_webpush.sql
\endif

-- What the roles may do, set in full on every run: a database that came up through the migrations
-- ends with exactly the grants of a fresh install, and the tables of later migrations are covered.
BEGIN;
REVOKE ALL ON ALL TABLES IN SCHEMA push FROM push_reader, push_publisher;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA push FROM push_reader, push_publisher;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA push FROM PUBLIC, push_reader, push_publisher;
REVOKE ALL ON SCHEMA push FROM push_reader, push_publisher;
GRANT USAGE ON SCHEMA push TO push_reader, push_publisher;

-- push_reader, the programs: they read every table of the schema, and change read state (and
-- push-mqtt's cursors) only through the functions, which run as the owner (0004_roles.sql)
-- (push.wake_key too: the keys that open the sealed notifications, 0005_carry.sql; push-webpush's
-- subscriptions and their cursors through the push.webpush_* functions, 0008_webpush.sql)
GRANT SELECT ON ALL TABLES IN SCHEMA push TO push_reader;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA push TO push_reader;  -- push.state reads the last id drawn
GRANT EXECUTE ON FUNCTION
    push.state(text), push.messages_after(text, bigint, bigint, integer, text[]),
    push.messages_newest(text, integer, text[]), push.unread(text), push.unread_view(text),
    push.visible(boolean, timestamptz), push.expire_due(),
    push.mark_read(text, bigint), push.mark_read_upto(text, bigint, bigint), push.mark_all_read(text),
    push.mark_kind_read(text, text), push.mark_kind_read(text, text, bigint, bigint),
    push.mqtt_acked(text), push.mqtt_ack(text, bigint), push.mqtt_pending(text, integer),
    push.mqtt_seen(text), push.mqtt_users(text, integer),
    push.timeline(), push.follow_timeline(),
    push.webpush_subscribe(text, text, text, text, text, integer), push.webpush_unsubscribe(text, text),
    push.webpush_ack(bigint, text, text, bigint, bigint), push.webpush_failed(bigint, text, bigint),
    push.webpush_gone(bigint), push.webpush_set_key(text), push.webpush_due(text, bigint, integer), push.webpush_next_retry()
    TO push_reader;

-- push_publisher, a site's backend: INSERT INTO push.message (RETURNING id too), push.send,
-- push.broadcast, push.edit, push.retract and push.expire (0007_changes.sql), and the schema's
-- version (push.meta, which every connection of the programs reads first); nothing else to read. The triggers do the rest as the owner.
GRANT INSERT, SELECT (id) ON push.message TO push_publisher;
GRANT SELECT ON push.meta TO push_publisher;
GRANT EXECUTE ON FUNCTION
    push.send(text, text, text, text, jsonb, text), push.broadcast(text, text, text, jsonb, text),
    push.edit(bigint, text, text, text, jsonb, text, boolean), push.retract(bigint),
    push.expire(bigint, timestamptz)
    TO push_publisher;
COMMIT;

SELECT pg_advisory_unlock(hashtext('pgpush schema install')) AS unlocked \gset
\unset QUIET
SELECT 'pgpush schema at version ' || schema_version AS status FROM push.meta;
