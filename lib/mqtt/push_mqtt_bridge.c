/* push_mqtt_bridge.c: streams to MQTT topics from push.mqtt_cursor, moved only after PUBACKs */
#include "config.h"

#include "mqtt/push_mqtt_bridge.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "core/push_log.h"
#include "core/push_metrics.h"
#include "core/push_util.h"
#include "store/push_dbcheck.h"
#include "store/push_store.h"
#include "transport/push_json.h"
#include "mqtt/push_mqtt_topic.h"

#define USERS_PAGE 100 /* user names read per query when going through all of them */

typedef enum push_mqtt_bridge_err err_t;

/* --- push.mqtt_cursor */

static int64_t acked(PGconn *conn, const char *stream, int *ok)
{
    const char *params[] = { stream };
    PGresult *res = PQexecParams(conn, "SELECT push.mqtt_acked($1)", 1, NULL, params, NULL, NULL,
                                 0);
    int64_t id = 0;

    *ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (*ok)
        id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return id;
}

static int ack(PGconn *conn, const char *stream, const char *id)
{
    const char *params[] = { stream, id };
    PGresult *res = PQexecParams(conn, "SELECT push.mqtt_ack($1, $2)", 2, NULL, params, NULL,
                                 NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;

    PQclear(res);
    return ok ? 0 : -1;
}

/* Up to USERS_PAGE names after `after` from push.mqtt_pending. */
static PGresult *users_page(PGconn *conn, const char *after)
{
    char lim[16];
    const char *params[] = { after, lim };
    PGresult *res;

    snprintf(lim, sizeof lim, "%d", USERS_PAGE);
    res = PQexecParams(conn, "SELECT * FROM push.mqtt_pending($1, $2)", 2, NULL, params, NULL,
                       NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* --- publishing */

/* Publishes o on topic; o is released. Its length is added to *bytes (NULL: not). */
static int send_json(struct push_mqtt_bridge *b, const char *topic, json_object *o, int retain,
                     long *bytes)
{
    size_t len;
    const char *text = push_json_text(o, &len);
    int rc = push_mqtt_pub_send(b->pub, topic, text, len, retain);

    if (bytes)
        *bytes += (long)len;
    json_object_put(o);
    return rc;
}

/* entries [0, n) of res, acknowledged by the broker: counted as delivered (messages) or changes */
static void delivered(const struct push_mqtt_bridge *b, const PGresult *res, int n, long bytes)
{
    push_metric_add(PUSH_M_DELIVERED_BYTES, bytes);
    for (int i = 0; i < n; i++) {
        if (push_store_entry(res, i) != PUSH_ENTRY_MESSAGE) {
            push_metric_add(PUSH_M_CHANGES, 1);
            continue;
        }
        push_metric_add(PUSH_M_DELIVERED, 1);
        if (b->live)
            push_metric_lag_since(PQgetvalue(res, i, PUSH_COL_CREATED_AT));
    }
}

static err_t flush(struct push_mqtt_bridge *b)
{
    return push_mqtt_pub_flush(b->pub, b->cfg->ack_timeout * 1000L) == 0
               ? PUSH_MQTT_BRIDGE_OK : PUSH_MQTT_BRIDGE_BROKER;
}

/* Publishes one batch of a stream: user's personal messages (user != "") or the broadcasts
 * (user == ""), after *last, with the changes of those at or below it: an update on the message
 * topic, a delete on the delete topic. Moves *last and the stored cursor past what the broker
 * acknowledged; *n is the number of entries read. */
static err_t stream_batch(struct push_mqtt_bridge *b, PGconn *conn, const char *user,
                          const char *topic, int64_t *last, int *n)
{
    int broadcast = !*user;
    struct push_cursor after = { broadcast ? INT64_MAX : *last, broadcast ? *last : INT64_MAX };
    struct push_cursor pos = { broadcast ? 0 : *last, 0 };
    char tag[PUSH_CURSOR_TAG_LEN + 1], deleted[PUSH_MQTT_TOPIC_MAX];
    PGresult *res = push_store_messages(conn, user, &after, b->cfg->batch, NULL);
    err_t err = PUSH_MQTT_BRIDGE_OK;
    long bytes = 0;

    *n = 0;
    if (!res)
        return PUSH_MQTT_BRIDGE_DB;
    if (broadcast ? push_mqtt_broadcast_topic(deleted, sizeof deleted, b->cfg->prefix, "delete") < 0
                  : push_mqtt_user_topic(deleted, sizeof deleted, b->cfg->prefix, user, "delete") < 0) {
        PQclear(res);
        return PUSH_MQTT_BRIDGE_OK; /* (stream() checked the message topic, which is longer) */
    }
    push_cursor_tag(user, tag);
    struct push_cursor head = { -1, -1 };
    *n = push_store_entries(res, &head);
    for (int i = 0; i < *n && !err; i++) {
        enum push_entry e = push_store_entry(res, i);
        json_object *m = e == PUSH_ENTRY_MESSAGE ? push_json_message(res, i, tag, &pos)
                                                 : push_json_change(res, i, tag, &pos);
        /* a cursor belongs to one user; on the shared topic the id orders the messages */
        if (broadcast && e != PUSH_ENTRY_DELETE)
            json_object_object_add(m, "cursor", NULL);
        if (e == PUSH_ENTRY_UPDATE)
            json_object_object_add(m, "event", json_object_new_string("update"));
        if (send_json(b, e == PUSH_ENTRY_DELETE ? deleted : topic, m, 0, &bytes) < 0)
            err = PUSH_MQTT_BRIDGE_BROKER;
    }
    /* the last entry's place in this stream (a change's is its own id, not its message's); with
     * nothing left out, the head the read saw (past changes it had no reason to publish) */
    int64_t to = *n ? strtoll(PQgetvalue(res, *n - 1, broadcast ? PUSH_COL_AT_B : PUSH_COL_AT_P),
                              NULL, 10)
                    : *last;
    int64_t h = broadcast ? head.broadcast : head.personal;
    if (*n < b->cfg->batch && h > to)
        to = h;
    if (!err && *n)
        err = flush(b);
    if (!err && to > *last) {
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, to);
        if (*n)
            delivered(b, res, *n, bytes);
        if (ack(conn, user, id) < 0)
            err = PUSH_MQTT_BRIDGE_DB;
        else
            *last = to;
    }
    PQclear(res);
    return err;
}

/* Publishes a whole stream from its stored cursor; *lastp (if not NULL) is set to the id the
 * broker acknowledged last. */
static err_t stream(struct push_mqtt_bridge *b, PGconn *conn, const char *user, int64_t *lastp)
{
    char topic[PUSH_MQTT_TOPIC_MAX];
    int ok, n, total = 0;
    int64_t last = acked(conn, user, &ok);
    err_t err;

    if (!ok)
        return PUSH_MQTT_BRIDGE_DB;
    if (*user ? push_mqtt_user_topic(topic, sizeof topic, b->cfg->prefix, user, "message") < 0
              : push_mqtt_broadcast_topic(topic, sizeof topic, b->cfg->prefix, "message") < 0)
        return PUSH_MQTT_BRIDGE_OK; /* a name no MQTT client can have: nothing to publish to */
    do {
        err = stream_batch(b, conn, user, topic, &last, &n);
        total += n;
    } while (!err && n == b->cfg->batch);
    if (lastp)
        *lastp = last;
    if (total)
        push_log_debug("published %d messages of %s", total, *user ? "a user" : "the broadcasts");
    return err;
}

/* {"total", "by_kind"} from rows [from, to) of res, whose columns kind_col and kind_col + 1 are
 * (kind, n); a NULL kind is a user without unread messages. push_json_unread's shape. */
static json_object *counts(const PGresult *res, int from, int to, int kind_col)
{
    json_object *o = json_object_new_object();
    json_object *by_kind = json_object_new_object();
    int64_t total = 0;

    for (int i = from; i < to; i++) {
        int64_t n;
        if (PQgetisnull(res, i, kind_col))
            continue;
        n = strtoll(PQgetvalue(res, i, kind_col + 1), NULL, 10);
        total += n;
        json_object_object_add(by_kind, PQgetvalue(res, i, kind_col), json_object_new_int64(n));
    }
    json_object_object_add(o, "total", json_object_new_int64(total));
    json_object_object_add(o, "by_kind", by_kind);
    return o;
}

static void keep(struct push_mqtt_bridge *b, const char *user, int64_t acked, int64_t mark,
                 int64_t bhead, const char *counts);

/* Sends user's unread counts (retained) without flushing. When they were counted with the
 * stream's head at last, the id the broker acknowledged, they are kept with it (memory-first
 * delivery): they cover exactly what was published. */
static err_t unread(struct push_mqtt_bridge *b, PGconn *conn, const char *user, int64_t last)
{
    char topic[PUSH_MQTT_TOPIC_MAX];
    struct push_unread_view v;
    json_object *o;
    PGresult *res;
    size_t len;
    int rc;

    if (push_mqtt_user_topic(topic, sizeof topic, b->cfg->prefix, user, "unread") < 0)
        return PUSH_MQTT_BRIDGE_OK;
    if (!(res = push_store_unread(conn, user)))
        return PUSH_MQTT_BRIDGE_DB;
    o = push_json_unread(res);
    if (push_store_unread_view(res, &v) == 0 && v.head.personal == last)
        keep(b, user, last, v.mark.personal, v.head.broadcast, push_json_text(o, &len));
    else
        push_mqtt_bridge_forget(b, user);
    rc = send_json(b, topic, o, 1, NULL);
    PQclear(res);
    return rc < 0 ? PUSH_MQTT_BRIDGE_BROKER : PUSH_MQTT_BRIDGE_OK;
}

/* Up to USERS_PAGE users after `after` (push.mqtt_users) with their counts, a row per kind (kinds
 * in push_store_unread's order), each with what they were counted against (push.unread_view) and
 * the id the broker acknowledged last, all in one snapshot. */
enum { PAGE_NAME, PAGE_KIND, PAGE_N, PAGE_P, PAGE_B, PAGE_MARK_P, PAGE_MARK_B, PAGE_ACKED };

static PGresult *unread_page(PGconn *conn, const char *after)
{
    char lim[16];
    const char *params[] = { after, lim };

    snprintf(lim, sizeof lim, "%d", USERS_PAGE);
    return PQexecParams(conn,
                        "SELECT u.name, x.kind, x.n, x.p, x.b, x.mark_p, x.mark_b,"
                        " push.mqtt_acked(u.name)"
                        " FROM push.mqtt_users($1, $2) u(name)"
                        " CROSS JOIN LATERAL push.unread_view(u.name) x"
                        " ORDER BY 1, x.kind COLLATE \"C\"", 2, NULL, params, NULL, NULL, 0);
}

static int64_t page_i64(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* The counts of every user push.mqtt_users names: one query per USERS_PAGE users (a broadcast
 * changes everyone's), then one flush. */
static err_t all_unread(struct push_mqtt_bridge *b, PGconn *conn, int *total)
{
    char after[PUSH_USER_MAX + 1] = "", topic[PUSH_MQTT_TOPIC_MAX];
    err_t err = PUSH_MQTT_BRIDGE_OK;

    for (;;) {
        PGresult *res = unread_page(conn, after);
        int rows, users = 0;
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            PQclear(res);
            return PUSH_MQTT_BRIDGE_DB;
        }
        rows = PQntuples(res);
        for (int i = 0, j; i < rows && !err; i = j, users++, (*total)++) {
            const char *user = PQgetvalue(res, i, 0);
            for (j = i + 1; j < rows && strcmp(PQgetvalue(res, j, 0), user) == 0; j++)
                ;
            json_object *o;
            size_t len;
            if (push_mqtt_user_topic(topic, sizeof topic, b->cfg->prefix, user, "unread") < 0)
                continue;
            o = counts(res, i, j, PAGE_KIND);
            /* all of the user's stream published (the broadcasts and the pending streams went
             * first): kept, as after push_mqtt_bridge_user, so that a '*' costs no one's next
             * message a read */
            if (page_i64(res, i, PAGE_ACKED) == page_i64(res, i, PAGE_P))
                keep(b, user, page_i64(res, i, PAGE_ACKED), page_i64(res, i, PAGE_MARK_P),
                     page_i64(res, i, PAGE_B), push_json_text(o, &len));
            if (send_json(b, topic, o, 1, NULL) < 0)
                err = PUSH_MQTT_BRIDGE_BROKER;
        }
        if (rows)
            snprintf(after, sizeof after, "%s", PQgetvalue(res, rows - 1, 0));
        PQclear(res);
        if (!err)
            err = flush(b);
        if (err || users < USERS_PAGE)
            return err;
    }
}

err_t push_mqtt_bridge_user(struct push_mqtt_bridge *b, PGconn *conn, const char *user)
{
    int64_t last = -1;
    err_t err;

    if (!push_mqtt_user_ok(user))
        return PUSH_MQTT_BRIDGE_OK;
    if ((err = stream(b, conn, user, &last)) || (err = unread(b, conn, user, last)))
        return err;
    return flush(b);
}

err_t push_mqtt_bridge_seen(PGconn *conn, const char *user)
{
    const char *params[] = { user };
    PGresult *res;
    int ok;

    if (!push_mqtt_user_ok(user))
        return PUSH_MQTT_BRIDGE_OK;
    res = PQexecParams(conn, "SELECT push.mqtt_seen($1)", 1, NULL, params, NULL, NULL, 0);
    ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return ok ? PUSH_MQTT_BRIDGE_OK : PUSH_MQTT_BRIDGE_DB;
}

/* The personal messages of every user push.mqtt_pending names, stream by stream. */
static err_t pending_streams(struct push_mqtt_bridge *b, PGconn *conn)
{
    char after[PUSH_USER_MAX + 1] = "";
    err_t err = PUSH_MQTT_BRIDGE_OK;

    for (;;) {
        PGresult *res = users_page(conn, after);
        int n;
        if (!res)
            return PUSH_MQTT_BRIDGE_DB;
        n = PQntuples(res);
        for (int i = 0; i < n && !err; i++)
            if (push_mqtt_user_ok(PQgetvalue(res, i, 0))) /* others cannot subscribe */
                err = stream(b, conn, PQgetvalue(res, i, 0), NULL);
        if (n)
            snprintf(after, sizeof after, "%s", PQgetvalue(res, n - 1, 0));
        PQclear(res);
        if (err || n < USERS_PAGE)
            return err;
    }
}

err_t push_mqtt_bridge_all(struct push_mqtt_bridge *b, PGconn *conn)
{
    long start = push_now_ms();
    int users = 0;
    err_t err;

    push_mqtt_bridge_forget(b, NULL); /* (kept again below, from the counts' read) */
    if ((err = stream(b, conn, "", NULL))
        || (err = pending_streams(b, conn))
        || (err = all_unread(b, conn, &users)))
        return err;
    push_log_debug("everything read and published again, %d users' counts, in %ld ms", users,
                   push_now_ms() - start);
    return PUSH_MQTT_BRIDGE_OK;
}

/* --- memory-first delivery */

struct held_slot {
    char user[PUSH_USER_MAX + 1];
    int64_t acked, mark; /* the id the broker acknowledged last; the counts' read watermark */
    int64_t bhead;       /* the newest broadcast then: a message's cursor holds it (as a read's) */
    char *counts;        /* the counts published last (push_json_unread's text); NULL: empty */
};

struct queued {
    struct push_carried *m; /* held */
    struct push_cursor after; /* the position before it, where its cursor starts */
    char *counts;           /* the counts to publish with it */
};

struct push_mqtt_held {
    struct held_slot slot[PUSH_MQTT_HELD_SLOTS];
    struct queued q[PUSH_MQTT_CARRY_MAX];
    int qn;
};

/* A user may be kept in either of two slots, from two parts of the hash: two users who share one
 * rarely share both, so that they do not take turns replacing each other. */
static struct held_slot *slot_of(const struct push_mqtt_bridge *b, const char *user, int which)
{
    uint32_t h = push_hash(user);

    return &b->held->slot[(which ? h >> 16 : h) % PUSH_MQTT_HELD_SLOTS];
}

static int holds(const struct held_slot *h, const char *user)
{
    return h->counts && strcmp(h->user, user) == 0;
}

static struct held_slot *find(const struct push_mqtt_bridge *b, const char *user)
{
    struct held_slot *h;

    if (!b->held)
        return NULL;
    if (holds(h = slot_of(b, user, 0), user) || holds(h = slot_of(b, user, 1), user))
        return h;
    return NULL;
}

static void keep(struct push_mqtt_bridge *b, const char *user, int64_t acked, int64_t mark,
                 int64_t bhead, const char *counts)
{
    struct held_slot *h;

    if (!b->held)
        b->held = xcalloc(1, sizeof *b->held);
    /* where it is already, else an empty one of its two, else the first (replacing) */
    if (!(h = find(b, user))) {
        h = slot_of(b, user, 0);
        if (h->counts && !slot_of(b, user, 1)->counts)
            h = slot_of(b, user, 1);
    }
    free(h->counts);
    snprintf(h->user, sizeof h->user, "%s", user);
    h->acked = acked;
    h->mark = mark;
    h->bhead = bhead;
    h->counts = xstrdup(counts);
}

void push_mqtt_bridge_forget(struct push_mqtt_bridge *b, const char *user)
{
    struct held_slot *h;

    if (!b->held)
        return;
    if (user) {
        if ((h = find(b, user))) {
            free(h->counts);
            h->counts = NULL;
        }
        return;
    }
    for (int i = 0; i < PUSH_MQTT_HELD_SLOTS; i++) {
        free(b->held->slot[i].counts);
        b->held->slot[i].counts = NULL;
    }
}

int push_mqtt_bridge_keeps(const struct push_mqtt_bridge *b, const char *user)
{
    return find(b, user) != NULL;
}

int push_mqtt_bridge_carry(struct push_mqtt_bridge *b, struct push_carried *m)
{
    struct held_slot *h = m->broadcast ? NULL : find(b, m->user);
    struct queued *q;
    char *counts;

    if (!m->broadcast && !push_mqtt_user_ok(m->user))
        return 0; /* no MQTT client can have the name: nothing to publish (as stream) */
    if (h && m->id <= h->acked)
        return 0;
    /* (a broadcast above it, committed first, would be in a read's cursor: read) */
    if (!h || m->prev != h->acked || m->id <= h->mark || m->id <= h->bhead
        || b->held->qn == PUSH_MQTT_CARRY_MAX
        || !(counts = push_json_unread_add(h->counts, m->kind))) {
        if (h)
            push_mqtt_bridge_forget(b, m->user);
        return -1;
    }
    q = &b->held->q[b->held->qn++];
    push_json_carried_hold(m);
    *q = (struct queued){ m, { h->acked, h->bhead }, counts };
    h->acked = m->id;
    free(h->counts);
    h->counts = xstrdup(counts);
    return 1;
}

/* Empties the queue. */
static void unqueue(struct push_mqtt_held *held)
{
    for (int i = 0; i < held->qn; i++) {
        push_json_carried_put(held->q[i].m);
        free(held->q[i].counts);
    }
    held->qn = 0;
}

err_t push_mqtt_bridge_carried(struct push_mqtt_bridge *b, PGconn *conn)
{
    const char *streams[PUSH_MQTT_CARRY_MAX];
    int64_t ids[PUSH_MQTT_CARRY_MAX];
    struct push_mqtt_held *held = b->held;
    err_t err = PUSH_MQTT_BRIDGE_OK;
    long bytes = 0;
    int n;

    if (!held || !(n = held->qn))
        return PUSH_MQTT_BRIDGE_OK;
    for (int i = 0; i < n && !err; i++) {
        const struct queued *q = &held->q[i];
        char tag[PUSH_CURSOR_TAG_LEN + 1], mt[PUSH_MQTT_TOPIC_MAX], ut[PUSH_MQTT_TOPIC_MAX];
        struct push_cursor pos = q->after;
        size_t len;
        char *text;
        push_cursor_tag(q->m->user, tag);
        /* (push_mqtt_bridge_carry took valid names only) */
        push_mqtt_user_topic(mt, sizeof mt, b->cfg->prefix, q->m->user, "message");
        push_mqtt_user_topic(ut, sizeof ut, b->cfg->prefix, q->m->user, "unread");
        text = push_json_carried_text(q->m, tag, &pos, &len);
        if (push_mqtt_pub_send(b->pub, mt, text, len, 0) < 0
            || push_mqtt_pub_send(b->pub, ut, q->counts, strlen(q->counts), 1) < 0)
            err = PUSH_MQTT_BRIDGE_BROKER;
        bytes += (long)len;
        free(text);
        streams[i] = q->m->user;
        ids[i] = q->m->id;
    }
    if (!err)
        err = flush(b);
    if (!err && push_store_mqtt_ack_many(conn, streams, ids, n) < 0)
        err = PUSH_MQTT_BRIDGE_DB;
    if (!err) {
        push_metric_add(PUSH_M_DELIVERED, n);
        push_metric_add(PUSH_M_DELIVERED_BYTES, bytes);
        push_metric_add(PUSH_M_CARRIED, n);
        for (int i = 0; i < n && b->live; i++)
            push_metric_lag_since(held->q[i].m->created_at);
        push_log_debug("published %d carried messages without reading", n);
    } else {
        push_mqtt_bridge_forget(b, NULL);
    }
    unqueue(held);
    return err;
}

void push_mqtt_bridge_free(struct push_mqtt_bridge *b)
{
    if (!b->held)
        return;
    push_mqtt_bridge_forget(b, NULL);
    unqueue(b->held);
    free(b->held);
    b->held = NULL;
}

int push_mqtt_bridge_check(PGconn *conn)
{
    const char *u = PUSH_DBCHECK_USER;
    PGresult *res;
    int ok;

    acked(conn, u, &ok);
    if (!ok || !(res = users_page(conn, "")))
        return -1;
    PQclear(res);
    res = unread_page(conn, "");
    ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    if (!ok || push_mqtt_bridge_seen(conn, u) != PUSH_MQTT_BRIDGE_OK || ack(conn, u, "0") < 0)
        return -1;
    return 0;
}

const char *push_mqtt_bridge_strerror(enum push_mqtt_bridge_err err)
{
    switch (err) {
    case PUSH_MQTT_BRIDGE_OK: return "ok";
    case PUSH_MQTT_BRIDGE_DB: return "a query failed";
    case PUSH_MQTT_BRIDGE_BROKER: return "the MQTT broker is not connected or did not acknowledge";
    }
    return "unknown error";
}
