/* push_db.c: connecting to PostgreSQL and checking the schema */
#include "config.h"

#include "store/push_db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_log.h"

static int named_statements = 1; /* PUSH_DB_PREPARE: push_db_named_statements */

void push_db_init(struct push_db *db, const char *url, const char *appname)
{
    memset(db, 0, sizeof *db);
    db->url = url;
    db->appname = appname;
    db->server = "PostgreSQL";
    db->connect_timeout = "5";
}


/* The last failure logged by any connection of the process, and when: the slots of a pool meet
 * the same outage, which is said once (complain). */
static pthread_mutex_t said_lock = PTHREAD_MUTEX_INITIALIZER;
static char said[600];
static time_t said_at;

/* Logs a failure, at most once every 30 s per connection slot, and the same text at most once
 * every 30 s in the process; the text has no newlines. */
static void complain(struct push_db *db, const char *what, const char *detail)
{
    time_t now = time(NULL);
    char one_line[300], line[600];
    int again;

    if (now - db->last_complaint < 30)
        return;
    db->last_complaint = now;
    snprintf(one_line, sizeof one_line, "%s", detail ? detail : "");
    for (char *p = one_line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    snprintf(line, sizeof line, "%s%s%s", what, *one_line ? ": " : "", one_line);
    pthread_mutex_lock(&said_lock);
    again = strcmp(said, line) == 0 && now - said_at < 30;
    if (!again) {
        snprintf(said, sizeof said, "%s", line);
        said_at = now;
    }
    pthread_mutex_unlock(&said_lock);
    if (!again)
        push_log_error("%s", line);
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_db(const char *url, const char *appname, const char *timeout)
{
    const char *keys[4], *values[4];
    int n = 0;

    /* earlier keywords are overridden by what the URL says */
    if (!getenv("PGCONNECT_TIMEOUT"))
        keys[n] = "connect_timeout", values[n++] = timeout;
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
    if (PQstatus(conn) == CONNECTION_OK && named_statements) /* (a session setting: not through
                                                                * a transaction-mode pooler) */
        PQclear(PQexec(conn, "SET plan_cache_mode = force_generic_plan"));
    /* notices (and the FATAL of a server shutting down) stay out of the error log: failures are
     * reported by the callers, once, in their own words */
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    return conn;
}

PGconn *push_db_connect(const char *url, const char *appname)
{
    return connect_db(url, appname, "5");
}

static int allow_owner; /* PUSH_ALLOW_OWNER */

void push_db_named_statements(int on)
{
    named_statements = on;
}

int push_db_uses_named_statements(void)
{
    return named_statements;
}

int push_db_direct(PGconn *conn, char *msg, size_t len)
{
    PGresult *res = PQexec(conn, "SELECT pg_catalog.pg_backend_pid()");
    int rc = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        long server = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        int told = PQbackendPID(conn);

        rc = server == (long)told;
        if (!rc)
            snprintf(msg, len, "it goes through a connection pooler (the server's backend is %ld, "
                               "the connect said %d): a LISTEN needs a server connection of its "
                               "own, which a pooler in transaction mode does not keep; point "
                               "PUSH_LISTEN_DATABASE_URL at PostgreSQL itself (README "
                               "\"Connection poolers\")", server, told);
    } else {
        const char *e = PQerrorMessage(conn);
        snprintf(msg, len, "%.*s", (int)strcspn(e, "\n"), e);
    }
    PQclear(res);
    return rc;
}

void push_db_allow_owner(int allow)
{
    allow_owner = allow;
}

/* The one query of every new connection: the schema's version, and who we work as. A superuser,
 * or a member of the role that owns the schema push or its table push.message (whoever ran
 * install.sql), may do far more than read and mark read, and is refused unless PUSH_ALLOW_OWNER
 * says otherwise: a flaw in a program must not reach past push_reader's privileges. */
static const char check_sql[] =
    "SELECT m.schema_version, current_user,"
    " (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user),"
    " (SELECT pg_catalog.pg_has_role(n.nspowner, 'MEMBER') FROM pg_catalog.pg_namespace n"
    "   WHERE n.nspname = 'push')"
    " OR pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c"
    "   WHERE c.oid = 'push.message'::pg_catalog.regclass), 'MEMBER')"
    " FROM push.meta m";

/* What the check_sql row says of the role: PUSH_DB_OK, or PUSH_DB_ROLE with why in msg. */
static enum push_db_err check_role(const PGresult *res, struct push_db_role *role, char *msg,
                                   size_t len)
{
    snprintf(role->name, sizeof role->name, "%s", PQgetvalue(res, 0, 1));
    role->superuser = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    role->owner = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    if (allow_owner || (!role->superuser && !role->owner))
        return PUSH_DB_OK;
    snprintf(msg, len, "refusing to work as \"%s\", %s: connect as a role granted push_reader "
                       "(README \"Database roles\"), or set PUSH_ALLOW_OWNER=1 to allow it",
             role->name, role->superuser ? "a PostgreSQL superuser"
                                         : "the owner of the pgpush schema (or a member of its owner)");
    return PUSH_DB_ROLE;
}

/* Reads push.meta.schema_version and the role; PUSH_DB_OK when both are fine. */
static enum push_db_err check_schema(PGconn *conn, struct push_db_role *role, char *msg, size_t len)
{
    PGresult *res = PQexec(conn, check_sql);
    enum push_db_err err = PUSH_DB_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0)) {
            err = PUSH_DB_NO_SCHEMA;
            snprintf(msg, len, "the pgpush schema is not installed in this database "
                               "(run: psql -f sql/install.sql)");
        } else {
            err = PUSH_DB_UNREACHABLE;
            snprintf(msg, len, "cannot read push.meta: %.*s",
                     (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
        }
    } else if ((err = check_role(res, role, msg, len)) == PUSH_DB_OK /* wrong at any version */
               && strtol(PQgetvalue(res, 0, 0), NULL, 10) != PUSH_SCHEMA_VERSION) {
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

    c->err = check_schema(conn, &db->role, c->msg, c->len);
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
    db->conn = connect_db(db->url, db->appname, db->connect_timeout);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        *err = PUSH_DB_UNREACHABLE;
        snprintf(msg, len, "cannot connect to %s", db->server);
        complain(db, msg, PQerrorMessage(db->conn));
        push_db_close(db);
        return NULL;
    }
    *err = check_schema(db->conn, &db->role, msg, len);
    if (*err != PUSH_DB_OK) {
        complain(db, msg, NULL);
        push_db_close(db);
        return NULL;
    }
    if (db->last_complaint) {
        push_log_info("connected to %s again", db->server);
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
    push_log_error("query failed: %.*s%s", (int)strcspn(error_text, "\n"), error_text,
                   named_statements && strstr(error_text, "prepared statement")
                       ? " (through a connection pooler in transaction mode? set PUSH_DB_PREPARE=0: "
                         "README \"Connection poolers\")"
                       : "");
}

const char *push_db_strerror(enum push_db_err err)
{
    switch (err) {
    case PUSH_DB_OK: return "ok";
    case PUSH_DB_UNREACHABLE: return "the database is unreachable";
    case PUSH_DB_NO_SCHEMA: return "the pgpush schema is not installed";
    case PUSH_DB_SCHEMA_VERSION: return "the pgpush schema is of another version";
    case PUSH_DB_ROLE: return "the database role is a superuser or the schema's owner";
    }
    return "unknown database error";
}
