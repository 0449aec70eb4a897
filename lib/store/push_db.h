/* push_db.h: one PostgreSQL connection, opened on demand, checked against the schema version */
#ifndef PUSH_DB_H
#define PUSH_DB_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#define PUSH_SCHEMA_VERSION 3 /* the push.meta.schema_version these programs speak */

enum push_db_err {
    PUSH_DB_OK,
    PUSH_DB_UNREACHABLE,    /* cannot connect */
    PUSH_DB_NO_SCHEMA,      /* connected, but sql/install.sql was never run here */
    PUSH_DB_SCHEMA_VERSION, /* connected, the schema is of another version */
};

struct push_db {
    PGconn *conn;
    const char *url;       /* borrowed: PUSH_DATABASE_URL or "" */
    const char *appname;   /* borrowed: application_name */
    time_t last_complaint; /* failures are logged at most every 30 s */
    int prepared;          /* push_store's statements are prepared on conn */
};

/* Opens a connection (url "" means libpq's PG* variables; connect_timeout 5 s unless
 * PGCONNECT_TIMEOUT says otherwise). Always returns a PGconn: check PQstatus. */
PGconn *push_db_connect(const char *url, const char *appname);

/* Prepares db; connects nothing yet. url "" means libpq's PG* variables. */
void push_db_init(struct push_db *db, const char *url, const char *appname);

/* The connection, (re)opened and checked if needed; NULL on failure with *err set and a
 * sentence for people in msg. Connecting gives up after PGCONNECT_TIMEOUT (default 5 s). */
PGconn *push_db_get(struct push_db *db, enum push_db_err *err, char *msg, size_t len);

/* After a failed query: is the connection lost? If so it is closed, so the next
 * push_db_get reconnects, and 1 is returned. */
int push_db_lost(struct push_db *db);

void push_db_close(struct push_db *db);

const char *push_db_strerror(enum push_db_err err);

#endif
