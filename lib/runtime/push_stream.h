/* push_stream.h: what every push transport shares: resume from a cursor, wake-ups, heartbeats,
 * lifetime, limits, noticing a client that left */
#ifndef PUSH_STREAM_H
#define PUSH_STREAM_H

#include <stddef.h>

#include "core/push_config.h"
#include "core/push_cursor.h"
#include "store/push_pool.h"
#include "http/push_auth.h"
#include "http/push_request.h"
#include "transport/push_emit.h"
#include "runtime/push_hub.h"
#include "runtime/push_loop.h"
#include "runtime/push_program.h"

/* What a streaming program holds once for all its threads. */
struct push_stream_ctx {
    const struct push_config *cfg;
    const char *program;    /* "push-sse": its name in the metrics */
    struct push_hub *hub;   /* the one LISTEN connection */
    struct push_pool *pool; /* cfg->db_pool query connections */
    struct push_loop *loop;   /* holds the open streams of FastCGI requests; NULL under plain CGI,
                               * whose one request keeps its stream in its own thread */
};

/* Streams the events of id's user (of the kinds of filter kinds only, when not NULL:
 * push_loop_filter) after *from (NULL: from now on) until the lifetime ends (the
 * encoder's end, "lifetime"), id's token expires (end "token_expired", within a scan of the
 * event loop or a quarter of a second) or the client leaves. A FastCGI request is handed to the
 * event loop; a plain CGI request (no connection to hand over) is streamed in this thread. Before any header, it answers the errors itself: 429/503 past the stream limits,
 * 400 for a cursor ahead of every message, 503 when the database is unreachable. While
 * streaming, a database outage only delays events: the stream retries from its cursor. */
void push_stream_run(const struct push_stream_ctx *ctx, struct push_request *r,
                     const struct push_encoder *enc, void *arg, const struct push_identity *id,
                     const char *tag, const char *kinds, const struct push_cursor *from);

/* Long polling: answers at once with the messages after *since (at most limit) and the unread
 * counts when there are any; else holds until the user's stream changes (a new message, or a
 * read-state change that moves the counts) or hold_s seconds pass, then answers with
 * "timeout": true. The answer has push-poll's shape. A poll held when id's token expires is
 * answered 401 {"error": "token_expired"} then. Held in the event loop for a FastCGI request,
 * in this thread for a plain CGI one. */
void push_stream_longpoll(const struct push_stream_ctx *ctx, struct push_request *r,
                          const struct push_identity *id, const char *tag, const char *kinds,
                          const struct push_cursor *since, int hold_s, int limit);

/* The current state at once, as push-poll answers without since: the newest limit messages,
 * the counts, and the head cursor to poll or stream from. */
void push_stream_current(const struct push_stream_ctx *ctx, struct push_request *r,
                         const char *user, const char *tag, const char *kinds, int limit);

/* main() of a streaming program: reads the command line and environment (push_program_init),
 * starts the hub and the pool, and serves, handing each request to handle. As FastCGI (spawned
 * or external) it starts the event loop (push_loop), where open streams and held polls live;
 * as plain CGI it serves its one request in the main thread, without a loop. */
int push_stream_main(const struct push_program *p, int argc, char **argv,
                     void (*handle)(struct push_request *r, const struct push_stream_ctx *ctx));

#endif
