/* push-sse.c: Server-Sent Events: the user's messages and unread counts as they happen */
#include "config.h"

#include <string.h>

#include "push_edge.h"
#include "push_sse.h"
#include "push_stream.h"

static const struct push_program program = {
    "push-sse",
    "Server-Sent Events for pgpush (text/event-stream).\n\n"
    "GET [?since=CURSOR]  streams \"message\" events (id: the cursor after the message) and\n"
    "                     \"unread\" events, from the Last-Event-ID header, ?lastEventId= or\n"
    "                     ?since= (none: from now on); heartbeats every PUSH_HEARTBEAT s; ends\n"
    "                     cleanly after PUSH_LIFETIME s and EventSource resumes, losing nothing.\n"
    "One LISTEN connection and PUSH_DB_POOL query connections per process, whatever the number\n"
    "of streams; run it as an external FastCGI server (--listen) to hold thousands of them.\n",
};

static void handle(struct push_request *r, const struct push_stream_ctx *ctx)
{
    const char *method = push_request_env(r, "REQUEST_METHOD");
    const char *from_text;
    char tag[PUSH_CURSOR_TAG_LEN + 1];
    struct push_identity id;
    struct push_query q;
    struct push_cursor from;

    if (push_edge_identify(r, ctx->cfg, &q, &id) < 0)
        return;
    if (!method || strcmp(method, "GET") != 0) {
        push_edge_method(r, "GET");
        return;
    }
    push_cursor_tag(id.user, tag);
    /* a reconnecting EventSource sends the last id it saw; a page can name one itself */
    from_text = push_request_env(r, "HTTP_LAST_EVENT_ID");
    if (!from_text || !*from_text)
        from_text = push_query_get(&q, "lastEventId");
    if (!from_text || !*from_text)
        from_text = push_query_get(&q, "since");
    if (from_text && *from_text && push_edge_cursor(r, from_text, tag, &from) < 0)
        return;
    push_stream_run(ctx, r, &push_sse_encoder, NULL, id.user, tag,
                    from_text && *from_text ? &from : NULL);
}

int main(int argc, char **argv)
{
    return push_stream_main(&program, argc, argv, handle);
}
