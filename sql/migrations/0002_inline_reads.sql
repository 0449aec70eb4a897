-- 0002_inline_reads.sql: pgpush schema version 2: messages_after and messages_newest compute the
-- read flag and the positions in their own query
--
-- Run through install.sql, never alone. In version 1 these two called push.is_read,
-- push.position_p and push.position_b once per row. PostgreSQL cannot inline a scalar SQL
-- function whose body holds a sub-SELECT, so each call went through the SQL-function executor:
-- about 0.2 ms per call, three calls per message, on every wake-up of every stream. Written as
-- sub-SELECTs of the one query, they are planned once with it (and with the prepared statement)
-- and cost an index probe each. Results are the same, row for row.

BEGIN;

CREATE OR REPLACE FUNCTION push.messages_after(u text, after_p bigint, after_b bigint, lim integer)
RETURNS TABLE (id bigint, broadcast boolean, kind text, title text, body text, data jsonb,
               link text, created_at text, read boolean, pos_p bigint, pos_b bigint)
STABLE LANGUAGE sql AS $$
    SELECT m.id, m.recipient IS NULL, m.kind, m.title, m.body, m.data, m.link,
           to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           -- push.is_read(u, m.id, m.recipient IS NULL, m.kind)
           EXISTS (SELECT 1 FROM push.reader r WHERE r.recipient = u
                   AND m.id <= CASE WHEN m.recipient IS NULL THEN r.read_b ELSE r.read_p END)
           OR EXISTS (SELECT 1 FROM push.reader_kind k WHERE k.recipient = u AND k.kind = m.kind
                      AND m.id <= CASE WHEN m.recipient IS NULL THEN k.read_b ELSE k.read_p END)
           OR EXISTS (SELECT 1 FROM push.message_read x WHERE x.recipient = u
                      AND x.message_id = m.id),
           -- push.position_p(u, m.id, m.recipient IS NULL)
           CASE WHEN m.recipient IS NOT NULL THEN m.id
                ELSE coalesce((SELECT max(x.id) FROM push.message x
                               WHERE x.recipient = u AND x.id < m.id), 0) END,
           -- push.position_b(m.id, m.recipient IS NULL)
           CASE WHEN m.recipient IS NULL THEN m.id
                ELSE coalesce((SELECT max(x.id) FROM push.message x
                               WHERE x.recipient IS NULL AND x.id < m.id), 0) END
    FROM ((SELECT * FROM push.message WHERE recipient = u AND id > after_p ORDER BY id LIMIT lim)
          UNION ALL
          (SELECT * FROM push.message WHERE recipient IS NULL AND id > after_b ORDER BY id LIMIT lim)) m
    ORDER BY m.id
    LIMIT lim
$$;

CREATE OR REPLACE FUNCTION push.messages_newest(u text, lim integer)
RETURNS TABLE (id bigint, broadcast boolean, kind text, title text, body text, data jsonb,
               link text, created_at text, read boolean, pos_p bigint, pos_b bigint)
STABLE LANGUAGE sql AS $$
    SELECT * FROM (
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
                                   WHERE x.recipient = u AND x.id < m.id), 0) END,
               CASE WHEN m.recipient IS NULL THEN m.id
                    ELSE coalesce((SELECT max(x.id) FROM push.message x
                                   WHERE x.recipient IS NULL AND x.id < m.id), 0) END
        FROM ((SELECT * FROM push.message WHERE recipient = u ORDER BY id DESC LIMIT lim)
              UNION ALL
              (SELECT * FROM push.message WHERE recipient IS NULL ORDER BY id DESC LIMIT lim)) m
        ORDER BY m.id DESC
        LIMIT lim) newest
    ORDER BY 1
$$;

UPDATE push.meta SET schema_version = 2;

COMMIT;
