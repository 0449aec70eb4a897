/* push_stream.c: the stream loop and the long poll, over the hub and the connection pool */
#include "config.h"

#include "runtime/push_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "core/push_log.h"
#include "core/push_util.h"
#include "store/push_store.h"
#include "http/push_edge.h"
#include "http/push_http.h"
#include "http/push_server.h"
#include "transport/push_json.h"
#include "runtime/push_expiry.h"
#include "runtime/push_loop.h"
#include "runtime/push_status.h"

#define STREAM_BATCH PUSH_STREAM_BATCH
#define DB_RETRY_MS 1000      /* a stream whose query failed reads again after this */

/* One read of a user's stream. */
struct batch {
    PGresult *msgs;   /* after the cursor, oldest first (NULL when only the state was read) */
    PGresult *unread;
    struct push_state st;
};

static void batch_clear(struct batch *b)
{
    PQclear(b->msgs);
    PQclear(b->unread);
    memset(b, 0, sizeof *b);
}

/* One read on a pooled connection (push_pool_read_many, with its one retry): the state too with
 * want_state or from now on (after NULL: the messages after the head read), the messages after
 * the cursor (at most limit), the unread counts. Returns 0, or -1 with *err and msg. */
static int fetch(const struct push_stream_ctx *ctx, const char *user, const char *kinds,
                 const struct push_cursor *after, int limit, int want_state, struct batch *b,
                 enum push_db_err *err, char *msg, size_t msglen)
{
    struct push_store_read r = { .user = user, .after = after ? *after : (struct push_cursor){ 0, 0 },
                                 .limit = limit, .kinds = kinds, .want_state = want_state || !after,
                                 .from_head = !after };

    memset(b, 0, sizeof *b);
    if (push_pool_read_many(ctx->pool, &r, 1, err, msg, msglen) < 0)
        return -1;
    b->msgs = r.msgs;
    b->unread = r.unread;
    b->st = r.st;
    return 0;
}

static struct timespec at_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    return ts;
}

static void answer_token_expired(struct push_request *r, const char *user)
{
    push_log_info("a long poll of %s ended: its token expired", user);
    push_http_error(r, 401, "token_expired", "the token has expired; send a fresh one",
                    "WWW-Authenticate: Bearer realm=\"pgpush\", error=\"invalid_token\"\r\n");
}

/* Joins the hub, or answers 503/429 and returns -1. */
static int join(const struct push_stream_ctx *ctx, struct push_request *r,
                const struct push_encoder *enc, void *arg, struct push_waiter *w, const char *user)
{
    enum push_hub_err err;

    w->wake = NULL; /* a blocking waiter: push_hub_wait */
    w->wake_arg = NULL;
    err = push_hub_join(ctx->hub, w, user);
    if (err == PUSH_HUB_OK)
        return 0;
    push_emit_refuse(r, ctx->cfg, enc, arg, push_hub_refusal(err));
    return -1;
}

/* --- streaming */

struct stream {
    const struct push_stream_ctx *ctx;
    const char *user;
    struct push_emitter e;
    long expiry; /* push_now_ms's clock; 0: none */
};

static int emit(struct stream *s, struct batch *b, int *more)
{
    return push_emit(&s->e, b->msgs, b->unread, more);
}

/* Says why a stream ended early: a client that left is routine, one too slow to read is not. */
static void gone(struct stream *s)
{
    if (push_request_timed_out(s->e.r))
        push_log_info("dropped a stream of %s: the client took no data for %d s", s->user,
                      push_config_current(s->ctx->cfg)->write_timeout);
    else
        push_log_debug("a stream of %s ended: the client left", s->user);
}

/* The loop after the headers of a stream in its own thread (plain CGI): read, write, wait; until
 * the lifetime ends, the token expires or the client left. */
static void stream_loop(struct stream *s, struct push_waiter *w, struct batch *first)
{
    const struct push_config *cfg = push_config_current(s->ctx->cfg);
    long end = push_now_ms() + cfg->lifetime * 1000L;
    long next_beat = push_now_ms() + cfg->heartbeat * 1000L;
    long retry_at = 0;
    long check_ms = cfg->heartbeat * 1000L / 3 > 250 ? cfg->heartbeat * 1000L / 3 : 250;
    int more = 0, fetch_now = 0;
    struct batch b = *first;
    enum push_db_err err;
    char msg[256];

    for (;;) {
        if (b.unread) {
            int n = emit(s, &b, &more);
            batch_clear(&b);
            if (n < 0) {
                gone(s);
                return;
            }
            if (n > 0)
                next_beat = push_now_ms() + cfg->heartbeat * 1000L;
        }
        if (!more) {
            long now = push_now_ms();
            if (now >= end || (s->expiry && now >= s->expiry)) {
                int expired = s->expiry && now >= s->expiry;
                if (expired)
                    push_log_info("a stream of %s ended: its token expired", s->user);
                if (s->e.enc->end(s->e.r, expired ? "token_expired" : "lifetime", 0, s->e.arg) == 0)
                    push_request_flush(s->e.r);
                return;
            }
            long until = next_beat < end ? next_beat : end;
            if (s->expiry && s->expiry < until)
                until = s->expiry;
            if (retry_at && retry_at < until)
                until = retry_at;
            /* look at the connection a few times per heartbeat: a web server that saw its
             * client leave has hung up, and the slot is freed without waiting to write */
            if (until > now + check_ms)
                until = now + check_ms;
            struct timespec deadline = at_ms(until);
            fetch_now = push_hub_wait(s->ctx->hub, w, &deadline);
            now = push_now_ms();
            if (!fetch_now && push_request_closed(s->e.r)) {
                gone(s);
                return;
            }
            if (retry_at && now >= retry_at)
                fetch_now = 1;
            if (now >= next_beat) {
                if (s->e.enc->heartbeat(s->e.r, s->e.arg) < 0 || push_request_flush(s->e.r) < 0) {
                    gone(s);
                    return;
                }
                next_beat = now + cfg->heartbeat * 1000L;
            }
            if (!fetch_now)
                continue;
        }
        more = 0;
        retry_at = 0;
        /* a wake-up reads only what it sends: no state query (the first read checked the cursor) */
        if (fetch(s->ctx, s->user, s->e.kinds, &s->e.pos, STREAM_BATCH + 1, 0, &b, &err, msg,
                  sizeof msg) < 0)
            retry_at = push_now_ms() + DB_RETRY_MS; /* the cursor stays: nothing is lost */
    }
}

/* push_stream_run and push_stream_longpoll for a FastCGI request (push_longpoll_encoder: a long poll of at
 * most limit messages): this thread joins the hub (or answers 503/429) and hands the connection
 * to the event loop, whose readers make the first read and answer, until end_ms. Accepting
 * never waits on PostgreSQL. */
static void in_loop(const struct push_stream_ctx *ctx, struct push_request *r,
                    const struct push_encoder *enc, const void *arg,
                    const struct push_identity *id, const char *tag, const char *kinds,
                    const struct push_cursor *from, int limit, long end_ms)
{
    enum push_hub_err herr;
    /* joined before the first read: a change from then on wakes the stream (push_loop_adopt) */
    struct push_loop_stream *ls = push_loop_join(ctx->loop, id->user, tag, enc, arg, &herr);
    int fd, request_id;

    if (!ls) {
        push_emit_refuse(r, ctx->cfg, enc, (void *)arg, push_hub_refusal(herr));
        return;
    }
    if (push_request_detach(r, &fd, &request_id) < 0) {
        push_loop_abandon(ctx->loop, ls);
        return;
    }
    push_loop_expire_at(ls, push_expiry_ms(id->expires));
    push_loop_filter(ls, kinds);
    if (enc->answer) /* a long poll */
        push_loop_adopt_hold(ctx->loop, ls, fd, request_id, *from, limit, end_ms);
    else
        push_loop_adopt(ctx->loop, ls, fd, request_id, from, end_ms);
}

void push_stream_run(const struct push_stream_ctx *ctx, struct push_request *r,
                     const struct push_encoder *enc, void *arg, const struct push_identity *id,
                     const char *tag, const char *kinds, const struct push_cursor *from)
{
    if (ctx->loop && push_request_detachable(r)) {
        in_loop(ctx, r, enc, arg, id, tag, kinds, from, 0, push_now_ms()
                + push_config_current(ctx->cfg)->lifetime * 1000L);
        return;
    }
    /* plain CGI: no FastCGI connection to hand over; this process's one request streams here */
    const char *user = id->user;
    struct stream s = { ctx, user, { r, enc, arg, tag, kinds, { 0, 0 }, NULL, 0 },
                        push_expiry_ms(id->expires) };
    struct push_waiter w;
    struct batch b;
    enum push_db_err err;
    char msg[256];

    if (join(ctx, r, enc, arg, &w, user) < 0)
        return;
    /* the first read happens after the join: a change from now on wakes us, none is missed */
    if (fetch(ctx, user, kinds, from, STREAM_BATCH + 1, 1, &b, &err, msg, sizeof msg) < 0) {
        push_emit_refuse(r, ctx->cfg, enc, arg, push_refusal_db(err, msg));
    } else if (from && push_store_cursor_ahead(from, &b.st)) {
        push_edge_cursor_future(r);
        batch_clear(&b);
    } else {
        /* from now on: from the head read, with what was committed between its statements */
        s.e.pos = from ? *from : b.st.head;
        if (push_emit_begin(r, push_config_current(ctx->cfg), enc, arg) == 0) /* PUSH_RETRY reloads */
            stream_loop(&s, &w, &b);
        else
            batch_clear(&b);
    }
    push_hub_leave(ctx->hub, &w);
    free(s.e.sent_unread);
}

/* --- long polling */

static void longpoll_answer(struct push_request *r, const char *user, const char *tag,
                            const char *kinds, struct push_cursor pos, struct batch *b, int limit,
                            int timeout)
{
    push_emit_longpoll(r, user, tag, pos, b->msgs, push_json_unread_kinds(b->unread, kinds), limit,
                       timeout);
}

void push_stream_longpoll(const struct push_stream_ctx *ctx, struct push_request *r,
                          const struct push_identity *id, const char *tag, const char *kinds,
                          const struct push_cursor *since, int hold_s, int limit)
{
    const char *user = id->user;
    struct push_waiter w;
    struct batch b;
    enum push_db_err err;
    char msg[256], *first_unread = NULL;
    long hold_ms = hold_s * 1000L, expiry = push_expiry_ms(id->expires);
    /* the token expires first: the hold ends then, with 401 token_expired */
    int expires_first = expiry && expiry - push_now_ms() < hold_ms;
    struct timespec deadline = push_deadline(expires_first ? expiry - push_now_ms() : hold_ms);
    int first = 1;

    if (ctx->loop && push_request_detachable(r)) {
        in_loop(ctx, r, &push_longpoll_encoder, NULL, id, tag, kinds, since, limit,
                push_now_ms() + hold_ms);
        return;
    }
    /* plain CGI: held in this thread, the process's only one */
    if (join(ctx, r, &push_longpoll_encoder, NULL, &w, user) < 0)
        return;
    for (;;) {
        if (fetch(ctx, user, kinds, since, limit + 1, first, &b, &err, msg, sizeof msg) < 0) {
            push_edge_db_error(r, err, msg);
            break;
        }
        if (first && push_store_cursor_ahead(since, &b.st)) {
            push_edge_cursor_future(r);
            batch_clear(&b);
            break;
        }
        first = 0;
        json_object *u = push_json_unread_kinds(b.unread, kinds);
        size_t counts_len;
        const char *counts = push_json_text(u, &counts_len);
        int changed = first_unread && strcmp(first_unread, counts) != 0;
        if (!first_unread)
            first_unread = xstrdup(counts);
        json_object_put(u);
        if (push_store_entries(b.msgs, NULL) > 0 || changed) {
            longpoll_answer(r, user, tag, kinds, *since, &b, limit, 0);
            batch_clear(&b);
            break;
        }
        if (!push_hub_wait(ctx->hub, &w, &deadline)) {
            if (expires_first)
                answer_token_expired(r, user);
            else
                longpoll_answer(r, user, tag, kinds, *since, &b, limit, 1);
            batch_clear(&b);
            break;
        }
        batch_clear(&b);
    }
    push_hub_leave(ctx->hub, &w);
    free(first_unread);
}

void push_stream_current(const struct push_stream_ctx *ctx, struct push_request *r,
                         const char *user, const char *tag, const char *kinds, int limit)
{
    struct push_loop_stream *ls;
    if (ctx->loop && push_request_detachable(r) && (ls = push_loop_answer(ctx->loop, user, tag))) {
        int fd, request_id; /* the loop's readers read and answer */
        push_loop_filter(ls, kinds);
        if (push_request_detach(r, &fd, &request_id) < 0)
            push_loop_abandon(ctx->loop, ls);
        else
            push_loop_adopt_current(ctx->loop, ls, fd, request_id, limit);
        return;
    }
    /* the newest limit messages, the counts and the state, in one snapshot */
    struct push_store_read rd = { .user = user, .limit = limit, .kinds = kinds, .want_state = 1,
                                  .newest = 1 };
    struct batch b = { 0 };
    enum push_db_err err;
    char msg[256];

    if (push_pool_read_many(ctx->pool, &rd, 1, &err, msg, sizeof msg) < 0) {
        push_edge_db_error(r, err, msg);
        return;
    }
    b.msgs = rd.msgs;
    b.unread = rd.unread;
    b.st = rd.st;
    /* the newest list: its messages' own cursors, and the head to go on from */
    push_emit_answer(r, &push_longpoll_encoder, NULL, push_json_answer(user, tag, b.msgs, limit, (struct push_cursor){ 0, 0 },
                                         &b.st.head, push_json_unread_kinds(b.unread, kinds), 0));
    batch_clear(&b);
}

/* --- main of the streaming programs */

static void *stream_worker_new(void *app)
{
    return app;
}

static void stream_worker_free(void *state)
{
    (void)state;
}

static void (*stream_handler)(struct push_request *r, const struct push_stream_ctx *ctx);

/* The web server's status location: metrics, or health through one of the pool's connections. */
static void stream_status(struct push_request *r, const struct push_stream_ctx *ctx,
                          enum push_status_kind kind)
{
    struct push_metrics_state st = { .program = ctx->program,
                                     .transport = ctx->program + strlen("push-"), .broker = -1 };
    struct push_db *db = push_pool_acquire(ctx->pool);

    push_hub_status(ctx->hub, &st.streams, &st.listening);
    if (ctx->loop)
        st.streams = push_loop_count(ctx->loop);
    st.db_busy = push_pool_busy(ctx->pool, &st.db_pool) - 1; /* less the one the check holds */
    push_status_answer(r, kind, &st, db);
    push_pool_release(ctx->pool, db);
}

static void stream_handle(struct push_request *r, void *state)
{
    enum push_status_kind kind = push_status_wanted(r);

    if (kind != PUSH_STATUS_NONE)
        stream_status(r, state, kind);
    else
        stream_handler(r, state);
}

/* SIGTERM: every stream and held poll is told to come back (push_loop_drain), and so is every
 * newcomer until the process exits. */
static void stream_drain(void *app)
{
    const struct push_stream_ctx *ctx = app;

    push_loop_drain(ctx->loop, "shutdown", push_config_current(ctx->cfg)->drain_spread_ms);
}

static int stream_open(void *app)
{
    const struct push_stream_ctx *ctx = app;

    return push_loop_count(ctx->loop);
}

int push_stream_main(const struct push_program *p, int argc, char **argv,
                     void (*handle)(struct push_request *r, const struct push_stream_ctx *ctx))
{
    static struct push_config cfg;
    static struct push_stream_ctx ctx;
    int rc;
    /* a worker only answers and hands streams and held polls over to the event loop: a few
     * suffice, however many streams are open */
    struct push_server server = {
        .cfg = &cfg,
        .app = &ctx,
        .worker_new = stream_worker_new,
        .worker_free = stream_worker_free,
        .handle = stream_handle,
        .threads_spawned = 64,
        .threads_external = 64,
        .drain = stream_drain,
        .open = stream_open,
    };

    push_server_hold_stops(); /* before any thread: the server's drain thread takes SIGTERM */
    if ((rc = push_program_init(p, argc, argv, &cfg)) >= 0)
        return rc;
    stream_handler = handle;
    ctx.cfg = &cfg;
    ctx.program = p->name;
    int cgi = push_server_is_cgi(&cfg), streams = cfg.max_streams;
    if (!cgi) {
        /* every stream and every request in a worker's hands is a descriptor: at the open-file
         * limit clients get 503 too_many_streams, and the process never runs out */
        cfg.threads = push_server_threads(&server);
        streams = push_server_stream_cap(&cfg, cfg.threads);
    }
    /* one LISTEN connection and cfg.db_pool query connections, whatever the number of streams */
    if (!cgi && push_program_listen_direct(p->name, &cfg) < 0)
        return 1;
    ctx.hub = push_hub_start(push_config_listen_url(&cfg), p->name, streams, cfg.max_streams_per_user);
    push_hub_follow_reloads(ctx.hub);
    ctx.pool = push_program_pool(p->name, &cfg);
    /* FastCGI (spawned or external): open streams and held polls live in the event loop. Plain
     * CGI has no FastCGI connection to hand over: its one request keeps its stream or poll in
     * this thread (push_stream_run, push_stream_longpoll), reading through the pool. */
    if (!cgi)
        ctx.loop = push_loop_start(&cfg, ctx.hub, ctx.pool);
    push_expiry_start(ctx.pool); /* an open stream gets the delete event when an expiry comes */
    return push_server_run(&server);
}
