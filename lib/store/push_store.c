/* push_store.c: the SQL, always through parameters */
#include "config.h"

#include "store/push_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/push_util.h"

#define I64_TEXT 24

enum stmt { STMT_STATE, STMT_NEWEST, STMT_AFTER, STMT_UNREAD, STMT_AFTER_MANY, STMT_UNREAD_MANY,
            STMT_STATE_MANY };

static void i64_text(int64_t v, char buf[I64_TEXT])
{
    snprintf(buf, I64_TEXT, "%" PRId64, v);
}

static int64_t text_i64(const char *s)
{
    return (int64_t)strtoll(s, NULL, 10);
}

/* The statements, prepared once per connection (push_store_prepare): planning the set-returning
 * functions' inlined bodies on every call cost more than running them. */
static const struct {
    const char *name, *sql;
    int nparams;
} stmts[] = {
    [STMT_STATE] = { "push_state", "SELECT p, b, read_version, content_version, last_id, next_expiry"
                                   " FROM push.state($1)", 1 },
    [STMT_NEWEST] = { "push_newest", "SELECT * FROM push.messages_newest($1, $2,"
                                     " string_to_array($3, ','))", 3 },
    [STMT_AFTER] = { "push_after", "SELECT * FROM push.messages_after($1, $2, $3, $4,"
                                   " string_to_array($5, ','))", 5 },
    [STMT_UNREAD] = { "push_unread", "SELECT kind, n, p, b, mark_p, mark_b"
                                     " FROM push.unread_view($1) ORDER BY kind COLLATE \"C\"", 1 },
    /* the same two for many users at once; the last column numbers the user (from 1) */
    [STMT_AFTER_MANY] = { "push_after_many",
                          "SELECT m.*, r.i FROM unnest($1::text[], $2::bigint[], $3::bigint[],"
                          " $4::integer[], $5::text[]) WITH ORDINALITY AS r(u, p, b, l, k, i)"
                          " CROSS JOIN LATERAL push.messages_after(r.u, r.p, r.b, r.l,"
                          " string_to_array(r.k, ',')) WITH ORDINALITY AS m"
                          " ORDER BY r.i, m.ordinality", 5 },
    [STMT_UNREAD_MANY] = { "push_unread_many",
                           "SELECT c.kind, c.n, c.p, c.b, c.mark_p, c.mark_b, r.i"
                           " FROM unnest($1::text[]) WITH ORDINALITY AS r(u, i)"
                           " CROSS JOIN LATERAL push.unread_view(r.u) c ORDER BY r.i, c.kind COLLATE \"C\"", 1 },
    [STMT_STATE_MANY] = { "push_state_many",
                          "SELECT s.p, s.b, s.read_version, s.content_version, s.last_id, s.next_expiry, r.i"
                          " FROM unnest($1::text[]) WITH ORDINALITY AS r(u, i)"
                          " CROSS JOIN LATERAL push.state(r.u) s ORDER BY r.i", 1 },
};

int push_store_prepare(struct push_db *db, PGconn *conn)
{
    if (db->prepared)
        return 0;
    if (!push_db_uses_named_statements()) { /* PUSH_DB_PREPARE=0: each run sends its text */
        db->prepared = 1;
        return 0;
    }
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        PGresult *res = PQprepare(conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok)
            return -1;
    }
    db->prepared = 1;
    return 0;
}

/* Runs sql with text parameters; returns the result if its status is want, else NULL. */
static PGresult *run(PGconn *conn, const char *sql, int n, const char *const *params,
                     ExecStatusType want)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != want) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Runs a statement, prepared or (PUSH_DB_PREPARE=0) unnamed; the result when it returned rows,
 * else NULL. */
static PGresult *run_stmt(PGconn *conn, enum stmt id, const char *const *params)
{
    PGresult *res = push_db_uses_named_statements()
                        ? PQexecPrepared(conn, stmts[id].name, stmts[id].nparams, params, NULL, NULL, 0)
                        : PQexecParams(conn, stmts[id].sql, stmts[id].nparams, NULL, params, NULL,
                                       NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Runs a statement returning one boolean; 1 true, 0 false, -1 error. */
static int run_bool(PGconn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *res = run(conn, sql, n, params, PGRES_TUPLES_OK);
    int rc;

    if (!res)
        return -1;
    rc = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

int push_store_cursor_ahead(const struct push_cursor *c, const struct push_state *st)
{
    return c->personal > st->last_id || c->broadcast > st->last_id;
}

/* Row row of a state result (p, b, read_version, content_version, last_id, ...) into st. */
static void state_row(const PGresult *res, int row, struct push_state *st)
{
    st->head.personal = text_i64(PQgetvalue(res, row, 0));
    st->head.broadcast = text_i64(PQgetvalue(res, row, 1));
    st->read_version = text_i64(PQgetvalue(res, row, 2));
    st->content_version = text_i64(PQgetvalue(res, row, 3));
    st->last_id = text_i64(PQgetvalue(res, row, 4));
    st->next_expiry = PQgetisnull(res, row, 5) ? -1 : (long long)text_i64(PQgetvalue(res, row, 5));
}

int push_store_state_due(const struct push_state *st)
{
    struct timespec ts;

    if (st->next_expiry < 0)
        return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= st->next_expiry;
}

int push_store_state(PGconn *conn, const char *user, struct push_state *st)
{
    const char *params[] = { user };
    PGresult *res = run_stmt(conn, STMT_STATE, params);

    if (!res)
        return -1;
    state_row(res, 0, st);
    PQclear(res);
    return 0;
}

int push_store_begin_snapshot(PGconn *conn)
{
    PGresult *res = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    PQclear(res);
    return ok ? 0 : -1;
}

int push_store_end(PGconn *conn, char *why, size_t len)
{
    PGresult *res;
    int ok;

    /* the reason a statement of the transaction failed: the COMMIT (a ROLLBACK then) clears it */
    if (why && len)
        snprintf(why, len, "%.*s", (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
    res = PQexec(conn, "COMMIT");
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    PQclear(res);
    return ok ? 0 : -1;
}

PGresult *push_store_messages(PGconn *conn, const char *user, const struct push_cursor *after,
                              int limit, const char *kinds)
{
    char p[I64_TEXT], b[I64_TEXT], lim[I64_TEXT];
    const char *params[] = { user, p, b, lim, kinds };
    PGresult *res;

    i64_text(limit, lim);
    if (!after) {
        params[1] = lim;
        params[2] = kinds;
        res = run_stmt(conn, STMT_NEWEST, params);
    } else {
        i64_text(after->personal, p);
        i64_text(after->broadcast, b);
        res = run_stmt(conn, STMT_AFTER, params);
    }
    /* the columns are read by position: a schema of another shape is an error, not a crash */
    if (res && PQnfields(res) != PUSH_MESSAGE_COLS) {
        PQclear(res);
        return NULL;
    }
    return res;
}

enum push_entry push_store_entry(const PGresult *res, int row)
{
    const char *op = PQgetvalue(res, row, PUSH_COL_OP);

    switch (op[0]) {
    case 'u': return PUSH_ENTRY_UPDATE;
    case 'd': return PUSH_ENTRY_DELETE;
    case 'h': return PUSH_ENTRY_HEAD;
    default: return PUSH_ENTRY_MESSAGE;
    }
}

int push_store_entries(const PGresult *res, struct push_cursor *head)
{
    int n = PQntuples(res);

    if (n > 0 && push_store_entry(res, n - 1) == PUSH_ENTRY_HEAD) {
        if (head) {
            head->personal = text_i64(PQgetvalue(res, n - 1, PUSH_COL_AT_P));
            head->broadcast = text_i64(PQgetvalue(res, n - 1, PUSH_COL_AT_B));
        }
        return n - 1;
    }
    return n;
}

int push_store_kind_valid(const char *k, size_t n)
{
    if (n < 1 || n > 32 || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9')))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'
              || k[i] == '.' || k[i] == '-'))
            return 0;
    return 1;
}

int push_store_kinds_valid(const char *text, size_t len)
{
    size_t at = 0;
    int n = 0;

    if (len == 0 || len >= PUSH_KINDS_TEXT_MAX)
        return 0;
    while (at <= len) {
        const char *comma = memchr(text + at, ',', len - at);
        size_t k = comma ? (size_t)(comma - (text + at)) : len - at;
        if (!push_store_kind_valid(text + at, k) || ++n > PUSH_KINDS_MAX)
            return 0;
        at += k + 1;
    }
    return 1;
}

int push_store_kinds_has(const char *kinds, const char *kind)
{
    size_t n = strlen(kind);

    if (!kinds)
        return 1;
    for (const char *at = kinds; *at;) {
        size_t k = strcspn(at, ",");
        if (k == n && memcmp(at, kind, n) == 0)
            return 1;
        at += k + (at[k] == ',');
    }
    return 0;
}

int push_store_expire_due(PGconn *conn, long long *next_ms)
{
    PGresult *res = run(conn, "SELECT (extract(epoch FROM push.expire_due()) * 1000)::bigint", 0,
                        NULL, PGRES_TUPLES_OK);
    int ok = res && PQntuples(res) == 1 && PQnfields(res) == 1;

    if (ok)
        *next_ms = PQgetisnull(res, 0, 0) ? -1 : (long long)text_i64(PQgetvalue(res, 0, 0));
    PQclear(res);
    return ok ? 0 : -1;
}

int push_store_unread_view(const PGresult *unread, struct push_unread_view *v)
{
    if (!unread || PQntuples(unread) < 1 || PQnfields(unread) < PUSH_UNREAD_COLS)
        return -1;
    v->head.personal = text_i64(PQgetvalue(unread, 0, PUSH_UCOL_P));
    v->head.broadcast = text_i64(PQgetvalue(unread, 0, PUSH_UCOL_B));
    v->mark.personal = text_i64(PQgetvalue(unread, 0, PUSH_UCOL_MARK_P));
    v->mark.broadcast = text_i64(PQgetvalue(unread, 0, PUSH_UCOL_MARK_B));
    return 0;
}

PGresult *push_store_unread(PGconn *conn, const char *user)
{
    const char *params[] = { user };

    return run_stmt(conn, STMT_UNREAD, params);
}

/* --- many users at once */

/* A growing text buffer; aborts when out of memory (bounded by PUSH_STORE_MANY_MAX users). */
struct text {
    char *s;
    size_t len, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = xrealloc(t->s, t->cap);
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

/* Appends s as a double-quoted element of an array literal: '"' and '\\' escaped. */
static void put_element(struct text *t, const char *s)
{
    put(t, "\"", 1);
    for (size_t n; *s; s += n) {
        n = strcspn(s, "\"\\");
        put(t, s, n);
        if (s[n]) {
            put(t, "\\", 1);
            put(t, s + n, 1);
            n++;
        }
    }
    put(t, "\"", 1);
}

static void put_i64(struct text *t, int64_t v)
{
    char buf[I64_TEXT];

    i64_text(v, buf);
    put(t, buf, strlen(buf));
}

/* An empty result with res's first nf columns. */
static PGresult *empty_like(const PGresult *res, int nf)
{
    PGresAttDesc att[16];

    PGresult *out = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

    if (!out || nf > 16)
        abort();
    for (int f = 0; f < nf; f++) {
        att[f].name = PQfname(res, f);
        att[f].tableid = PQftable(res, f);
        att[f].columnid = PQftablecol(res, f);
        att[f].format = PQfformat(res, f);
        att[f].typid = PQftype(res, f);
        att[f].typlen = PQfsize(res, f);
        att[f].atttypmod = PQfmod(res, f);
    }
    if (!PQsetResultAttrs(out, nf, att))
        abort();
    return out;
}

/* Deals the rows of res out to one result per read, by the number in the last column, with the
 * first columns of a single read's (msgs': PUSH_MESSAGE_COLS, unread's: PUSH_UNREAD_COLS). */
static void split(const PGresult *res, struct push_store_read *reads, int n, int unread)
{
    int nf = unread ? PUSH_UNREAD_COLS : PUSH_MESSAGE_COLS, last = PQnfields(res) - 1;

    for (int i = 0; i < n; i++) {
        PGresult **to = unread ? &reads[i].unread : &reads[i].msgs;
        *to = empty_like(res, nf);
    }
    for (int row = 0; row < PQntuples(res); row++) {
        long i = strtol(PQgetvalue(res, row, last), NULL, 10) - 1;
        PGresult *to;
        if (i < 0 || i >= n)
            continue;
        to = unread ? reads[i].unread : reads[i].msgs;
        int at = PQntuples(to);
        for (int f = 0; f < nf; f++) {
            int null = PQgetisnull(res, row, f);
            if (!PQsetvalue(to, at, f, null ? NULL : PQgetvalue(res, row, f),
                            null ? -1 : PQgetlength(res, row, f)))
                abort();
        }
    }
}

/* The states of the reads with want_state, in one statement (one user: the single one); with
 * from_head, after becomes the head. 0, or -1 on a database error. */
static int read_states(PGconn *conn, struct push_store_read *reads, int n)
{
    struct text users = { 0 };
    int at[PUSH_STORE_MANY_MAX], k = 0, rc = -1;
    PGresult *res;

    for (int i = 0; i < n; i++)
        if (reads[i].want_state)
            at[k++] = i;
    if (k == 1 && push_store_state(conn, reads[at[0]].user, &reads[at[0]].st) < 0)
        return -1;
    if (k > 1) {
        put(&users, "{", 1);
        for (int j = 0; j < k; j++) {
            if (j)
                put(&users, ",", 1);
            put_element(&users, reads[at[j]].user);
        }
        put(&users, "}", 1);
        const char *params[] = { users.s };
        res = run_stmt(conn, STMT_STATE_MANY, params);
        free(users.s);
        /* push.state answers one row for every user, known or not */
        if (res && PQnfields(res) == 7 && PQntuples(res) == k) {
            for (int j = 0; j < k; j++)
                state_row(res, j, &reads[at[j]].st);
            rc = 0;
        }
        PQclear(res);
        if (rc < 0)
            return -1;
    }
    for (int j = 0; j < k; j++)
        if (reads[at[j]].from_head)
            reads[at[j]].after = reads[at[j]].st.head;
    return 0;
}

int push_store_mqtt_ack_many(PGconn *conn, const char *const *streams, const int64_t *ids, int n)
{
    struct text names = { 0 }, at = { 0 };
    PGresult *res;
    int ok;

    put(&names, "{", 1), put(&at, "{", 1);
    for (int i = 0; i < n; i++) {
        if (i)
            put(&names, ",", 1), put(&at, ",", 1);
        put_element(&names, streams[i]);
        put_i64(&at, ids[i]);
    }
    put(&names, "}", 1), put(&at, "}", 1);
    const char *params[] = { names.s, at.s };
    res = PQexecParams(conn, "SELECT push.mqtt_ack(s, i) FROM unnest($1::text[], $2::bigint[]) AS t(s, i)",
                       2, NULL, params, NULL, NULL, 0);
    ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    free(names.s), free(at.s);
    return ok ? 0 : -1;
}

/* After a failure: no read keeps a result. */
static void clear_reads(struct push_store_read *reads, int n)
{
    for (int i = 0; i < n; i++) {
        PQclear(reads[i].msgs);
        PQclear(reads[i].unread);
        reads[i].msgs = reads[i].unread = NULL;
    }
}

/* The newest lists of the reads that asked for one, in place of what the batch read after their
 * (unused) cursors; 0, or -1 with every such msgs cleared. */
static int read_newest(PGconn *conn, struct push_store_read *reads, int n)
{
    for (int i = 0; i < n; i++) {
        if (!reads[i].newest)
            continue;
        PQclear(reads[i].msgs);
        if (!(reads[i].msgs = push_store_messages(conn, reads[i].user, NULL, reads[i].limit,
                                                  reads[i].kinds)))
            return -1;
    }
    return 0;
}

/* push_store_read_many's reads, once the states are read */
static int read_lists(PGconn *conn, struct push_store_read *reads, int n)
{
    struct text users = { 0 }, ps = { 0 }, bs = { 0 }, ls = { 0 }, ks = { 0 };
    PGresult *msgs = NULL, *unread = NULL;
    int rc = -1;

    if (n == 1) { /* one user: the single statements, whose plans are the cheapest */
        reads[0].msgs = push_store_messages(conn, reads[0].user,
                                            reads[0].newest ? NULL : &reads[0].after, reads[0].limit,
                                            reads[0].kinds);
        if (reads[0].msgs && (reads[0].unread = push_store_unread(conn, reads[0].user)))
            return 0;
        PQclear(reads[0].msgs);
        reads[0].msgs = NULL;
        return -1;
    }
    put(&users, "{", 1), put(&ps, "{", 1), put(&bs, "{", 1), put(&ls, "{", 1), put(&ks, "{", 1);
    for (int i = 0; i < n; i++) {
        if (i)
            put(&users, ",", 1), put(&ps, ",", 1), put(&bs, ",", 1), put(&ls, ",", 1),
                put(&ks, ",", 1);
        put_element(&users, reads[i].user);
        if (reads[i].kinds)
            put_element(&ks, reads[i].kinds);
        else
            put(&ks, "NULL", 4);
        put_i64(&ps, reads[i].after.personal);
        put_i64(&bs, reads[i].after.broadcast);
        put_i64(&ls, reads[i].newest ? 0 : reads[i].limit); /* (read_newest's) */
    }
    put(&users, "}", 1), put(&ps, "}", 1), put(&bs, "}", 1), put(&ls, "}", 1), put(&ks, "}", 1);
    const char *after_params[] = { users.s, ps.s, bs.s, ls.s, ks.s };
    const char *unread_params[] = { users.s };
    msgs = run_stmt(conn, STMT_AFTER_MANY, after_params);
    if (msgs && PQnfields(msgs) == PUSH_MESSAGE_COLS + 2) /* (the row's ordinality, the user's) */
        unread = run_stmt(conn, STMT_UNREAD_MANY, unread_params);
    if (unread && PQnfields(unread) == PUSH_UNREAD_COLS + 1) {
        split(msgs, reads, n, 0);
        split(unread, reads, n, 1);
        rc = read_newest(conn, reads, n);
        if (rc < 0)
            clear_reads(reads, n);
    }
    PQclear(msgs);
    PQclear(unread);
    free(users.s), free(ps.s), free(bs.s), free(ls.s), free(ks.s);
    return rc;
}

int push_store_read_many(PGconn *conn, struct push_store_read *reads, int n, char *why, size_t len)
{
    int snapshot = 0, rc;

    if (len)
        why[0] = '\0';
    if (n < 1 || n > PUSH_STORE_MANY_MAX)
        return -1;
    /* a newest list and its head go to the client as one answer: one snapshot, so that the list
     * holds nothing past the head (which the client would be sent again from it) */
    for (int i = 0; i < n; i++)
        snapshot |= reads[i].newest;
    if (snapshot && push_store_begin_snapshot(conn) < 0)
        return -1;
    rc = read_states(conn, reads, n) == 0 && read_lists(conn, reads, n) == 0 ? 0 : -1;
    /* the reason, before closing the snapshot clears it */
    if (rc < 0)
        snprintf(why, len, "%.*s", (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
    if (snapshot && push_store_end(conn, NULL, 0) < 0 && rc == 0) {
        clear_reads(reads, n);
        rc = -1;
    }
    return rc;
}

int push_store_wal_now(PGconn *conn, struct push_wal_pos *pos)
{
    /* the insert position, not the write position: with synchronous_commit off a commit's record
     * may be inserted and not yet written when its NOTIFY arrives */
    PGresult *res = run(conn, "SELECT pg_catalog.pg_current_wal_insert_lsn(), push.timeline()", 0,
                        NULL, PGRES_TUPLES_OK);
    int ok = res && PQntuples(res) == 1 && PQnfields(res) == 2 && !PQgetisnull(res, 0, 0)
             && !PQgetisnull(res, 0, 1) && (size_t)PQgetlength(res, 0, 0) < sizeof pos->lsn;

    if (ok) {
        snprintf(pos->lsn, sizeof pos->lsn, "%s", PQgetvalue(res, 0, 0));
        pos->timeline = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return ok ? 0 : -1;
}

enum push_replay push_store_replayed(PGconn *conn, const struct push_wal_pos *pos)
{
    /* pg_last_wal_replay_lsn moves only after a record is applied: once it is at or past the
     * commit of a change, a snapshot taken after this statement sees that change. Past the
     * position on another history is no use: LSNs of two histories are not comparable. */
    char tl[I64_TEXT];
    const char *params[] = { pos->lsn, tl };

    i64_text(pos->timeline, tl);
    PGresult *res = run(conn, "SELECT pg_catalog.pg_is_in_recovery(),"
                              " pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_catalog.pg_lsn,"
                              " (SELECT h.timeline FROM push.history h) = $2::integer",
                        2, params, PGRES_TUPLES_OK);
    enum push_replay r = PUSH_REPLAY_ERROR;

    if (res && PQntuples(res) == 1 && PQnfields(res) == 3) {
        if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
            r = PUSH_REPLAY_NOT_STANDBY;
        else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
            r = PUSH_REPLAY_BEHIND;
        else
            r = strcmp(PQgetvalue(res, 0, 2), "t") == 0 ? PUSH_REPLAY_PAST : PUSH_REPLAY_OTHER_HISTORY;
    }
    PQclear(res);
    return r;
}

int push_store_follow_timeline(PGconn *conn)
{
    PGresult *res = run(conn, "SELECT push.follow_timeline()", 0, NULL, PGRES_TUPLES_OK);
    int ok = res != NULL;

    PQclear(res);
    return ok ? 0 : -1;
}

int push_store_mark_one(PGconn *conn, const char *user, int64_t id)
{
    char idt[I64_TEXT];
    const char *params[] = { user, idt };

    i64_text(id, idt);
    return run_bool(conn, "SELECT push.mark_read($1, $2)", 2, params);
}

int push_store_mark_upto(PGconn *conn, const char *user, const struct push_cursor *upto)
{
    char p[I64_TEXT], b[I64_TEXT];
    const char *params[] = { user, p, b };
    PGresult *res;

    if (!upto) {
        res = run(conn, "SELECT push.mark_all_read($1)", 1, params, PGRES_TUPLES_OK);
    } else {
        i64_text(upto->personal, p);
        i64_text(upto->broadcast, b);
        res = run(conn, "SELECT push.mark_read_upto($1, $2, $3)", 3, params, PGRES_TUPLES_OK);
    }
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int push_store_mark_kind(PGconn *conn, const char *user, const char *kind,
                         const struct push_cursor *upto)
{
    char p[I64_TEXT], b[I64_TEXT];
    const char *params[] = { user, kind, p, b };

    if (!upto)
        return run_bool(conn, "SELECT push.mark_kind_read($1, $2)", 2, params);
    i64_text(upto->personal, p);
    i64_text(upto->broadcast, b);
    return run_bool(conn, "SELECT push.mark_kind_read($1, $2, $3, $4)", 4, params);
}

int push_store_publish(PGconn *conn, const char *recipient, const char *title, const char *body,
                       const char *kind, char *id)
{
    const char *params[] = { recipient, title, body, kind };
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO push.message (recipient, title, body, kind) "
                                 "VALUES ($1, $2, $3, coalesce($4, 'notice')) RETURNING id",
                                 4, NULL, params, NULL, NULL, 0);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    int rc = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(id, 21, "%s", PQgetvalue(res, 0, 0));
        rc = 0;
    } else if (state && strncmp(state, "23", 2) == 0) {
        rc = 1; /* class 23: integrity constraint violation */
    }
    PQclear(res);
    return rc;
}

/* --- Web Push (0008_webpush.sql) */

int push_store_webpush_subscribe(PGconn *conn, const char *user, const char *endpoint,
                                 const char *p256dh, const char *auth, const char *ua,
                                 int max_per_user)
{
    char max[I64_TEXT];
    const char *params[] = { user, endpoint, p256dh, auth, ua, max };
    PGresult *res;

    i64_text(max_per_user, max);
    res = run(conn, "SELECT push.webpush_subscribe($1, $2, $3, $4, $5, $6)", 6, params, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int push_store_webpush_unsubscribe(PGconn *conn, const char *user, const char *endpoint)
{
    const char *params[] = { user, endpoint };

    return run_bool(conn, "SELECT push.webpush_unsubscribe($1, $2)", 2, params);
}

PGresult *push_store_webpush_due(PGconn *conn, const char *user, int64_t after_id, int limit)
{
    char after[I64_TEXT], lim[I64_TEXT];
    const char *params[] = { user, after, lim };
    PGresult *res;

    i64_text(after_id, after);
    i64_text(limit, lim);
    res = run(conn, "SELECT * FROM push.webpush_due($1, $2, $3)", 3, params, PGRES_TUPLES_OK);
    if (res && PQnfields(res) != PUSH_WCOL_COUNT) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* A statement whose result is not read: 0, or -1. */
static int run_void(PGconn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *res = run(conn, sql, n, params, PGRES_TUPLES_OK);

    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int push_store_webpush_ack(PGconn *conn, int64_t id, const char *user, const char *auth, int64_t p,
                           int64_t b)
{
    char i[I64_TEXT], ps[I64_TEXT], bs[I64_TEXT];
    const char *params[] = { i, user, auth, ps, bs };

    i64_text(id, i);
    i64_text(p, ps);
    i64_text(b, bs);
    return run_bool(conn, "SELECT push.webpush_ack($1, $2, $3, $4, $5)", 5, params);
}

int push_store_webpush_failed(PGconn *conn, int64_t id, const char *why, long wait_ms)
{
    char i[I64_TEXT], w[I64_TEXT];
    const char *params[] = { i, why, w };
    PGresult *res;
    int n;

    i64_text(id, i);
    i64_text(wait_ms, w);
    if (!(res = run(conn, "SELECT push.webpush_failed($1, $2, $3)", 3, params, PGRES_TUPLES_OK)))
        return -1;
    n = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return n;
}

long push_store_webpush_next_retry(PGconn *conn)
{
    PGresult *res = run(conn,
                        "SELECT ceil(extract(epoch FROM push.webpush_next_retry() - now()) * 1000)::bigint",
                        0, NULL, PGRES_TUPLES_OK);
    long ms;

    if (!res)
        return -2;
    ms = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return ms < -1 ? 0 : ms;
}

int push_store_webpush_gone(PGconn *conn, int64_t id)
{
    char i[I64_TEXT];
    const char *params[] = { i };

    i64_text(id, i);
    return run_void(conn, "SELECT push.webpush_gone($1)", 1, params);
}

int push_store_webpush_set_key(PGconn *conn, const char *key)
{
    const char *params[] = { key };

    return run_void(conn, "SELECT push.webpush_set_key($1)", 1, params);
}

int push_store_webpush_key(PGconn *conn, char *key, size_t size)
{
    PGresult *res = run(conn, "SELECT public_key FROM push.webpush_vapid", 0, NULL, PGRES_TUPLES_OK);
    int rc;

    if (!res)
        return -1;
    rc = PQntuples(res) == 1 && (size_t)PQgetlength(res, 0, 0) < size;
    if (rc)
        snprintf(key, size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}
