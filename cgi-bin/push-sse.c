/* push-sse.c: Server-Sent Events: the user's messages and unread counts as they happen */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "http/push_edge.h"
#include "transport/push_sse.h"
#include "runtime/push_stream.h"

static const struct push_program program = {
    "push-sse",
    "Server-Sent Events for pgpush (text/event-stream).\n\n"
    "GET [?since=CURSOR]  streams \"message\" events (id: the cursor after the message) and\n"
    "                     \"unread\" events, from the Last-Event-ID header, ?lastEventId= or\n"
    "                     ?since= (none: from now on); heartbeats every PUSH_HEARTBEAT s; ends\n"
    "                     cleanly after PUSH_LIFETIME s and EventSource resumes, losing nothing;\n"
    "                     at the token's expiry it ends with event: close, reason token_expired.\n"
    "Identity: as every program, or ?ticket= a stream ticket from push-poll (POST {\"ticket\": true}),\n"
    "so that the token never goes into a URL.\n"
    "One LISTEN connection and PUSH_DB_POOL query connections per process, whatever the number\n"
    "of streams; run it as an external FastCGI server (--listen) to hold thousands of them.\n",
    NULL,
};

/* What a stream needs from its request. */
struct sse_request {
    struct push_identity id;
    char tag[PUSH_CURSOR_TAG_LEN + 1];
    struct push_cursor from;
    int has_from;
};

/* Reads the request into a; answers and returns -1 when it cannot be served. */
static int read_request(struct push_request *r, const struct push_stream_ctx *ctx,
                        struct push_query *q, struct sse_request *a)
{
    const char *method = push_request_env(r, "REQUEST_METHOD");
    const char *from_text;

    if (push_edge_identify_stream(r, ctx->cfg, q, &a->id) < 0)
        return -1;
    if (!method || strcmp(method, "GET") != 0) {
        push_edge_method(r, "GET");
        return -1;
    }
    push_cursor_tag(a->id.user, a->tag);
    /* a reconnecting EventSource sends the last id it saw; a page can name one itself */
    from_text = push_request_env(r, "HTTP_LAST_EVENT_ID");
    if (!from_text || !*from_text)
        from_text = push_query_get(q, "lastEventId");
    if (!from_text || !*from_text)
        from_text = push_query_get(q, "since");
    a->has_from = from_text && *from_text;
    return a->has_from ? push_edge_cursor(r, from_text, a->tag, &a->from) : 0;
}

static void handle(struct push_request *r, const struct push_stream_ctx *ctx)
{
    struct push_query *q = push_query_new(); /* 4 KiB: freed before the stream's long life */
    struct sse_request a;
    int rc = read_request(r, ctx, q, &a);

    free(q);
    if (rc == 0)
        push_stream_run(ctx, r, &push_sse_encoder, NULL, &a.id, a.tag,
                        a.has_from ? &a.from : NULL);
}

int main(int argc, char **argv)
{
    return push_stream_main(&program, argc, argv, handle, PUSH_STREAM_EVENT_LOOP);
}
