/* push_store.h: every SQL statement the programs run: state, messages, counts, marking read */
#ifndef PUSH_STORE_H
#define PUSH_STORE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "core/push_cursor.h"
#include "store/push_db.h"

/* What a user's view depends on; two equal states give equal answers. */
struct push_state {
    struct push_cursor head; /* the last message of each stream the user can see */
    int64_t read_version;    /* changes with every change of the user's read state */
    int64_t content_version; /* changes when messages are edited or deleted */
    int64_t last_id;         /* the largest message id ever drawn: no valid cursor is above it */
    long long next_expiry;   /* the first expiry not marked yet (Unix ms; -1: none): once it
                              * has come, push_store_expire_due before answering from this state */
};

/* Has st's next expiry come (by this machine's clock)? */
int push_store_state_due(const struct push_state *st);

/* Columns of the results of push_store_messages: the entries of a user's stream in stream order
 * (sql/migrations/0007_changes.sql). Each row is a new message, a change of one the client may
 * hold, or, last in a read after a cursor, the heads its snapshot had (push_store_entry). */
enum push_message_col {
    PUSH_COL_ID, PUSH_COL_BROADCAST, PUSH_COL_KIND, PUSH_COL_TITLE, PUSH_COL_BODY,
    PUSH_COL_DATA, PUSH_COL_LINK, PUSH_COL_CREATED_AT, PUSH_COL_READ,
    PUSH_COL_POS_P, PUSH_COL_POS_B, /* the message's own position: just after it */
    PUSH_COL_OP,                    /* "message", "update", "delete", "head" */
    PUSH_COL_AT_P, PUSH_COL_AT_B,   /* the position just after the entry (0: not in that stream) */
    PUSH_MESSAGE_COLS
};

enum push_entry { PUSH_ENTRY_MESSAGE, PUSH_ENTRY_UPDATE, PUSH_ENTRY_DELETE, PUSH_ENTRY_HEAD };

/* What row row of a push_store_messages result is. */
enum push_entry push_store_entry(const PGresult *res, int row);

/* The rows of res that are entries (all but the head row), and the head when it has one (NULL:
 * none). A read that returned no more entries than it wanted has seen everything up to the head:
 * the position may move there (changes and messages it had no reason to return included). */
int push_store_entries(const PGresult *res, struct push_cursor *head);

/* The most kinds a filter names (kinds=a,b,...). A filter is kept as its text, kinds separated by
 * commas, each valid (push_store_kinds_valid), or NULL for every kind. */
#define PUSH_KINDS_MAX 16
#define PUSH_KINDS_TEXT_MAX (PUSH_KINDS_MAX * 33)

/* Is k (n bytes) a kind as push.message allows it: [a-z0-9][a-z0-9_.-]{0,31}? */
int push_store_kind_valid(const char *k, size_t n);

/* Is text (len bytes) a filter of 1 to PUSH_KINDS_MAX kinds, separated by commas? */
int push_store_kinds_valid(const char *text, size_t len);

/* Is kind among the filter's (NULL: every kind)? */
int push_store_kinds_has(const char *kinds, const char *kind);

/* On a primary: push.expire_due(), which marks the messages whose expiry has come (their delete
 * reaches every client); *next_ms: when to call it again (Unix ms), -1 when nothing will expire.
 * 0, or -1 on a database error. */
int push_store_expire_due(PGconn *conn, long long *next_ms);

/* Prepares the statements below on conn, once per connection of db (again after a reconnect).
 * Call it after push_db_get, before the others; 0, or -1 on a database error. */
int push_store_prepare(struct push_db *db, PGconn *conn);

/* Each returns 0 (or a result) on success; -1 (or NULL) on a database error, whose text
 * stays on the connection (PQerrorMessage). Nothing is logged here. */

int push_store_state(PGconn *conn, const char *user, struct push_state *st);

/* Is cursor c ahead of every message drawn so far (st->last_id)? Then no answer of this database
 * made it, and it is refused (cursor_future) rather than waited on. */
int push_store_cursor_ahead(const struct push_cursor *c, const struct push_state *st);

/* Opens a read-only REPEATABLE READ transaction, so the reads up to push_store_end see one
 * snapshot; push_store_end closes it (also after errors), first copying the connection's error
 * text (its first line) into why when why is not NULL: closing the transaction clears it. */
int push_store_begin_snapshot(PGconn *conn);
int push_store_end(PGconn *conn, char *why, size_t len);

/* Up to limit entries, oldest first: those after *after and the head row, or the newest messages
 * when after is NULL; of kinds only, when not NULL (a filter's text). */
PGresult *push_store_messages(PGconn *conn, const char *user, const struct push_cursor *after,
                              int limit, const char *kinds);

/* Unread counts: rows of (kind, count), in kind order, each with what they were counted against
 * in the same snapshot (push.unread_view): the heads of the user's two streams and the highest
 * read-state watermarks. With nothing unread, one row whose kind is NULL. */
PGresult *push_store_unread(PGconn *conn, const char *user);

/* Records in push.mqtt_cursor, in one statement, that the broker acknowledged streams[i] up to
 * ids[i] for each i < n (push.mqtt_ack: a cursor never moves back). 0, or -1. */
int push_store_mqtt_ack_many(PGconn *conn, const char *const *streams, const int64_t *ids, int n);

enum push_unread_col {
    PUSH_UCOL_KIND, PUSH_UCOL_N, PUSH_UCOL_P, PUSH_UCOL_B, PUSH_UCOL_MARK_P, PUSH_UCOL_MARK_B,
    PUSH_UNREAD_COLS
};

/* What a result of push_store_unread was counted against. A message above mark (in its stream) is
 * unread; counts of a read whose head is not beyond the position it delivered up to cover exactly
 * what that position has seen (see push_loop's memory-first delivery). */
struct push_unread_view {
    struct push_cursor head, mark;
};

/* Reads the view off an unread result: 0, or -1 when it has none (no row, other columns). */
int push_store_unread_view(const PGresult *unread, struct push_unread_view *v);

/* One user's read among many (push_store_read_many). */
struct push_store_read {
    const char *user;
    struct push_cursor after;
    int limit;
    const char *kinds; /* a filter's text, or NULL */
    /* a stream's first read: the user's state too (st), read before the messages; with
     * from_head, after is set to the state's head first (a stream from now on) */
    int want_state, from_head;
    /* the newest limit messages (push_store_messages without a cursor) instead; the batch then
     * runs in one snapshot (push_store_begin_snapshot), so that they and st agree */
    int newest;
    struct push_state st;    /* filled with want_state */
    PGresult *msgs, *unread; /* filled: what push_store_messages and push_store_unread answer */
};

#define PUSH_STORE_MANY_MAX 256 /* reads combined into one statement at most */

/* The messages after reads[i].after (at most reads[i].limit) and the unread counts of each of n
 * (1 to PUSH_STORE_MANY_MAX) users, in two statements whatever n: the reads of the streams a
 * broadcast woke, combined. The states of the reads with want_state come first, in one more
 * statement (new streams' first reads, taken together as a reconnect storm brings them). 0 with every msgs and unread filled (the caller clears them), or -1
 * on a database error with none, and PostgreSQL's reason in why (len bytes; "" when it gave
 * none): closing the snapshot of a batch with a newest read clears the connection's text. */
int push_store_read_many(PGconn *conn, struct push_store_read *reads, int n, char *why, size_t len);

/* Replay-gated reads on a standby (push_pool_replicas). push_store_wal_now, on the primary: its
 * WAL insert position now, as PostgreSQL writes it ("0/3000148"), and its timeline: every commit
 * whose effect or notification this process has seen ends before that position. 0, or -1 on a
 * database error. */
struct push_wal_pos {
    char lsn[32];
    int timeline;
};
int push_store_wal_now(PGconn *conn, struct push_wal_pos *pos);

enum push_replay {
    PUSH_REPLAY_ERROR = -1,    /* the query failed (its text stays on the connection) */
    PUSH_REPLAY_BEHIND,        /* a standby that has not replayed up to the position yet */
    PUSH_REPLAY_PAST,          /* a standby that has: a read begun now sees every commit before it */
    PUSH_REPLAY_NOT_STANDBY,   /* not in recovery (a primary, or a standby promoted since) */
    PUSH_REPLAY_OTHER_HISTORY, /* past the position, but not on the primary's timeline (push.history,
                                * 0006_timeline.sql): left on a history the primary forked from,
                                * or the primary has not followed its new timeline yet */
};

/* Has the server on conn replayed the WAL up to pos (push_store_wal_now's), on its history? */
enum push_replay push_store_replayed(PGconn *conn, const struct push_wal_pos *pos);

/* On a primary: push.follow_timeline(), which moves the ids and versions past those of a lost
 * history once the server is on a new timeline (a standby promoted). 0, or -1. */
int push_store_follow_timeline(PGconn *conn);

/* Marks one message read: 1 done, 0 when the user cannot see that message, -1 error. */
int push_store_mark_one(PGconn *conn, const char *user, int64_t id);

/* Marks read everything up to *upto, or everything visible now when upto is NULL. */
int push_store_mark_upto(PGconn *conn, const char *user, const struct push_cursor *upto);

/* Marks read all of one kind up to *upto (NULL: now): 1 done, 0 unknown kind, -1 error. */
int push_store_mark_kind(PGconn *conn, const char *user, const char *kind,
                         const struct push_cursor *upto);

/* Inserts a message (recipient NULL: everyone; kind NULL: the default) as a site would, and
 * writes its id into id (at least 21 bytes). 0 done, 1 refused by the table's constraints (a
 * field too long, a bad kind: the reason in PQerrorMessage), -1 error. Used by push-demo (and
 * its --check) only. */
int push_store_publish(PGconn *conn, const char *recipient, const char *title, const char *body,
                       const char *kind, char *id);

/* Web Push (sql/migrations/0008_webpush.sql): push-poll's registrations and push-webpush's cursors.
 * Each returns 0 (1, a result) on success, -1 (NULL) on a database error. */

/* Registers endpoint with its keys for user (push.webpush_subscribe: at the streams' heads; past
 * max_per_user, the subscription longest without a delivery goes). */
int push_store_webpush_subscribe(PGconn *conn, const char *user, const char *endpoint,
                                 const char *p256dh, const char *auth, const char *ua,
                                 int max_per_user);

/* Removes user's subscription at endpoint: 1 removed, 0 there was none of theirs, -1 error. */
int push_store_webpush_unsubscribe(PGconn *conn, const char *user, const char *endpoint);

/* Subscriptions with something after their cursor, by id after after_id, limit of them; of user
 * only when not NULL. Columns: */
enum push_webpush_col {
    PUSH_WCOL_ID, PUSH_WCOL_USER, PUSH_WCOL_ENDPOINT, PUSH_WCOL_P256DH, PUSH_WCOL_AUTH,
    PUSH_WCOL_SENT_P, PUSH_WCOL_SENT_B, PUSH_WCOL_FAILURES, PUSH_WCOL_COUNT
};
PGresult *push_store_webpush_due(PGconn *conn, const char *user, int64_t after_id, int limit);

/* The push service accepted what was sent up to (p, b); never moves the cursor back. 1 done, 0
 * the subscription is no longer user's with that auth key (removed, taken over, new keys): what
 * was read for it must not be sent; -1 error. */
int push_store_webpush_ack(PGconn *conn, int64_t id, const char *user, const char *auth, int64_t p,
                           int64_t b);

/* A failure to retry, with its reason (no secrets, no message content in it), not before wait_ms
 * from now (push_store_webpush_due leaves it out until then): the failures in a row (0: no such
 * subscription), or -1. */
int push_store_webpush_failed(PGconn *conn, int64_t id, const char *why, long wait_ms);

/* Milliseconds until the first subscription waiting after a failure may be tried again: -1 when
 * none waits, -2 on error. */
long push_store_webpush_next_retry(PGconn *conn);

/* The push service said the subscription is gone: removed. */
int push_store_webpush_gone(PGconn *conn, int64_t id);

/* Records push-webpush's VAPID public key; reads it (1 found, 0 none yet, -1 error). */
int push_store_webpush_set_key(PGconn *conn, const char *key);
int push_store_webpush_key(PGconn *conn, char *key, size_t size);

#endif
