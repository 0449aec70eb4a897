-- install.sql: installs or upgrades the pgpush schema in the current database; safe to run again
--
--   psql -v ON_ERROR_STOP=1 -d YOURDB -f sql/install.sql
--
-- Each migration in migrations/ runs once, in its own transaction, in order; the version reached is
-- kept in push.meta.schema_version, which the programs check at connect time.
\set ON_ERROR_STOP on
\set QUIET on
SET client_min_messages = warning;

-- one installer at a time (two at once would both see version 0)
SELECT pg_advisory_lock(hashtext('pgpush schema install')) AS locked \gset

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

SELECT pg_advisory_unlock(hashtext('pgpush schema install')) AS unlocked \gset
\unset QUIET
SELECT 'pgpush schema at version ' || schema_version AS status FROM push.meta;
