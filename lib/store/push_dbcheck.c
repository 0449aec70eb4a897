/* push_dbcheck.c: what --check does with the database */
#include "config.h"

#include "store/push_dbcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/push_store.h"

/* After a successful push_store_read_many: the results are not needed. */
static void drop(struct push_store_read *reads, int n)
{
    for (int i = 0; i < n; i++) {
        PQclear(reads[i].msgs);
        PQclear(reads[i].unread);
    }
}

int push_dbcheck_read(PGconn *conn)
{
    /* one user: the single statements; two: the batched ones (a broadcast's wake-up); each with
     * the state, as a stream's first read */
    struct push_store_read one[1] = { { .user = PUSH_DBCHECK_USER, .limit = 1, .want_state = 1 } };
    struct push_store_read two[2] = { { .user = PUSH_DBCHECK_USER, .limit = 1, .want_state = 1 },
                                      { .user = PUSH_DBCHECK_USER "-2", .limit = 1, .want_state = 1 } };
    PGresult *newest;

    if (push_store_read_many(conn, one, 1, NULL, 0) < 0)
        return -1;
    drop(one, 1);
    if (push_store_read_many(conn, two, 2, NULL, 0) < 0)
        return -1;
    drop(two, 2);
    /* the newest messages on their own: push_store_read_many would read them in a snapshot of its
     * own, and closing it clears the error this trial is to report */
    if (!(newest = push_store_messages(conn, PUSH_DBCHECK_USER, NULL, 1, NULL)))
        return -1;
    PQclear(newest);
    return 0;
}

int push_dbcheck_mark(PGconn *conn)
{
    const struct push_cursor start = { 0, 0 };
    const char *u = PUSH_DBCHECK_USER;

    if (push_store_mark_one(conn, u, 1) < 0 || push_store_mark_upto(conn, u, &start) < 0
        || push_store_mark_upto(conn, u, NULL) < 0
        || push_store_mark_kind(conn, u, "notice", &start) < 0
        || push_store_mark_kind(conn, u, "notice", NULL) < 0)
        return -1;
    return 0;
}

int push_dbcheck_publish(PGconn *conn)
{
    char id[21];

    return push_store_publish(conn, PUSH_DBCHECK_USER, "pgpush --check", "", NULL, id) == 0 ? 0 : -1;
}

int push_dbcheck_try(PGconn *conn, push_dbcheck_fn fn, char *why, size_t len)
{
    PGresult *res = PQexec(conn, "BEGIN");
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    PQclear(res);
    if (ok)
        ok = fn(conn) == 0;
    /* the reason, before the ROLLBACK clears it */
    if (!ok)
        snprintf(why, len, "%.*s", (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
    PQclear(PQexec(conn, "ROLLBACK"));
    return ok ? 0 : -1;
}

/* Every privilege on the schema push and what is in it that role $1 has and current_user has
 * not: the schema, tables, sequences, columns granted on their own, and functions. */
static const char missing_sql[] =
    "WITH r AS (SELECT pg_catalog.to_regrole($1) AS oid),"
    " rel AS (SELECT c.oid, c.relkind FROM pg_catalog.pg_class c"
    "         WHERE c.relnamespace = 'push'::pg_catalog.regnamespace),"
    " m AS ("
    "  SELECT 1 AS o, p || ' on schema push' AS what FROM r, unnest(ARRAY['USAGE', 'CREATE']) p"
    "   WHERE pg_catalog.has_schema_privilege(r.oid, 'push', p)"
    "     AND NOT pg_catalog.has_schema_privilege('push', p)"
    "  UNION ALL"
    "  SELECT 2, p || ' on ' || rel.oid::pg_catalog.regclass FROM r, rel,"
    "         unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',"
    "                      'TRIGGER']) p"
    "   WHERE rel.relkind IN ('r', 'p', 'v', 'm', 'f')"
    "     AND pg_catalog.has_table_privilege(r.oid, rel.oid, p)"
    "     AND NOT pg_catalog.has_table_privilege(rel.oid, p)"
    "  UNION ALL"
    "  SELECT 2, p || ' on ' || rel.oid::pg_catalog.regclass FROM r, rel,"
    "         unnest(ARRAY['SELECT', 'USAGE', 'UPDATE']) p"
    "   WHERE rel.relkind = 'S' AND pg_catalog.has_sequence_privilege(r.oid, rel.oid, p)"
    "     AND NOT pg_catalog.has_sequence_privilege(rel.oid, p)"
    "  UNION ALL"
    "  SELECT 3, p || ' (' || pg_catalog.quote_ident(a.attname) || ') on '"
    "         || rel.oid::pg_catalog.regclass"
    "    FROM r, rel JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0"
    "                                                AND NOT a.attisdropped,"
    "         unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p"
    "   WHERE rel.relkind IN ('r', 'p', 'v', 'm', 'f')"
    "     AND pg_catalog.has_column_privilege(r.oid, rel.oid, a.attnum, p)"
    "     AND NOT pg_catalog.has_table_privilege(r.oid, rel.oid, p)"
    "     AND NOT pg_catalog.has_column_privilege(rel.oid, a.attnum, p)"
    "  UNION ALL"
    "  SELECT 4, 'EXECUTE on ' || f.oid::pg_catalog.regprocedure FROM r, pg_catalog.pg_proc f"
    "   WHERE f.pronamespace = 'push'::pg_catalog.regnamespace"
    "     AND pg_catalog.has_function_privilege(r.oid, f.oid, 'EXECUTE')"
    "     AND NOT pg_catalog.has_function_privilege(f.oid, 'EXECUTE'))"
    " SELECT r.oid IS NOT NULL, (SELECT count(*) FROM m),"
    "        (SELECT string_agg(what, ', ' ORDER BY o, what) FROM m) FROM r";

int push_dbcheck_missing(PGconn *conn, const char *role, char *out, size_t len)
{
    const char *params[] = { role };
    PGresult *res = PQexecParams(conn, missing_sql, 1, NULL, params, NULL, NULL, 0);
    int n = -1;

    *out = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
        && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        n = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
        snprintf(out, len, "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return n;
}
