/* push-sse.c: Server-Sent Events: the user's messages and unread counts as they happen */
#include "config.h"

#include <stdlib.h>

#include "http/push_edge.h"
#include "transport/push_sse.h"
#include "runtime/push_stream.h"

static const struct push_program program = {
    "push-sse",
    "Server-Sent Events for pgpush (text/event-stream).\n\n"
    "GET [?since=CURSOR][&kinds=K1,K2]  streams \"message\" events (id: the cursor after the\n"
    "                     message), \"update\" and \"delete\" events (an edit, a retraction or an\n"
    "                     expiry of a message it may hold) and \"unread\" events, from the\n"
    "                     Last-Event-ID header, ?lastEventId= or ?since= (none: from now\n"
    "                     on); heartbeats every PUSH_HEARTBEAT s; ends cleanly after\n"
    "                     PUSH_LIFETIME s and EventSource resumes, losing nothing;\n"
    "                     at the token's expiry it ends with event: close, reason token_expired.\n"
    "Identity: as every program, or ?ticket= a stream ticket from push-poll (POST {\"ticket\": true}),\n"
    "so that the token never goes into a URL.\n"
    "One LISTEN connection and PUSH_DB_POOL query connections per process, whatever the number\n"
    "of streams; run it as an external FastCGI server (--listen) to hold thousands of them.\n",
    NULL,
    PUSH_USES_READ,
};

static void handle(struct push_request *r, const struct push_stream_ctx *ctx)
{
    struct push_query *q = push_query_new(); /* 4 KiB: freed before the stream's long life */
    struct push_edge_stream a;
    int rc = push_edge_stream_open(r, ctx->cfg, q, 1, &a);

    if (rc == 0) /* a reconnecting EventSource sends the last id it saw: Last-Event-ID */
        rc = push_edge_stream_from(r, q, 1, &a);
    free(q);
    if (rc == 0)
        push_stream_run(ctx, r, &push_sse_encoder, NULL, &a.id, a.tag, PUSH_EDGE_KINDS(a.kinds),
                        a.has_from ? &a.from : NULL);
}

int main(int argc, char **argv)
{
    return push_stream_main(&program, argc, argv, handle);
}
