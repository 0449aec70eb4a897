/* push_fcgiconn.c: the FastCGI kind of the event loop's streams: records out, the web server's
 * hang-up in */
#include "config.h"

#include "runtime/push_fcgiconn.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "http/push_fcgi.h"
#include "http/push_http.h"
#include "transport/push_emit.h"

/* put for push_fcgi_stdout and push_fcgi_end: into a stream's out */
static int out_put(void *ctx, const void *bytes, size_t n)
{
    push_loop_buf_put(ctx, bytes, n);
    return 0;
}

/* The request io of a loop stream: the encoder's bytes go to body; a flush frames them. */
static int body_write(void *ctx, const char *data, size_t len)
{
    struct push_loop_stream *s = ctx;

    if (s->body.len + s->out.len - s->out.off + len > PUSH_LOOP_OUT_MAX) {
        s->overflow = 1;
        return -1;
    }
    push_loop_buf_put(&s->body, data, len);
    return 0;
}

static int body_flush(void *ctx)
{
    struct push_loop_stream *s = ctx;

    if (s->body.len) /* (an empty stdout record would end the answer) */
        push_fcgi_stdout(s->request_id, s->body.data, s->body.len, out_put, &s->out);
    s->body.len = 0;
    return 0;
}

const struct push_request_io push_fcgiconn_io = {
    .write = body_write,
    .flush = body_flush,
    .read = push_loop_io_read,
    .error = push_loop_io_error,
    /* .closed: the loop sees the web server hang up itself; .detach: already detached */
};

static int fcgi_input(struct push_loop_stream *s, uint32_t events, long now)
{
    char scratch[512]; /* what the web server sends now is only the request's end: discarded */

    (void)events, (void)now;
    for (;;) {
        ssize_t n = read(s->fd, scratch, sizeof scratch);
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1; /* the web server hung up: the client left */
    }
}

static size_t fcgi_pending(const struct push_loop_stream *s)
{
    return s->out.len - s->out.off;
}

static int fcgi_output(struct push_loop_stream *s, long now)
{
    while (fcgi_pending(s)) {
        ssize_t n = write(s->fd, s->out.data + s->out.off, fcgi_pending(s));
        if (n > 0) {
            s->out.off += (size_t)n;
            s->stall_since_ms = now;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1;
    }
    /* an idle stream keeps no buffer (body is empty here: a reader's writes were flushed into
     * out before it handed the stream back, and the loop's own are flushed at once) */
    push_loop_buf_free(&s->out);
    push_loop_buf_free(&s->body);
    return 1;
}

static int fcgi_wants_input(const struct push_loop_stream *s)
{
    (void)s;
    return 1;
}

static int fcgi_begin(struct push_loop_stream *s, const struct push_config *cfg)
{
    return push_emit_begin(&s->req, cfg, s->e.enc, s->e.arg);
}

static void fcgi_refuse(struct push_loop_stream *s, struct push_refusal f)
{
    push_emit_refuse(&s->req, push_loop_config(s->loop), s->e.enc, s->e.arg, f);
}

static void fcgi_taken(struct push_loop_stream *s, long now)
{
    (void)s, (void)now;
}

static void fcgi_end(struct push_loop_stream *s, const char *reason, int retry_ms)
{
    if (s->hold && !strcmp(reason, "token_expired"))
        push_http_error(&s->req, 401, "token_expired", "the token has expired; send a fresh one",
                        "WWW-Authenticate: Bearer realm=\"pgpush\", error=\"invalid_token\"\r\n");
    else if (s->e.enc->end)
        s->e.enc->end(&s->req, reason, retry_ms, s->e.arg);
}

static void fcgi_finish(struct push_loop_stream *s)
{
    push_request_flush(&s->req);
    push_fcgi_end(s->request_id, out_put, &s->out);
}

static int fcgi_heartbeat(struct push_loop_stream *s, long now)
{
    (void)now;
    if (!fcgi_pending(s) && !s->hold) {
        s->e.enc->heartbeat(&s->req, s->e.arg);
        push_request_flush(&s->req);
    }
    return 0;
}

static int fcgi_has_command(const struct push_loop_stream *s)
{
    (void)s;
    return 0;
}

static void fcgi_free(struct push_loop_stream *s)
{
    (void)s;
}

const struct push_loop_kind push_fcgiconn_kind = {
    .noun = "stream",
    .quiet_beats = 1,
    .input = fcgi_input,
    .output = fcgi_output,
    .pending = fcgi_pending,
    .wants_input = fcgi_wants_input,
    .begin = fcgi_begin,
    .refuse = fcgi_refuse,
    .taken = fcgi_taken,
    .end = fcgi_end,
    .finish = fcgi_finish,
    .heartbeat = fcgi_heartbeat,
    .has_command = fcgi_has_command,
    .command = NULL,
    .free = fcgi_free,
};
