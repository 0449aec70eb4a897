/* push_emit.c: one read of a user's stream, written through the transport's encoder */
#include "config.h"

#include "transport/push_emit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <json-c/json.h>

#include "core/push_log.h"
#include "core/push_metrics.h"
#include "core/push_util.h"
#include "store/push_store.h"
#include "http/push_http.h"
#include "transport/push_json.h"

int push_emit_begin(struct push_request *r, const struct push_config *cfg,
                    const struct push_encoder *enc, void *arg)
{
    return push_request_write(r, "Status: 200 OK\r\n", 16) == 0
           && push_request_write(r, enc->headers, strlen(enc->headers)) == 0
           && (!enc->more_headers || enc->more_headers(r, arg) == 0)
           && push_request_write(r, "\r\n", 2) == 0 && enc->begin(r, cfg, arg) == 0 ? 0 : -1;
}

int push_emit(struct push_emitter *e, const PGresult *msgs, const PGresult *unread, int *more)
{
    struct push_cursor head = { -1, -1 };
    int n = push_store_entries(msgs, &head);
    char cursor[PUSH_CURSOR_MAX];
    size_t len;

    *more = n > PUSH_STREAM_BATCH;
    if (n > PUSH_STREAM_BATCH)
        n = PUSH_STREAM_BATCH;
    for (int i = 0; i < n; i++) {
        enum push_entry kind = push_store_entry(msgs, i);
        json_object *m = kind == PUSH_ENTRY_MESSAGE ? push_json_message(msgs, i, e->tag, &e->pos)
                                                    : push_json_change(msgs, i, e->tag, &e->pos);
        const char *text = push_json_text(m, &len);
        int rc;
        push_cursor_format(&e->pos, e->tag, cursor);
        rc = kind == PUSH_ENTRY_MESSAGE
                 ? e->enc->message(e->r, cursor, text, len, e->arg)
                 : e->enc->change(e->r, push_json_event(kind), cursor, text, len, e->arg);
        json_object_put(m);
        if (rc < 0)
            return -1;
        if (kind != PUSH_ENTRY_MESSAGE) {
            push_metric_add(PUSH_M_CHANGES, 1);
            continue;
        }
        push_metric_add(PUSH_M_DELIVERED, 1);
        push_metric_add(PUSH_M_DELIVERED_BYTES, (long)len);
        if (e->live)
            push_metric_lag_since(PQgetvalue(msgs, i, PUSH_COL_CREATED_AT));
    }
    /* nothing left out: the read saw everything up to its head (what it skipped too: another
     * kind's messages, changes of messages this client never had) */
    if (!*more && head.personal >= 0) {
        if (head.personal > e->pos.personal)
            e->pos.personal = head.personal;
        if (head.broadcast > e->pos.broadcast)
            e->pos.broadcast = head.broadcast;
    }
    json_object *u = push_json_unread_kinds(unread, e->kinds);
    const char *text = push_json_text(u, &len);
    int rc = 0;
    if (!e->sent_unread || strcmp(e->sent_unread, text) != 0) {
        push_cursor_format(&e->pos, e->tag, cursor);
        rc = e->enc->unread(e->r, cursor, text, len, e->arg);
        free(e->sent_unread);
        e->sent_unread = xstrdup(text);
    }
    json_object_put(u);
    if (rc < 0 || push_request_flush(e->r) < 0)
        return -1;
    return n;
}

int push_emit_carried(struct push_emitter *e, const struct push_carried *m, char *counts)
{
    char cursor[PUSH_CURSOR_MAX];
    size_t len, clen = strlen(counts);
    char *text = push_json_carried_text(m, e->tag, &e->pos, &len);
    int rc;

    push_cursor_format(&e->pos, e->tag, cursor);
    rc = e->enc->message(e->r, cursor, text, len, e->arg);
    free(text);
    free(e->sent_unread);
    e->sent_unread = counts;
    if (rc < 0)
        return -1;
    push_metric_add(PUSH_M_DELIVERED, 1);
    push_metric_add(PUSH_M_DELIVERED_BYTES, (long)len);
    push_metric_add(PUSH_M_CARRIED, 1);
    push_metric_lag_since(m->created_at);
    if (e->enc->unread(e->r, cursor, counts, clen, e->arg) < 0 || push_request_flush(e->r) < 0)
        return -1;
    return 0;
}

/* The retry for refusal f: its Retry-After, else cfg->retry_ms, and up to half as much again. */
static int refusal_retry_ms(const struct push_config *cfg, struct push_refusal f)
{
    const char *ra = f.headers ? strstr(f.headers, "Retry-After: ") : NULL;
    long ms = ra ? strtol(ra + 13, NULL, 10) * 1000L : cfg->retry_ms;
    unsigned short r = 0;

    if (ms <= 0 || ms > 3600000L)
        ms = cfg->retry_ms;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = (unsigned short)push_now_ms();
    return (int)(ms + ms / 2 * r / 65535);
}

int push_emit_refuse(struct push_request *r, const struct push_config *cfg,
                     const struct push_encoder *enc, void *arg, struct push_refusal f)
{
    struct push_config c;
    json_object *o;
    const char *text;
    size_t len;
    int rc;

    push_log_info("refused a request (%d %s): %s", f.status, f.code, f.message);
    if (!enc || !enc->refused || !(f.status == 429 || f.status >= 500))
        return push_http_refuse(r, f);
    push_metric_refused(f.status); /* (push_http_refuse counts its own) */
    cfg = push_config_current(cfg); /* PUSH_RETRY reloads */
    c = *cfg;
    c.retry_ms = refusal_retry_ms(cfg, f);
    o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(f.code));
    json_object_object_add(o, "message", json_object_new_string(f.message));
    json_object_object_add(o, "status", json_object_new_int(f.status));
    json_object_object_add(o, "retry", json_object_new_int(c.retry_ms));
    text = push_json_text(o, &len);
    rc = push_emit_begin(r, &c, enc, arg) == 0 && enc->refused(r, text, len, arg) == 0
         && push_request_flush(r) == 0 ? 0 : -1;
    json_object_put(o);
    return rc;
}

int push_emit_answer(struct push_request *r, const struct push_encoder *enc, const char *more,
                     struct json_object *o)
{
    int rc = enc->answer(r, enc->headers, more, o, NULL);

    json_object_put(o);
    return rc;
}

void push_emit_longpoll(struct push_request *r, const char *user, const char *tag,
                        struct push_cursor pos, const PGresult *msgs, struct json_object *unread,
                        int limit, int timeout)
{
    push_emit_answer(r, &push_longpoll_encoder, NULL,
                     push_json_answer(user, tag, msgs, limit, pos, NULL, unread, timeout));
}

void push_emit_longpoll_carried(struct push_request *r, const char *user, const char *tag,
                                struct push_cursor *pos, const struct push_carried *m,
                                const char *counts)
{
    size_t len;
    char *text = push_json_carried_text(m, tag, pos, &len);
    json_object *o = json_object_new_object(), *list = json_object_new_array();

    /* push_json_answer's shape and order */
    json_object_array_add(list, json_tokener_parse(text));
    json_object_object_add(o, "user", json_object_new_string(user));
    json_object_object_add(o, "cursor", push_json_cursor(pos, tag));
    json_object_object_add(o, "unread", json_tokener_parse(counts));
    json_object_object_add(o, "messages", list);
    json_object_object_add(o, "changes", json_object_new_array());
    json_object_object_add(o, "more", json_object_new_boolean(0));
    json_object_object_add(o, "timeout", json_object_new_boolean(0));
    push_metric_add(PUSH_M_DELIVERED, 1);
    push_metric_add(PUSH_M_DELIVERED_BYTES, (long)len);
    push_metric_add(PUSH_M_CARRIED, 1);
    push_metric_lag_since(m->created_at);
    free(text);
    push_emit_answer(r, &push_longpoll_encoder, NULL, o);
}

/* --- the transports that answer once */

static int json_text_answer(struct push_request *r, const char *headers, const char *more,
                            const char *text, size_t len)
{
    size_t hlen = headers ? strlen(headers) : 0, mlen = more ? strlen(more) : 0;
    char *all = xmalloc(hlen + mlen + 1);
    int rc;

    memcpy(all, headers ? headers : "", hlen);
    memcpy(all + hlen, more ? more : "", mlen + 1);
    rc = push_http_respond(r, 200, all, "application/json; charset=utf-8", text, len);
    free(all);
    return rc;
}

static int json_answer(struct push_request *r, const char *headers, const char *more,
                       struct json_object *o, void *arg)
{
    size_t len;
    const char *text = push_json_text(o, &len);

    (void)arg;
    return json_text_answer(r, headers, more, text, len);
}

int push_emit_answer_text(struct push_request *r, const struct push_encoder *enc, const char *more,
                          const char *text, size_t len)
{
    if (enc->answer != json_answer)
        abort(); /* (a JSON encoder's only) */
    return json_text_answer(r, enc->headers, more, text, len);
}

const struct push_encoder push_longpoll_encoder = {
    .headers = "Cache-Control: no-store\r\n",
    .arg_size = 0,
    .answer = json_answer,
};

const struct push_encoder push_poll_encoder = {
    .headers = NULL, /* push-poll's caching headers vary by request: its ETag, and private or no-store */
    .arg_size = 0,
    .answer = json_answer,
};
