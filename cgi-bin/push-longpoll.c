/* push-longpoll.c: long polling: answers when the user's stream changes, or after the hold time */
#include "config.h"

#include <string.h>

#include "push_edge.h"
#include "push_stream.h"

static const struct push_program program = {
    "push-longpoll",
    "Long polling for pgpush.\n\n"
    "GET ?since=CURSOR[&timeout=S][&limit=N]\n"
    "     answers at once with the messages after CURSOR and the unread counts when there are\n"
    "     any; otherwise holds the request until the user's stream changes (a new message, or\n"
    "     a read-state change from another tab) or S seconds pass (default PUSH_HOLD, at most\n"
    "     PUSH_HOLD_MAX), then answers with \"timeout\": true. Either way, poll again at once\n"
    "     with the answer's cursor.\n"
    "GET (no since)  the current state at once, with the cursor to go on from.\n",
};

static void handle(struct push_request *r, const struct push_stream_ctx *ctx)
{
    const struct push_config *cfg = ctx->cfg;
    const char *method = push_request_env(r, "REQUEST_METHOD");
    const char *since_text;
    char tag[PUSH_CURSOR_TAG_LEN + 1];
    struct push_identity id;
    struct push_query q;
    struct push_cursor since;
    int limit, hold;

    if (push_edge_identify(r, cfg, &q, &id) < 0)
        return;
    if (!method || strcmp(method, "GET") != 0) {
        push_edge_method(r, "GET");
        return;
    }
    push_cursor_tag(id.user, tag);
    if (push_edge_number(r, &q, "limit", 1, cfg->max_limit, cfg->default_limit, "bad_limit", &limit) < 0
        || push_edge_number(r, &q, "timeout", 1, cfg->hold_max, cfg->hold, "bad_timeout", &hold) < 0)
        return;
    since_text = push_query_get(&q, "since");
    if (!since_text || !*since_text) {
        push_stream_current(ctx, r, id.user, tag, limit);
        return;
    }
    if (push_edge_cursor(r, since_text, tag, &since) < 0)
        return;
    push_stream_longpoll(ctx, r, id.user, tag, &since, hold, limit);
}

int main(int argc, char **argv)
{
    return push_stream_main(&program, argc, argv, handle);
}
