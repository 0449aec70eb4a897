/* push_db.c: connecting to PostgreSQL and checking the schema */
#include "config.h"

#include "store/push_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_log.h"

void push_db_init(struct push_db *db, const char *url, const char *appname)
{
    memset(db, 0, sizeof *db);
    db->url = url;
    db->appname = appname;
}


/* Logs a failure, at most once every 30 s per connection slot; the text has no newlines. */
static void complain(struct push_db *db, const char *what, const char *detail)
{
    time_t now = time(NULL);
    char one_line[300];

    if (now - db->last_complaint < 30)
        return;
    db->last_complaint = now;
    snprintf(one_line, sizeof one_line, "%s", detail ? detail : "");
    for (char *p = one_line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    push_log_error("%s%s%s", what, *one_line ? ": " : "", one_line);
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

PGconn *push_db_connect(const char *url, const char *appname)
{
    const char *keys[4], *values[4];
    int n = 0;

    /* earlier keywords are overridden by what the URL says */
    if (!getenv("PGCONNECT_TIMEOUT"))
        keys[n] = "connect_timeout", values[n++] = "5";
    if (!getenv("PGAPPNAME"))
        keys[n] = "application_name", values[n++] = appname;
    keys[n] = "dbname", values[n++] = url && *url ? url : NULL;
    PGconn *conn;

    keys[n] = NULL, values[n] = NULL;
    if (!values[n - 1])
        keys[n - 1] = NULL;
    conn = PQconnectdbParams(keys, values, 1);
    /* One plan per prepared statement, made at its first run and made again whenever the
     * tables' statistics change (autovacuum's ANALYZE). Planning messages_after or unread for
     * each run's parameters, which PostgreSQL does when their estimates look cheaper, parses and
     * inlines the function's body every time: 0.3-0.5 ms, six times the run itself. */
    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "SET plan_cache_mode = force_generic_plan"));
    /* notices (and the FATAL of a server shutting down) stay out of the error log: failures are
     * reported by the callers, once, in their own words */
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    return conn;
}

/* Reads push.meta.schema_version; PUSH_DB_OK when it is ours. */
static enum push_db_err check_schema(PGconn *conn, char *msg, size_t len)
{
    PGresult *res = PQexec(conn, "SELECT schema_version FROM push.meta");
    enum push_db_err err = PUSH_DB_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0)) {
            err = PUSH_DB_NO_SCHEMA;
            snprintf(msg, len, "the pgpush schema is not installed in this database "
                               "(run: psql -f sql/install.sql)");
        } else {
            err = PUSH_DB_UNREACHABLE;
            snprintf(msg, len, "cannot read push.meta: %s", PQerrorMessage(conn));
        }
    } else if (strtol(PQgetvalue(res, 0, 0), NULL, 10) != PUSH_SCHEMA_VERSION) {
        err = PUSH_DB_SCHEMA_VERSION;
        snprintf(msg, len, "the pgpush schema is at version %s, these programs need %d "
                           "(run: psql -f sql/install.sql)", PQgetvalue(res, 0, 0),
                 PUSH_SCHEMA_VERSION);
    }
    PQclear(res);
    return err;
}

struct schema_check {
    enum push_db_err err;
    char *msg;
    size_t len;
};

static int schema_fn(struct push_db *db, PGconn *conn, void *arg)
{
    struct schema_check *c = arg;

    (void)db;
    c->err = check_schema(conn, c->msg, c->len);
    /* a failed query on a lost connection: push_db_run reconnects and asks again */
    return c->err == PUSH_DB_UNREACHABLE && PQstatus(conn) != CONNECTION_OK;
}

enum push_db_err push_db_check(struct push_db *db, char *msg, size_t len)
{
    struct schema_check c = { PUSH_DB_OK, msg, len };
    enum push_db_err err = PUSH_DB_OK;

    if (push_db_run(db, schema_fn, &c, &err, msg, len) != PUSH_DB_RUN_OK)
        return err != PUSH_DB_OK ? err : PUSH_DB_UNREACHABLE;
    return c.err;
}

PGconn *push_db_get(struct push_db *db, enum push_db_err *err, char *msg, size_t len)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK) {
        *err = PUSH_DB_OK;
        return db->conn;
    }
    push_db_close(db);
    db->prepared = 0;
    db->conn = push_db_connect(db->url, db->appname);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        *err = PUSH_DB_UNREACHABLE;
        snprintf(msg, len, "cannot connect to PostgreSQL");
        complain(db, "cannot connect to PostgreSQL", PQerrorMessage(db->conn));
        push_db_close(db);
        return NULL;
    }
    *err = check_schema(db->conn, msg, len);
    if (*err != PUSH_DB_OK) {
        complain(db, msg, NULL);
        push_db_close(db);
        return NULL;
    }
    if (db->last_complaint) {
        push_log_info("connected to PostgreSQL again");
        db->last_complaint = 0;
    }
    return db->conn;
}

int push_db_lost(struct push_db *db)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    push_db_close(db);
    return 1;
}

enum push_db_run push_db_run(struct push_db *db, push_db_fn fn, void *arg,
                             enum push_db_err *err, char *msg, size_t len)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *conn = push_db_get(db, err, msg, len);
        if (!conn)
            return PUSH_DB_RUN_DOWN;
        if (fn(db, conn, arg) == 0)
            return PUSH_DB_RUN_OK;
        if (!push_db_lost(db)) {
            *err = PUSH_DB_UNREACHABLE;
            snprintf(msg, len, "%s", PQerrorMessage(conn));
            return PUSH_DB_RUN_FAILED;
        }
        push_log_warn("lost the database connection; reconnecting");
    }
    *err = PUSH_DB_UNREACHABLE;
    snprintf(msg, len, "lost the database connection");
    return PUSH_DB_RUN_DOWN;
}

void push_db_close(struct push_db *db)
{
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
}

void push_db_log_failure(const char *error_text)
{
    if (!*error_text)
        error_text = "an answer of an unexpected shape (is the schema of this version?)";
    push_log_error("query failed: %.*s", (int)strcspn(error_text, "\n"), error_text);
}

const char *push_db_strerror(enum push_db_err err)
{
    switch (err) {
    case PUSH_DB_OK: return "ok";
    case PUSH_DB_UNREACHABLE: return "the database is unreachable";
    case PUSH_DB_NO_SCHEMA: return "the pgpush schema is not installed";
    case PUSH_DB_SCHEMA_VERSION: return "the pgpush schema is of another version";
    }
    return "unknown database error";
}
