/* push_dbcheck.h: what --check does with the database: the programs' own statements, tried as
 * they run them, and the privileges a role lacks */
#ifndef PUSH_DBCHECK_H
#define PUSH_DBCHECK_H

#include <stddef.h>

#include <libpq-fe.h>

/* What a program does with the database; --check tries each. */
enum push_dbcheck_use {
    PUSH_USES_READ = 1,    /* reads messages, states and counts (push_store_read_many) */
    PUSH_USES_MARK = 2,    /* marks read (push_store_mark_one, _upto, _kind) */
    PUSH_USES_PUBLISH = 4, /* inserts messages (push_store_publish): push-demo */
};

/* The user the trials read, mark and publish as. Nothing of theirs is kept: the marks and the
 * message are rolled back (the message's id stays drawn: ids have gaps anyway). */
#define PUSH_DBCHECK_USER "pgpush-check"

/* One trial: 0, or -1 with PostgreSQL's error on conn (or none, for an answer of a shape this
 * version does not read). Run inside a transaction that push_dbcheck_try rolls back. */
typedef int (*push_dbcheck_fn)(PGconn *conn);

/* The statements of every stream and poll, as PUSH_DBCHECK_USER: the state, the messages after
 * a cursor and the newest, the unread counts, each for one user and for several at once. conn has
 * push_store's statements prepared. */
int push_dbcheck_read(PGconn *conn);

/* Every way of marking read (one message, up to a cursor, everything, a kind up to a cursor and
 * all of it), as PUSH_DBCHECK_USER. */
int push_dbcheck_mark(PGconn *conn);

/* A message to PUSH_DBCHECK_USER, inserted as push-demo does. */
int push_dbcheck_publish(PGconn *conn);

/* Runs fn in a transaction and rolls it back. 0, or -1 with the first line of PostgreSQL's error
 * in why ("" when it gave none). */
int push_dbcheck_try(PGconn *conn, push_dbcheck_fn fn, char *why, size_t len);

/* The privileges on the schema push that role has and the connection's role has not ("SELECT on
 * push.message, EXECUTE on push.state(text), ...", cut to fit len), in out. Returns how many,
 * or -1 when role does not exist or the query failed. */
int push_dbcheck_missing(PGconn *conn, const char *role, char *out, size_t len);

#endif
