/* push-longpoll.c: long polling: answers when the user's stream changes, or after the hold time */
#include "config.h"

#include <stdlib.h>

#include "http/push_edge.h"
#include "runtime/push_stream.h"

static const struct push_program program = {
    "push-longpoll",
    "Long polling for pgpush.\n\n"
    "GET ?since=CURSOR[&timeout=S][&limit=N][&kinds=K1,K2]\n"
    "     answers at once with the messages after CURSOR, the changes (\"update\", \"delete\") of\n"
    "     messages up to it and the unread counts when there are any; otherwise holds the request until the user's stream changes (a new message, or\n"
    "     a read-state change from another tab) or S seconds pass (default PUSH_HOLD, at most\n"
    "     PUSH_HOLD_MAX), then answers with \"timeout\": true. Either way, poll again at once\n"
    "     with the answer's cursor. A poll held when its token expires is answered 401\n"
    "     token_expired: poll again with a fresh token (send it as Authorization: Bearer).\n"
    "GET (no since)  the current state at once, with the cursor to go on from.\n",
    NULL,
    PUSH_USES_READ,
};

/* What a long poll needs from its request. */
struct poll_request {
    struct push_edge_stream s; /* s.from: since */
    int limit, hold;
};

/* Reads the request into a; answers and returns -1 when it cannot be served. */
static int read_request(struct push_request *r, const struct push_stream_ctx *ctx,
                        struct push_query *q, struct poll_request *a)
{
    const struct push_config *cfg = push_config_current(ctx->cfg); /* limits may reload */

    if (push_edge_stream_open(r, cfg, q, 0, &a->s) < 0)
        return -1;
    if (push_edge_number(r, q, "limit", 1, cfg->max_limit, cfg->default_limit, "bad_limit", &a->limit) < 0
        || push_edge_number(r, q, "timeout", 1, cfg->hold_max, cfg->hold, "bad_timeout", &a->hold) < 0)
        return -1;
    return push_edge_stream_from(r, q, 0, &a->s); /* ?since= */
}

static void handle(struct push_request *r, const struct push_stream_ctx *ctx)
{
    struct push_query *q = push_query_new(); /* 4 KiB: freed before the poll is held */
    struct poll_request a;
    int rc = read_request(r, ctx, q, &a);

    free(q);
    if (rc < 0)
        return;
    if (a.s.has_from)
        push_stream_longpoll(ctx, r, &a.s.id, a.s.tag, PUSH_EDGE_KINDS(a.s.kinds), &a.s.from, a.hold,
                             a.limit);
    else
        push_stream_current(ctx, r, a.s.id.user, a.s.tag, PUSH_EDGE_KINDS(a.s.kinds), a.limit);
}

int main(int argc, char **argv)
{
    return push_stream_main(&program, argc, argv, handle);
}
