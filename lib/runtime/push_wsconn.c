/* push_wsconn.c: the WebSocket kind of the event loop's streams: wslay frames, pings, commands, closing */
#include "config.h"

#include "runtime/push_wsconn.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wslay/wslay.h>

#include "core/push_log.h"
#include "core/push_util.h"
#include "transport/push_ws.h"
#include "runtime/push_loop_conn.h"

#define CMDS PUSH_WSCONN_CMDS

/* A socket's own state. The reader owning the stream writes only frames, opened, refusal and
 * resumed (and s->e); the loop thread everything else (wslay is the loop's). */
struct wsconn {
    wslay_event_context_ptr ws;         /* once the 101 is due */
    char accept[PUSH_UPGRADE_ACCEPT_LEN + 1];
    struct buf frames;                  /* the reader's text messages: [size_t length][bytes]... */
    int opened;                         /* reader: the first read went well: answer 101 */
    char *refusal;                      /* reader: an HTTP answer instead */
    size_t refusal_len;
    int resumed;                        /* reader: a resume command moved s->e.pos */
    char *raw;                          /* HTTP bytes to write before any frame */
    size_t raw_len, raw_off;
    int close_after_raw;                /* an HTTP error: close once it is written */
    int draining;                       /* our side ended: reading to the peer's end */
    uint16_t close_code;                /* to send once the close event is out (wslay sends
                                         * control frames before queued messages) */
    char close_reason[64];
    int ping_out;                       /* a ping is unanswered */
    struct push_ws_cmd cmds[CMDS];      /* the loop adds at the tail; a reader runs the head */
    int cmd_first, cmd_count;
};

static struct wsconn *conn(const struct push_loop_stream *s)
{
    return s->conn;
}

/* --- the request io: what the encoder writes between two flushes is one text message */

static int frame_write(void *ctx, const char *data, size_t len)
{
    struct push_loop_stream *s = ctx;

    /* no bound here: a reader writes one batch (PUSH_STREAM_BATCH messages) or one reply at a
     * time, and only while less than PUSH_LOOP_OUT_HIGH waits; past PUSH_LOOP_OUT_MAX the loop
     * drops the socket once it has the stream back */
    push_loop_buf_put(&s->body, data, len);
    return 0;
}

static int frame_flush(void *ctx)
{
    struct push_loop_stream *s = ctx;

    if (s->body.len) {
        push_loop_buf_put(&conn(s)->frames, &s->body.len, sizeof s->body.len);
        push_loop_buf_put(&conn(s)->frames, s->body.data, s->body.len);
    }
    s->body.len = 0;
    return 0;
}

static const struct push_request_io frame_io = {
    .write = frame_write,
    .flush = frame_flush,
    .read = push_loop_io_read,
    .error = push_loop_io_error,
};

/* --- output */

static size_t queued(const struct push_loop_stream *s)
{
    const struct wsconn *c = conn(s);
    size_t n = c->raw ? c->raw_len - c->raw_off : 0;

    /* once our close frame is out (or a send failed) wslay writes nothing more: what it still
     * holds never leaves, and waits for nothing (wslay sends a control frame before the queued
     * messages: a peer's close read with an answer queued leaves that answer behind). Counted,
     * it would keep EPOLLOUT watched on the lingering socket, reported at every turn. */
    if (c->ws && wslay_event_get_write_enabled(c->ws))
        n += wslay_event_get_queued_msg_length(c->ws)
             + wslay_event_get_queued_msg_count(c->ws) * PUSH_WSCONN_MSG_COST;
    return n;
}

/* Queues a text message (wslay copies it). */
static void send_text(struct wsconn *c, const char *text, size_t len)
{
    struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)text, len };

    if (c->ws)
        wslay_event_queue_msg(c->ws, &m);
}

static void send_owned(struct wsconn *c, char *text)
{
    send_text(c, text, strlen(text));
    free(text);
}

/* Our last byte is written. Closing now, with bytes of the peer unread, would send a reset that
 * can destroy what we wrote while it is in flight: so end our side and read to the peer's end,
 * for at most PUSH_WSCONN_CLOSE_MS. */
static void linger(struct push_loop_stream *s, long now)
{
    shutdown(s->fd, SHUT_WR);
    conn(s)->draining = 1;
    s->state = PUSH_LOOP_CLOSING;
    s->close_by_ms = now + PUSH_WSCONN_CLOSE_MS;
}

static int ws_output(struct push_loop_stream *s, long now)
{
    struct wsconn *c = conn(s);

    if (queued(s) > PUSH_LOOP_OUT_MAX) {
        push_log_info("dropped a socket of %s: %zu bytes queued for it, over the %d MiB limit",
                      s->user, queued(s), PUSH_LOOP_OUT_MAX >> 20);
        return -1;
    }
    while (c->raw && c->raw_off < c->raw_len) {
        ssize_t n = send(s->fd, c->raw + c->raw_off, c->raw_len - c->raw_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->raw_off += (size_t)n;
            s->stall_since_ms = now;
        } else if (n < 0 && errno == EAGAIN) {
            return 0;
        } else if (!(n < 0 && errno == EINTR)) {
            return -1;
        }
    }
    if (c->raw) {
        free(c->raw);
        c->raw = NULL;
        if (c->close_after_raw) {
            linger(s, now);
            return 0;
        }
    }
    if (c->draining)
        return 0;
    if (!c->ws)
        return 1;
    if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) < 0)
        return -1;
    if (c->close_code && wslay_event_get_queued_msg_count(c->ws) == 0) {
        wslay_event_queue_close(c->ws, c->close_code, (const uint8_t *)c->close_reason,
                                strlen(c->close_reason));
        c->close_code = 0;
        if (wslay_event_send(c->ws) < 0)
            return -1;
    }
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)) {
        linger(s, now); /* the closing handshake is done, or reading was given up */
        return 0;
    }
    return wslay_event_want_write(c->ws) ? 0 : 1;
}

static size_t ws_pending(const struct push_loop_stream *s)
{
    return queued(s);
}

/* --- input */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user_data)
{
    struct push_loop_stream *s = user_data;
    ssize_t n;

    (void)flags;
    /* pause: the commands in hand go first, and what waits must leave before more is read */
    if (conn(s)->cmd_count >= CMDS || queued(s) >= PUSH_LOOP_OUT_HIGH) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    while ((n = recv(s->fd, buf, len, 0)) < 0 && errno == EINTR)
        ;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user_data)
{
    struct push_loop_stream *s = user_data;
    ssize_t n;

    (void)flags;
    while ((n = send(s->fd, data, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n < 0) {
        wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK ? WSLAY_ERR_WOULDBLOCK
                                                                           : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    s->stall_since_ms = push_now_ms();
    return n;
}

static void ws_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                       void *user_data)
{
    struct push_loop_stream *s = user_data;
    struct wsconn *c = conn(s);
    struct push_ws_cmd cmd;
    const char *code, *why;

    /* after every frame, with what wslay queued in answer (a pong, a close): past
     * PUSH_LOOP_OUT_MAX stop reading at once; the output drops the socket */
    if (queued(s) > PUSH_LOOP_OUT_MAX) {
        wslay_event_shutdown_read(ctx);
        return;
    }
    if (arg->opcode == WSLAY_PONG) {
        c->ping_out = 0;
        return;
    }
    if (s->state == PUSH_LOOP_CLOSING || s->end_reason)
        return;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        s->end_reason = "unsupported"; /* ended by the loop once the input is read */
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME)
        return;
    if (push_ws_cmd_parse((const char *)arg->msg, arg->msg_length, s->tag, &cmd, &code, &why) < 0) {
        send_owned(c, push_ws_error(&cmd, code, why));
    } else if (c->cmd_count >= CMDS) {
        send_owned(c, push_ws_error(&cmd, "busy", "too many commands at once; wait for the answers"));
    } else {
        c->cmds[(c->cmd_first + c->cmd_count) % CMDS] = cmd;
        c->cmd_count++;
    }
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = ws_recv,
    .send_callback = ws_send,
    .genmask_callback = NULL, /* a server does not mask */
    .on_frame_recv_start_callback = NULL,
    .on_frame_recv_chunk_callback = NULL,
    .on_frame_recv_end_callback = NULL,
    .on_msg_recv_callback = ws_message,
};

static int ws_input(struct push_loop_stream *s, uint32_t events, long now)
{
    struct wsconn *c = conn(s);
    char buf[4096];
    ssize_t n;

    (void)now;
    if (c->draining || !c->ws) { /* what a closing peer still sends, or a peer that left early */
        while ((n = recv(s->fd, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR))
            ; /* (before the 101 input is not watched: only a hangup gets here) */
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
        return -1;
    return wslay_event_recv(c->ws) < 0 ? -1 : 0;
}

static int ws_wants_input(const struct push_loop_stream *s)
{
    const struct wsconn *c = conn(s);

    if (c->draining)
        return 1;
    return c->ws && wslay_event_want_read(c->ws) && c->cmd_count < CMDS
           && queued(s) < PUSH_LOOP_OUT_HIGH;
}

/* --- the answer */

static int ws_begin(struct push_loop_stream *s, const struct push_config *cfg)
{
    char cursor[PUSH_CURSOR_MAX], text[256];

    conn(s)->opened = 1;
    push_cursor_format(&s->e.pos, s->tag, cursor);
    snprintf(text, sizeof text, "{\"type\":\"open\",\"cursor\":\"%s\",\"heartbeat\":%d}", cursor,
             cfg->heartbeat);
    return push_request_write(&s->req, text, strlen(text)) == 0 && push_request_flush(&s->req) == 0
           ? 0 : -1;
}

static void ws_refuse(struct push_loop_stream *s, struct push_refusal f)
{
    struct wsconn *c = conn(s);

    c->refusal = push_ws_http_error(f.status, f.code, f.message, f.headers, &c->refusal_len);
}

static void open_socket(struct push_loop_stream *s, long now)
{
    struct wsconn *c = conn(s);
    size_t size = 160;

    c->raw = xmalloc(size);
    c->raw_len = (size_t)snprintf(c->raw, size,
                                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                                  c->accept);
    c->raw_off = 0;
    s->stall_since_ms = now;
    if (wslay_event_context_server_init(&c->ws, &callbacks, s) != 0)
        abort();
    wslay_event_config_set_max_recv_msg_length(c->ws, PUSH_WS_MSG_MAX);
    push_log_debug("a socket of %s opened", s->user);
}

static void ws_taken(struct push_loop_stream *s, long now)
{
    struct wsconn *c = conn(s);

    if (c->refusal) {
        c->raw = c->refusal;
        c->raw_len = c->refusal_len;
        c->raw_off = 0;
        c->refusal = NULL;
        c->close_after_raw = 1;
    } else if (c->opened && !c->ws) {
        open_socket(s, now);
    }
    for (size_t off = 0; off < c->frames.len;) { /* the reader's messages, in order */
        size_t len;
        memcpy(&len, c->frames.data + off, sizeof len);
        send_text(c, c->frames.data + off + sizeof len, len);
        off += sizeof len + len;
    }
    push_loop_buf_free(&c->frames);
    if (s->commanding) {
        c->cmd_first = (c->cmd_first + 1) % CMDS;
        c->cmd_count--;
        if (c->resumed) /* the next read goes on from the cursor given */
            s->wake_again = 1;
        c->resumed = 0;
    }
}

/* What a reason of the loop's is, as a close code and the text of the close event. */
static uint16_t close_code(const char *reason, const char **text)
{
    *text = reason;
    if (!strcmp(reason, "token_expired")) {
        *text = "token expired";
        return PUSH_WS_CLOSE_AUTH;
    }
    if (!strcmp(reason, "shutdown"))
        return PUSH_WS_CLOSE_SHUTDOWN;
    if (!strcmp(reason, "unsupported")) {
        *text = "binary messages are not understood";
        return PUSH_WS_CLOSE_UNSUPPORTED;
    }
    return PUSH_WS_CLOSE_NORMAL;
}

/* Says why, then closes with the reason's code: the socket waits for the peer's close frame. */
static void ws_end(struct push_loop_stream *s, const char *reason, int retry_ms)
{
    struct wsconn *c = conn(s);
    const char *text;

    c->close_code = close_code(reason, &text);
    snprintf(c->close_reason, sizeof c->close_reason, "%s", text);
    send_owned(c, push_ws_close_event(text, retry_ms));
}

static void ws_finish(struct push_loop_stream *s)
{
    const struct push_config *cfg = push_loop_config(s->loop);

    /* an HTTP error has the write timeout to leave; a close frame the peer's answer's time */
    s->close_by_ms = push_now_ms()
                     + (conn(s)->close_after_raw ? cfg->write_timeout * 1000L : PUSH_WSCONN_CLOSE_MS);
}

static int ws_heartbeat(struct push_loop_stream *s, long now)
{
    struct wsconn *c = conn(s);
    struct wslay_event_msg ping = { WSLAY_PING, NULL, 0 };

    (void)now;
    if (!c->ws)
        return 0;
    if (c->ping_out)
        return -1;
    wslay_event_queue_msg(c->ws, &ping);
    c->ping_out = 1;
    return 0;
}

static int ws_has_command(const struct push_loop_stream *s)
{
    const struct wsconn *c = conn(s);

    return c->ws && !c->draining && c->cmd_count > 0;
}

static void ws_command(struct push_loop_stream *s, struct push_pool *pool)
{
    struct wsconn *c = conn(s);
    struct push_db *db = push_pool_acquire(pool);
    struct push_cursor to;
    char *reply = push_ws_run(db, s->user, s->tag, s->kinds, &c->cmds[c->cmd_first], &c->resumed,
                              &to);

    push_pool_release(pool, db);
    if (c->resumed)
        s->e.pos = to;
    push_request_write(&s->req, reply, strlen(reply));
    push_request_flush(&s->req);
    free(reply);
}

static void ws_free(struct push_loop_stream *s)
{
    struct wsconn *c = conn(s);

    if (!c)
        return;
    if (c->ws)
        wslay_event_context_free(c->ws);
    push_loop_buf_free(&c->frames);
    free(c->refusal);
    free(c->raw);
    free(c);
    s->conn = NULL;
}

static const struct push_loop_kind ws_kind = {
    .noun = "socket",
    .quiet_beats = 0,
    .input = ws_input,
    .output = ws_output,
    .pending = ws_pending,
    .wants_input = ws_wants_input,
    .begin = ws_begin,
    .refuse = ws_refuse,
    .taken = ws_taken,
    .end = ws_end,
    .finish = ws_finish,
    .heartbeat = ws_heartbeat,
    .has_command = ws_has_command,
    .command = ws_command,
    .free = ws_free,
};

void push_wsconn_adopt(struct push_loop *l, struct push_loop_stream *s, int fd,
                       const char accept[PUSH_UPGRADE_ACCEPT_LEN + 1],
                       const struct push_cursor *from)
{
    struct wsconn *c = xcalloc(1, sizeof *c);

    memcpy(c->accept, accept, sizeof c->accept);
    s->conn = c;
    s->req.io = &frame_io;
    s->req.io_ctx = s;
    push_loop_adopt_kind(l, s, fd, &ws_kind, from, LONG_MAX); /* no lifetime: pings keep it */
}
