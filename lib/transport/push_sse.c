/* push_sse.c: writing events as text/event-stream */
#include "config.h"

#include "transport/push_sse.h"

#include <stdio.h>
#include <string.h>

static int put(struct push_request *r, const char *s)
{
    return push_request_write(r, s, strlen(s));
}

static int sse_begin(struct push_request *r, const struct push_config *cfg, void *arg)
{
    char line[64];

    snprintf(line, sizeof line, "retry: %d\n\n", cfg->retry_ms);
    return put(r, line) < 0 || push_request_flush(r) < 0 ? -1 : 0;
}

static int event(struct push_request *r, const char *name, const char *cursor, const char *json,
                 size_t len)
{
    if (put(r, "id: ") < 0 || put(r, cursor) < 0 || put(r, "\nevent: ") < 0 || put(r, name) < 0
        || put(r, "\ndata: ") < 0 || push_request_write(r, json, len) < 0 || put(r, "\n\n") < 0)
        return -1;
    return 0;
}

static int sse_message(struct push_request *r, const char *cursor, const char *json, size_t len,
                       void *arg)
{
    return event(r, "message", cursor, json, len);
}

/* "update" or "delete", a word of ours */
static int sse_change(struct push_request *r, const char *name, const char *cursor, const char *json,
                      size_t len, void *arg)
{
    return event(r, name, cursor, json, len);
}

static int sse_unread(struct push_request *r, const char *cursor, const char *json, size_t len,
                      void *arg)
{
    return event(r, "unread", cursor, json, len);
}

static int sse_refused(struct push_request *r, const char *json, size_t len, void *arg)
{
    /* EventSource fires it at onerror too; the answer then ends, and it comes back after retry */
    return put(r, "event: error\ndata: ") < 0 || push_request_write(r, json, len) < 0
           || put(r, "\n\n") < 0 ? -1 : 0;
}

static int sse_heartbeat(struct push_request *r, void *arg)
{
    return put(r, ": heartbeat\n\n");
}

static int sse_end(struct push_request *r, const char *reason, int retry_ms, void *arg)
{
    char line[160];

    if (retry_ms > 0) /* EventSource waits retry before it reconnects; pgpush.js reads data */
        snprintf(line, sizeof line,
                 "retry: %d\nevent: reconnect\ndata: {\"reason\":\"%s\",\"retry\":%d}\n\n",
                 retry_ms, reason, retry_ms);
    else
        snprintf(line, sizeof line, "event: close\ndata: {\"reason\":\"%s\"}\n\n", reason);
    return put(r, line);
}

const struct push_encoder push_sse_encoder = {
    .headers = "Content-Type: text/event-stream; charset=utf-8\r\n"
               "Cache-Control: no-cache\r\n"
               "X-Accel-Buffering: no\r\n",
    .arg_size = 0,
    .more_headers = NULL,
    .begin = sse_begin,
    .message = sse_message,
    .change = sse_change,
    .unread = sse_unread,
    .heartbeat = sse_heartbeat,
    .end = sse_end,
    .refused = sse_refused,
};
