/* push-iframe.c: hidden-iframe streaming: the user's events as <script> calls into the parent page */
#include "config.h"

#include <stdlib.h>

#include "http/push_edge.h"
#include "http/push_http.h"
#include "transport/push_iframe.h"
#include "runtime/push_stream.h"

static const struct push_program program = {
    "push-iframe",
    "Hidden-iframe streaming for pgpush (text/html), for browsers and proxies without SSE.\n\n"
    "GET ?callback=NAME[&since=CURSOR][&kinds=K1,K2]\n"
    "    an HTML document whose scripts call parent.NAME(type, cursor, data) as events happen:\n"
    "    \"open\" (data {\"retry\": ms}), \"unread\" ({\"total\", \"by_kind\"}), \"message\" (the\n"
    "    message; cursor resumes right after it), \"update\" (the message as it is now) and\n"
    "    \"delete\" ({\"id\"}), \"heartbeat\" every PUSH_HEARTBEAT s, and\n"
    "    \"close\" after PUSH_LIFETIME s: then reload the frame with since= the last cursor\n"
    "    (reason \"token_expired\" at the token's expiry: reload with a fresh ticket).\n"
    "    Identity: as every program, or ?ticket= a stream ticket from push-poll.\n"
    "    NAME: [A-Za-z_$][A-Za-z0-9_$]{0,63} (default pgpush). The frame must be same-origin\n"
    "    with its parent (X-Frame-Options: SAMEORIGIN); cross-site requests get 403.\n"
    "Message text is escaped for the script element (< > & U+2028 U+2029 as \\u escapes,\n"
    "invalid UTF-8 as U+FFFD) and only this response's scripts may run (CSP nonce).\n"
    "One LISTEN connection and PUSH_DB_POOL query connections per process, whatever the number\n"
    "of streams; run it as an external FastCGI server (--listen) to hold thousands of them.\n",
    NULL,
    PUSH_USES_READ,
};

/* What a stream needs from its request. */
struct iframe_request {
    struct push_edge_stream s;
    struct push_iframe it;
};

/* Reads the request into a; answers and returns -1 when it cannot be served. */
static int read_request(struct push_request *r, const struct push_stream_ctx *ctx,
                        struct push_query *q, struct iframe_request *a)
{
    const char *callback;

    if (push_edge_stream_open(r, ctx->cfg, q, 1, &a->s) < 0)
        return -1;
    /* another site framing this page would be its parent and get the user's messages */
    if (push_edge_cross_site(r, ctx->cfg)) {
        push_http_error(r, 403, "origin_forbidden", "cross-site requests are not allowed", NULL);
        return -1;
    }
    callback = push_query_get(q, "callback");
    if (push_iframe_init(&a->it, callback ? callback : "pgpush") < 0) {
        push_http_error(r, 400, "bad_callback",
                        "callback must be 1 to 64 of A-Z a-z 0-9 _ $, not starting with a digit",
                        NULL);
        return -1;
    }
    return push_edge_stream_from(r, q, 0, &a->s); /* ?since= only */
}

static void handle(struct push_request *r, const struct push_stream_ctx *ctx)
{
    struct push_query *q = push_query_new(); /* 4 KiB: freed before the stream's long life */
    struct iframe_request a;
    int rc = read_request(r, ctx, q, &a);

    free(q);
    if (rc == 0)
        push_stream_run(ctx, r, &push_iframe_encoder, &a.it, &a.s.id, a.s.tag,
                        PUSH_EDGE_KINDS(a.s.kinds), a.s.has_from ? &a.s.from : NULL);
}

int main(int argc, char **argv)
{
    return push_stream_main(&program, argc, argv, handle);
}
