/* push_db.h: one PostgreSQL connection, opened on demand, checked against the schema version */
#ifndef PUSH_DB_H
#define PUSH_DB_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#define PUSH_SCHEMA_VERSION 8 /* the push.meta.schema_version these programs speak */

enum push_db_err {
    PUSH_DB_OK,
    PUSH_DB_UNREACHABLE,    /* cannot connect */
    PUSH_DB_NO_SCHEMA,      /* connected, but sql/install.sql was never run here */
    PUSH_DB_SCHEMA_VERSION, /* connected, the schema is of another version */
    PUSH_DB_ROLE,           /* connected as a superuser or the schema's owner (push_db_allow_owner) */
};

/* Who a connection works as, read with the schema version at connect time. */
struct push_db_role {
    char name[64];  /* current_user (NAMEDATALEN - 1 bytes at most) */
    int superuser;  /* rolsuper */
    int owner;      /* a member of the owner of the schema push or of push.message */
};

struct push_db {
    PGconn *conn;
    const char *url;       /* borrowed: PUSH_DATABASE_URL or "" */
    const char *appname;   /* borrowed: application_name */
    time_t last_complaint; /* failures are logged at most every 30 s */
    int prepared;          /* push_store's statements are prepared on conn */
    struct push_db_role role; /* of conn, once push_db_get returned it */
    const char *server;    /* what the log calls it: "PostgreSQL", or the replica's name
                            * (push_pool_replicas) */
    const char *connect_timeout; /* libpq's connect_timeout, s, unless the URL or
                                  * PGCONNECT_TIMEOUT says otherwise: "5" */
};

/* PUSH_ALLOW_OWNER: whether push_db_get may hand out a connection that works as a superuser or as
 * the schema's owner; refused otherwise (PUSH_DB_ROLE), for the programs need only push_reader's
 * privileges (README "Database roles"). Set once at start, before any thread. */
void push_db_allow_owner(int allow);

/* PUSH_DB_PREPARE: 1 (the default) prepares push_store's statements once per connection, by
 * name; 0 sends each one unnamed (PQexecParams), which a pooler in transaction mode (PgBouncer
 * before 1.21, as Debian 12 ships it) passes on whichever server connection it picks. Set once
 * at start, before any thread. */
void push_db_named_statements(int on);
int push_db_uses_named_statements(void);

/* Whether conn reaches PostgreSQL itself: 1 when the server's backend is the one libpq was told
 * of at connect time, 0 when it is not (a connection pooler answered the connect: why in msg),
 * -1 when the query failed (msg). A LISTEN must hold its server connection; through a pooler in
 * transaction or statement mode it would hear nothing, silently. */
int push_db_direct(PGconn *conn, char *msg, size_t len);

/* Opens a connection (url "" means libpq's PG* variables; connect_timeout 5 s unless
 * PGCONNECT_TIMEOUT says otherwise). Always returns a PGconn: check PQstatus. */
PGconn *push_db_connect(const char *url, const char *appname);

/* Prepares db; connects nothing yet. url "" means libpq's PG* variables. (push_pool_replicas
 * sets server and connect_timeout afterwards.) */
void push_db_init(struct push_db *db, const char *url, const char *appname);

/* The connection, (re)opened and checked if needed (the schema's version and the role, in one
 * query); NULL on failure with *err set and a sentence for people in msg. Connecting gives up
 * after PGCONNECT_TIMEOUT (default 5 s). */
PGconn *push_db_get(struct push_db *db, enum push_db_err *err, char *msg, size_t len);

/* After a failed query: is the connection lost? If so it is closed, so the next
 * push_db_get reconnects, and 1 is returned. */
int push_db_lost(struct push_db *db);

/* One run of a piece of work on db's connection, by push_db_run: 0 when done, anything else
 * when a query failed. It may run twice, so on failure it leaves nothing behind (results
 * cleared, outputs as before it ran). push_store's statements are its to prepare
 * (push_store_prepare(db, conn)). */
typedef int (*push_db_fn)(struct push_db *db, PGconn *conn, void *arg);

enum push_db_run {
    PUSH_DB_RUN_OK = 0,      /* fn returned 0 */
    PUSH_DB_RUN_DOWN = -1,   /* no connection: *err and msg say why (as push_db_get), or the
                              * new one was lost too (PUSH_DB_UNREACHABLE) */
    PUSH_DB_RUN_FAILED = 1,  /* fn failed on a connection still up: a query error, not an
                              * outage; *err is PUSH_DB_UNREACHABLE and msg holds the
                              * connection's error text ("" when PostgreSQL gave none) */
};

/* Runs fn(db, conn, arg) on db's connection, (re)opened as by push_db_get. When fn fails and
 * the connection turns out lost (PostgreSQL restarted, the pool's connection went stale), it is
 * logged, replaced and fn run once more on the new one: the one place for "retry once on a lost
 * connection". Never more than twice; never sleeps. */
enum push_db_run push_db_run(struct push_db *db, push_db_fn fn, void *arg,
                             enum push_db_err *err, char *msg, size_t len);

/* A health check: a query on db's connection (reconnected once if it was lost) that reads the
 * schema version. PUSH_DB_OK, or why not with a sentence in msg. */
enum push_db_err push_db_check(struct push_db *db, char *msg, size_t len);

void push_db_close(struct push_db *db);

/* Logs a query that failed on a connection still up (PUSH_DB_RUN_FAILED), at error level, with
 * PostgreSQL's reason (the first line of error_text). An empty text gets a reason too: no
 * PostgreSQL error, so an answer of another shape than this version reads. The one "query
 * failed" line of every program, before it answers 500 or 503. */
void push_db_log_failure(const char *error_text);

const char *push_db_strerror(enum push_db_err err);

#endif
