/* push_wsd.c: the push-ws event loop: its sockets, the upgrade, frames, pings, closing */
#include "config.h"

#include "runtime/push_wsd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <wslay/wslay.h>

#include "core/push_log.h"
#include "core/push_util.h"
#include "store/push_db.h"
#include "http/push_auth.h"
#include "http/push_edge.h"
#include "http/push_http.h"
#include "http/push_query.h"
#include "http/push_server.h"
#include "http/push_upgrade.h"
#include "transport/push_json.h"
#include "transport/push_ws.h"
#include "runtime/push_hub.h"
#include "runtime/push_wsjob.h"

/* What a socket's output costs is queued(): the payload wslay holds for it, MSG_COST per queued
 * message (ours, and the pongs and closes wslay queues itself in answer to the peer's frames), and
 * the HTTP bytes before the upgrade. Above LOW_WATER nothing more is read for the socket, so a
 * peer that sends without reading cannot make us queue more: it holds at most LOW_WATER, plus what
 * the frames of one read (wslay's 4 KiB buffer: at most 683 empty pings) and one batch or CMD_QUEUE
 * answers add. Past OUT_HARD, checked after every frame read, the socket is dropped. */
#define LOW_WATER (64 * 1024)
#define OUT_HARD (4 * 1024 * 1024)
#define MSG_COST 128            /* wslay's message record and queue cell with their malloc headers
                                 * (about 100 bytes), besides the payload */
#define CMD_QUEUE 8             /* commands waiting per socket; reading pauses while it is full */
#define HEAD_TIMEOUT_MS 10000   /* the upgrade request must arrive within this */
#define OPEN_TIMEOUT_MS 30000   /* ... and the first read of the database answer within this */
#define CLOSE_WAIT_MS 2000      /* after our close frame, the peer's is awaited this long */
#define SHUTDOWN_MS 3000        /* on SIGTERM, sockets get this long to take their 1001 */
#define DB_RETRY_MS 1000        /* a socket whose read failed reads again after this */
#define TICK_MS 250
#define HEAD_SLOTS 256          /* sockets still sending their upgrade request, at most (a
                                 * quarter of the open-file room, if that is less) */
#define HEAD_GRACE_MS 500       /* ... one that has taken this long may be closed for a newcomer */
#define ACCEPT_BATCH 64         /* accepted per turn of the loop: closed sockets are freed between */

enum state { C_HEAD, C_OPENING, C_OPEN, C_CLOSING };

struct wsd;

struct conn {
    struct wsd *d;
    struct conn *prev, *next;       /* every socket, for the ticks */
    struct conn *wake_next;         /* the wake queue (under d->lock) */
    struct conn *drain_next;        /* the loop's copy of the wake queue (the loop's own) */
    struct conn *grave_next;        /* closed, freed at the end of the loop's turn */
    int wake_pending;               /* on the wake queue (under d->lock) */
    int fd;
    enum state state;
    char *head;                     /* C_HEAD: the request so far (PUSH_UPGRADE_HEAD_MAX) */
    size_t head_len;
    char *raw;                      /* HTTP bytes to write before any frame */
    size_t raw_len, raw_off;
    int close_after_raw;            /* an HTTP error: close once it is written */
    char accept[PUSH_UPGRADE_ACCEPT_LEN + 1];
    wslay_event_context_ptr ws;
    struct push_waiter w;
    int joined;
    char user[PUSH_USER_MAX + 1];
    char tag[PUSH_CURSOR_TAG_LEN + 1];
    int64_t expires;                /* the token's expiry, 0: none */
    struct push_cursor pos;
    int has_pos;                    /* C_HEAD/C_OPENING: ?since= was given */
    char *sent_unread;              /* the counts last sent, as JSON text */
    int busy;                       /* a job of this socket is with a worker */
    int dead;                       /* closed; freed when its job comes back */
    int draining;                   /* closing handshake done: reading to the peer's end */
    uint16_t close_code;            /* to send once the close event is out (wslay sends control
                                     * frames before queued messages) */
    char close_reason[64];
    int want_fetch;
    long retry_at;
    struct push_ws_cmd cmds[CMD_QUEUE];
    int cmd_first, cmd_count;
    long deadline;                  /* C_HEAD, C_OPENING, C_CLOSING: closed past it */
    long accepted_at;
    long next_ping;
    int ping_out;                   /* a ping is unanswered */
    long last_progress;             /* the last time bytes left, or nothing waited */
    unsigned events;                /* what epoll watches */
};

struct wsd {
    const struct push_config *cfg;
    const char *appname;
    struct push_hub *hub;
    int ep, lfd, efd, sfd;
    struct push_wsq *jobs;          /* the database workers */
    pthread_mutex_t lock;           /* the wake queue */
    struct conn *wakeq;
    struct conn *all;
    struct conn *graveyard;         /* closed sockets no job holds: freed after each turn */
    int nconns, max_conns;
    int nheads, head_slots;         /* sockets in C_HEAD, and how many there may be */
    int accept_paused;              /* the listening socket is out of epoll for now */
    int fd_short;                   /* accept ran out of descriptors, and has not yet succeeded */
    long evicted;                   /* slow upgrade requests closed for newcomers, to log */
    int stopping;
    long stop_at;
};

/* epoll tags for what is not a socket */
static char tag_listen, tag_event, tag_signal;

/* Hands the socket's next piece of work to the database workers. */
static void submit(struct wsd *d, struct conn *c, enum push_wsjob_kind kind)
{
    struct push_wsjob *j = push_wsjob_new(c, kind, c->user, c->tag);

    j->pos = c->pos;
    j->has_pos = c->has_pos;
    if (kind == PUSH_WSJOB_CMD) {
        j->cmd = c->cmds[c->cmd_first];
        c->cmd_first = (c->cmd_first + 1) % CMD_QUEUE;
        c->cmd_count--;
    }
    c->busy = 1;
    push_wsq_submit(d->jobs, j);
}

/* --- sockets */

/* Called by the hub with its lock held: queue the socket for the loop. */
static void wake(void *arg)
{
    struct conn *c = arg;
    struct wsd *d = c->d;

    pthread_mutex_lock(&d->lock);
    if (!c->wake_pending) {
        c->wake_pending = 1;
        c->wake_next = d->wakeq;
        d->wakeq = c;
    }
    pthread_mutex_unlock(&d->lock);
    push_kick(d->efd);
}

static void conn_free(struct conn *c)
{
    if (c->ws)
        wslay_event_context_free(c->ws);
    free(c->head);
    free(c->raw);
    free(c->sent_unread);
    free(c);
}

static void bury(struct wsd *d, struct conn *c)
{
    c->grave_next = d->graveyard;
    d->graveyard = c;
}

/* --- the listening socket: accepting pauses while every head slot is taken by a young request,
 * or while descriptors run short; the kernel's backlog holds the newcomers meanwhile */

static void listen_watch(struct wsd *d, int on)
{
    struct epoll_event e = { on ? EPOLLIN : 0, { .ptr = &tag_listen } };

    if (d->stopping || d->accept_paused == !on)
        return;
    epoll_ctl(d->ep, EPOLL_CTL_MOD, d->lfd, &e);
    d->accept_paused = !on;
}

/* c leaves C_HEAD (upgraded, refused or closed): its head slot is free again. */
static void head_left(struct conn *c)
{
    struct wsd *d = c->d;

    if (c->state != C_HEAD)
        return;
    c->state = C_CLOSING; /* the caller sets the state it goes to */
    d->nheads--;
    if (!d->fd_short)
        listen_watch(d, 1);
}

static void conn_close(struct wsd *d, struct conn *c);

/* A socket that has not sent its whole upgrade request holds one of d->head_slots, apart from the
 * streams: clients that connect and send nothing, or a byte now and then, cannot take the sockets
 * meant for streams. With every slot taken, the oldest request that has had HEAD_GRACE_MS makes
 * room for the newcomer (a browser or a proxy sends its request at once, and it is read at once:
 * accept_all); if none has, returns 0, and accepting waits for a slot: the kernel's backlog holds
 * the newcomers meanwhile, and a burst of real clients frees its slots within a round trip. */
static int head_slot(struct wsd *d)
{
    struct conn *oldest = NULL;

    if (d->nheads < d->head_slots)
        return 1;
    for (struct conn *c = d->all; c; c = c->next) /* newest first */
        if (c->state == C_HEAD)
            oldest = c;
    if (!oldest || push_now_ms() - oldest->accepted_at < HEAD_GRACE_MS)
        return 0;
    d->evicted++;
    conn_close(d, oldest);
    return 1;
}

/* Closes the socket now; the memory goes after this turn of the loop (events of this turn may
 * still name it) and once no job holds it. */
static void conn_close(struct wsd *d, struct conn *c)
{
    if (c->dead)
        return;
    head_left(c);
    c->dead = 1;
    if (c->joined) {
        push_hub_leave(d->hub, &c->w); /* no wake for c after this */
        c->joined = 0;
    }
    pthread_mutex_lock(&d->lock);
    if (c->wake_pending) {
        struct conn **p = &d->wakeq;
        while (*p != c)
            p = &(*p)->wake_next;
        *p = c->wake_next;
        c->wake_pending = 0;
    }
    pthread_mutex_unlock(&d->lock);
    epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    free(c->head); /* now, not with c: a flood of sockets closed in one turn frees its buffers */
    c->head = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        d->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    d->nconns--;
    if (!c->busy)
        bury(d, c);
}

/* Queues a text message (copied by wslay); s is freed. */
static void send_text(struct conn *c, char *s)
{
    struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)s, strlen(s) };

    wslay_event_queue_msg(c->ws, &m);
    free(s);
}

/* Says why, then closes with code: the socket waits for the peer's close frame. */
static void close_with(struct conn *c, uint16_t code, const char *reason)
{
    char text[128];

    if (c->state != C_OPEN)
        return;
    snprintf(text, sizeof text, "{\"type\":\"close\",\"reason\":\"%s\"}", reason);
    send_text(c, xstrdup(text));
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    c->state = C_CLOSING;
    c->deadline = push_now_ms() + CLOSE_WAIT_MS;
}

/* An HTTP answer before the upgrade: a JSON error, then the connection closes. */
static void http_error(struct conn *c, int status, const char *code, const char *message,
                       const char *headers)
{
    json_object *o = json_object_new_object();
    size_t len, size;
    const char *body;

    head_left(c);
    json_object_object_add(o, "error", json_object_new_string(code));
    json_object_object_add(o, "message", json_object_new_string(message));
    body = push_json_text(o, &len);
    size = len + 512;
    c->raw = xcalloc(1, size);
    c->raw_len = (size_t)snprintf(c->raw, size,
                                  "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                                  "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                                  "Connection: close\r\n%s\r\n%s",
                                  status, push_http_reason(status), len, headers ? headers : "", body);
    if (c->raw_len >= size)
        c->raw_len = size - 1;
    c->raw_off = 0;
    c->close_after_raw = 1;
    json_object_put(o);
    free(c->head);
    c->head = NULL;
    c->state = C_CLOSING; /* nothing more is read; closed when written, or at the deadline */
    c->deadline = push_now_ms() + c->d->cfg->write_timeout * 1000L;
}

/* http_error for a refusal every transport answers alike (http/push_edge, push_hub_refusal) */
static void refuse(struct conn *c, struct push_refusal f)
{
    http_error(c, f.status, f.code, f.message, f.headers);
}

static size_t queued(const struct conn *c)
{
    size_t n = c->raw ? c->raw_len - c->raw_off : 0;

    if (c->ws)
        n += wslay_event_get_queued_msg_length(c->ws)
             + wslay_event_get_queued_msg_count(c->ws) * MSG_COST;
    return n;
}

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user_data)
{
    struct conn *c = user_data;
    ssize_t n;

    /* pause: the commands in hand go first, and what waits must leave before more is read */
    if (c->cmd_count >= CMD_QUEUE || queued(c) >= LOW_WATER) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    while ((n = recv(c->fd, buf, len, 0)) < 0 && errno == EINTR)
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
    struct conn *c = user_data;
    ssize_t n;

    while ((n = send(c->fd, data, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n < 0) {
        wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK ? WSLAY_ERR_WOULDBLOCK
                                                                           : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    c->last_progress = push_now_ms();
    return n;
}

static void ws_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                       void *user_data)
{
    struct conn *c = user_data;
    struct push_ws_cmd cmd;
    const char *code, *why;

    /* after every frame, with what wslay queued in answer (a pong, a close): past OUT_HARD stop
     * reading at once; service() drops the socket */
    if (queued(c) > OUT_HARD) {
        wslay_event_shutdown_read(ctx);
        return;
    }
    if (arg->opcode == WSLAY_PONG) {
        c->ping_out = 0;
        return;
    }
    if (c->state != C_OPEN)
        return;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        close_with(c, PUSH_WS_CLOSE_UNSUPPORTED, "binary messages are not understood");
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME)
        return;
    if (push_ws_cmd_parse((const char *)arg->msg, arg->msg_length, c->tag, &cmd, &code, &why) < 0) {
        send_text(c, push_ws_error(&cmd, code, why));
    } else if (c->cmd_count >= CMD_QUEUE) {
        send_text(c, push_ws_error(&cmd, "busy", "too many commands at once; wait for the answers"));
    } else {
        c->cmds[(c->cmd_first + c->cmd_count) % CMD_QUEUE] = cmd;
        c->cmd_count++;
    }
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv,
    .send_callback = ws_send,
    .genmask_callback = NULL, /* a server does not mask */
    .on_frame_recv_start_callback = NULL,
    .on_frame_recv_chunk_callback = NULL,
    .on_frame_recv_end_callback = NULL,
    .on_msg_recv_callback = ws_message,
};

/* Our last byte is written. Closing now, with bytes of the peer unread, would send a reset that
 * can destroy what we wrote while it is in flight: so end our side and read to the peer's end,
 * for at most CLOSE_WAIT_MS. */
static void linger(struct wsd *d, struct conn *c)
{
    if (c->joined) {
        push_hub_leave(d->hub, &c->w);
        c->joined = 0;
    }
    shutdown(c->fd, SHUT_WR);
    c->draining = 1;
    c->state = C_CLOSING;
    c->deadline = push_now_ms() + CLOSE_WAIT_MS;
}

/* What n, returned by a non-blocking send or recv on c's socket, means: 1 bytes moved; 0
 * interrupted, try again; -1 stop: the socket would block, or it is at its end or broken (then c
 * is closed, and must not be used). */
static int moved(struct wsd *d, struct conn *c, ssize_t n)
{
    if (n > 0)
        return 1;
    if (n < 0 && errno == EINTR)
        return 0;
    if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
        conn_close(d, c);
    return -1;
}

/* Writes what can be written now; closes the socket when it is done or broken. */
static void flush(struct wsd *d, struct conn *c)
{
    while (c->raw && c->raw_off < c->raw_len) {
        ssize_t n = send(c->fd, c->raw + c->raw_off, c->raw_len - c->raw_off, MSG_NOSIGNAL);
        int rc = moved(d, c, n);
        if (rc < 0)
            return;
        if (rc == 0)
            continue;
        c->raw_off += (size_t)n;
        c->last_progress = push_now_ms();
    }
    if (c->raw) {
        free(c->raw);
        c->raw = NULL;
        if (c->close_after_raw) {
            linger(d, c);
            return;
        }
    }
    if (!c->ws || c->draining)
        return;
    if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) < 0) {
        conn_close(d, c);
        return;
    }
    if (c->close_code && wslay_event_get_queued_msg_count(c->ws) == 0) {
        wslay_event_queue_close(c->ws, c->close_code, (const uint8_t *)c->close_reason,
                                strlen(c->close_reason));
        c->close_code = 0;
        if (wslay_event_send(c->ws) < 0) {
            conn_close(d, c);
            return;
        }
    }
    if (!wslay_event_want_write(c->ws))
        c->last_progress = push_now_ms();
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws))
        linger(d, c); /* the closing handshake is done, or reading was given up */
}

/* Reads and drops what a closing peer still sends, until its end. */
static void drain(struct wsd *d, struct conn *c)
{
    char buf[4096];

    while (moved(d, c, recv(c->fd, buf, sizeof buf, 0)) >= 0)
        continue;
}

static void watch(struct wsd *d, struct conn *c)
{
    unsigned ev = 0;

    if (c->state == C_HEAD || c->draining)
        ev |= EPOLLIN;
    if (c->ws && !c->draining && wslay_event_want_read(c->ws) && c->cmd_count < CMD_QUEUE
        && queued(c) < LOW_WATER)
        ev |= EPOLLIN;
    if (c->raw || (c->ws && !c->draining && wslay_event_want_write(c->ws)))
        ev |= EPOLLOUT;
    if (ev != c->events) {
        struct epoll_event e = { ev, { .ptr = c } };
        epoll_ctl(d->ep, EPOLL_CTL_MOD, c->fd, &e);
        c->events = ev;
    }
}

/* After anything happened to c: start its next job, write, watch. */
static void service(struct wsd *d, struct conn *c)
{
    if (c->dead)
        return;
    flush(d, c); /* first: what it writes may bring the socket under LOW_WATER */
    if (c->dead)
        return;
    if (c->state == C_OPEN && !c->busy) {
        if (c->cmd_count > 0)
            submit(d, c, PUSH_WSJOB_CMD);
        else if (c->want_fetch && push_now_ms() >= c->retry_at && queued(c) < LOW_WATER) {
            c->want_fetch = 0;
            submit(d, c, PUSH_WSJOB_FETCH);
        }
    }
    if (queued(c) > OUT_HARD) {
        push_log_info("dropped a socket of %s: %zu bytes queued for it, over the %d MiB limit",
                      c->user, queued(c), OUT_HARD >> 20);
        conn_close(d, c);
        return;
    }
    watch(d, c);
}

/* --- the upgrade */

/* The upgrade request is complete in c->head: check it, identify the user, join the hub, and
 * have the first read made; or answer an HTTP error. */
static void upgrade(struct wsd *d, struct conn *c, size_t head_len)
{
    const struct push_config *cfg = d->cfg;
    struct push_upgrade u;
    enum push_upgrade_err uerr = push_upgrade_parse(c->head, head_len, cfg->ws_user_header, &u);
    struct push_identity id;
    enum push_auth_err aerr;
    struct push_query *q;
    char *envp[4], remote[PUSH_USER_MAX + 16], auth[1100], cookie[PUSH_QUERY_MAX + 16];
    int n = 0;

    switch (uerr) {
    case PUSH_UPGRADE_OK: break;
    case PUSH_UPGRADE_METHOD:
        http_error(c, 405, "method_not_allowed", push_upgrade_strerror(uerr), "Allow: GET\r\n");
        return;
    case PUSH_UPGRADE_NOT_WEBSOCKET:
    case PUSH_UPGRADE_VERSION:
        http_error(c, 426, "upgrade_required", push_upgrade_strerror(uerr),
                   "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
        return;
    case PUSH_UPGRADE_IDENTITY:
        push_log_warn("refused an upgrade: the trusted %s header is repeated or ambiguous (does the "
                      "web server clear what the client sent? see conf/)", cfg->ws_user_header);
        http_error(c, 403, "identity_ambiguous", push_upgrade_strerror(uerr), NULL);
        return;
    default:
        push_log_info("refused an upgrade (400): %s", push_upgrade_strerror(uerr));
        http_error(c, 400, "bad_request", push_upgrade_strerror(uerr), NULL);
        return;
    }
    /* no Origin: not a browser. The scheme is the proxy's word (X-Forwarded-Proto, set by the
     * shipped configurations); a page cannot set that header on a WebSocket request. */
    if (u.origin && !push_http_origin_allowed(u.origin, u.proto ? u.proto : "http", u.host,
                                              cfg->ws_origins)) {
        push_log_info("refused an upgrade (403): Origin %.100s is neither %s://%.100s nor in "
                      "PUSH_WS_ORIGINS", u.origin, u.proto ? u.proto : "http", u.host ? u.host : "");
        http_error(c, 403, "origin_forbidden", "pages of this origin may not connect", NULL);
        return;
    }
    /* identity as in every program: the trusted header stands for REMOTE_USER */
    if (u.user && *u.user && strlen(u.user) <= PUSH_USER_MAX)
        snprintf(remote, sizeof remote, "REMOTE_USER=%s", u.user), envp[n++] = remote;
    if (u.authorization && strlen(u.authorization) < sizeof auth - 24)
        snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=%s", u.authorization), envp[n++] = auth;
    if (u.cookie && strlen(u.cookie) < sizeof cookie - 16)
        snprintf(cookie, sizeof cookie, "HTTP_COOKIE=%s", u.cookie), envp[n++] = cookie;
    envp[n] = NULL;
    q = push_query_new();
    enum push_query_err qerr = push_query_parse(q, u.query);
    if (qerr != PUSH_QUERY_OK) {
        http_error(c, qerr == PUSH_QUERY_TOO_LONG ? 414 : 400, "bad_query", push_query_strerror(qerr), NULL);
        free(q);
        return;
    }
    aerr = push_auth_identify_stream(cfg, envp, q, time(NULL), &id); /* a browser: ?ticket= */
    if (aerr != PUSH_AUTH_OK) {
        push_log_info("refused an upgrade (%d %s): %s", push_auth_status(aerr), push_auth_code(aerr),
                      push_auth_strerror(aerr));
        http_error(c, push_auth_status(aerr), push_auth_code(aerr), push_auth_strerror(aerr),
                   "WWW-Authenticate: Bearer realm=\"pgpush\"\r\n");
        free(q);
        return;
    }
    memcpy(c->user, id.user, sizeof c->user);
    c->expires = id.expires; /* a token's, also through a ticket; 0: none */
    push_cursor_tag(c->user, c->tag);
    const char *since = push_query_get(q, "since");
    if (since && *since) {
        enum push_cursor_err cerr = push_cursor_parse(since, c->tag, &c->pos);
        if (cerr != PUSH_CURSOR_OK) {
            refuse(c, push_refusal_cursor(cerr));
            free(q);
            return;
        }
        c->has_pos = 1;
    }
    free(q);
    push_upgrade_accept(u.key, c->accept);
    free(c->head);
    c->head = NULL;
    c->w.wake = wake; /* called instead of blocking: it queues the socket for the loop */
    c->w.wake_arg = c;
    enum push_hub_err herr = push_hub_join(d->hub, &c->w, c->user);
    if (herr != PUSH_HUB_OK) {
        refuse(c, push_hub_refusal(herr));
        return;
    }
    c->joined = 1;
    /* the first read comes after the join: a change from now on wakes us, none is missed */
    head_left(c);
    c->state = C_OPENING;
    c->deadline = push_now_ms() + OPEN_TIMEOUT_MS;
    submit(d, c, PUSH_WSJOB_OPEN);
}

static void read_head(struct wsd *d, struct conn *c)
{
    for (;;) {
        size_t room = PUSH_UPGRADE_HEAD_MAX - c->head_len;
        ssize_t n;
        int rc;
        if (room == 0) {
            http_error(c, 431, "header_too_large", "the request head is over 8 KiB", NULL);
            return;
        }
        n = recv(c->fd, c->head + c->head_len, room, 0);
        if ((rc = moved(d, c, n)) < 0)
            return;
        if (rc == 0)
            continue;
        /* look for the end from a little before the new bytes */
        size_t from = c->head_len > 3 ? c->head_len - 3 : 0;
        c->head_len += (size_t)n;
        size_t end = push_upgrade_head_end(c->head + from, c->head_len - from);
        if (end) {
            upgrade(d, c, from + end);
            return;
        }
    }
}

/* The first read is back: answer 101 and the first events, or an HTTP error. */
static void opened(struct wsd *d, struct conn *c, struct push_wsjob *j)
{
    char text[256], cursor[PUSH_CURSOR_MAX];
    size_t size = 160;

    if (j->failed) {
        refuse(c, push_refusal_db(j->err, j->errmsg));
        return;
    }
    if (j->future) {
        refuse(c, push_refusal_cursor_future());
        return;
    }
    c->raw = xcalloc(1, size);
    c->raw_len = (size_t)snprintf(c->raw, size,
                                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                                  c->accept);
    c->raw_off = 0;
    c->last_progress = push_now_ms();
    if (wslay_event_context_server_init(&c->ws, &ws_callbacks, c) != 0)
        abort();
    wslay_event_config_set_max_recv_msg_length(c->ws, PUSH_WS_MSG_MAX);
    c->state = C_OPEN;
    c->has_pos = 0;
    c->next_ping = push_now_ms() + d->cfg->heartbeat * 1000L;
    push_cursor_format(&j->start, c->tag, cursor);
    snprintf(text, sizeof text, "{\"type\":\"open\",\"cursor\":\"%s\",\"heartbeat\":%d}", cursor,
             d->cfg->heartbeat);
    send_text(c, xstrdup(text));
    push_log_debug("a socket of %s opened", c->user);
}

/* A read or command is back from a worker. */
static void job_done(struct wsd *d, struct push_wsjob *j)
{
    struct conn *c = j->owner;
    char cursor[PUSH_CURSOR_MAX];

    c->busy = 0;
    if (c->dead) {
        bury(d, c);
        push_wsjob_free(j);
        return;
    }
    if (j->kind == PUSH_WSJOB_OPEN) {
        opened(d, c, j);
        if (c->state != C_OPEN) {
            push_wsjob_free(j);
            service(d, c);
            return;
        }
    }
    if (j->kind == PUSH_WSJOB_CMD) {
        if (j->failed)
            send_text(c, push_ws_error(&j->cmd, "database_unavailable", j->errmsg));
        else
            send_text(c, j->reply);
        j->reply = NULL;
        if (j->resumed) {
            c->pos = j->pos; /* the next read goes on from the cursor given */
            c->want_fetch = 1;
        }
    } else if (j->failed) {
        c->want_fetch = 1; /* the cursor stays: nothing is lost */
        c->retry_at = push_now_ms() + DB_RETRY_MS;
    } else if (c->state == C_OPEN) {
        for (int i = 0; i < j->nframes; i++) {
            send_text(c, j->frames[i]);
            j->frames[i] = NULL;
        }
        c->pos = j->pos;
        if (!c->sent_unread || strcmp(c->sent_unread, j->unread) != 0) {
            push_cursor_format(&c->pos, c->tag, cursor);
            send_text(c, push_ws_event("unread", cursor, "unread", j->unread, strlen(j->unread)));
            free(c->sent_unread);
            c->sent_unread = j->unread;
            j->unread = NULL;
        }
        if (j->more)
            c->want_fetch = 1;
        c->retry_at = 0;
    }
    push_wsjob_free(j);
    service(d, c);
}

/* --- the loop */

static void accept_all(struct wsd *d)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) { /* the rest at the next turn (level-triggered) */
        if (!head_slot(d)) {
            listen_watch(d, 0); /* until a slot is free, or the next tick */
            return;
        }
        int fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* the streams are capped to fit the open-file limit, so something else holds
                 * descriptors: serve the open sockets, and try again at the next tick */
                if (!d->fd_short)
                    push_log_warn("accept: %s; the open sockets are served, and accepting resumes "
                                  "when descriptors are free (raise LimitNOFILE / ulimit -n)",
                                  strerror(errno));
                d->fd_short = 1;
                listen_watch(d, 0);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                push_log_warn("accept: %s", strerror(errno));
            }
            return;
        }
        d->fd_short = 0;
        if (d->nconns >= d->max_conns || d->stopping) {
            static const char body[] =
                "{\"error\":\"too_many_streams\",\"message\":\"this server holds all the sockets it may\"}";
            char full[512];
            int n = snprintf(full, sizeof full,
                             "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
                             "Content-Length: %zu\r\nRetry-After: 10\r\nConnection: close\r\n\r\n%s",
                             sizeof body - 1, body);
            /* best effort: the socket is new, its buffer empty. What the client sent is read
             * first: closing with unread bytes would send a reset, which can destroy the answer
             * before the client reads it. */
            if (send(fd, full, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                push_log_debug("could not refuse a connection: %s", strerror(errno));
            shutdown(fd, SHUT_WR);
            for (int k = 0; k < 16 && recv(fd, full, sizeof full, MSG_DONTWAIT) > 0; k++)
                ; /* a request head is at most 8 KiB */
            close(fd);
            continue;
        }
        struct conn *c = xcalloc(1, sizeof *c);
        c->d = d;
        c->fd = fd;
        c->state = C_HEAD;
        c->head = xmalloc(PUSH_UPGRADE_HEAD_MAX);
        c->accepted_at = push_now_ms();
        c->deadline = c->accepted_at + HEAD_TIMEOUT_MS;
        c->events = EPOLLIN;
        struct epoll_event e = { EPOLLIN, { .ptr = c } };
        if (epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
            push_log_error("epoll_ctl: %s", strerror(errno));
            close(fd);
            free(c->head);
            free(c);
            continue;
        }
        c->next = d->all;
        if (d->all)
            d->all->prev = c;
        d->all = c;
        d->nconns++;
        d->nheads++;
        read_head(d, c); /* a request already here leaves its head slot at once */
        if (!c->dead)
            service(d, c);
    }
}

static void drain_queues(struct wsd *d)
{
    uint64_t v;
    struct conn *woken = NULL;

    if (read(d->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        push_log_error("eventfd: %s", strerror(errno));
    pthread_mutex_lock(&d->lock);
    /* copied through drain_next: once the lock is let go, the hub may queue a socket again and
     * rewrite its wake_next */
    for (struct conn *c = d->wakeq; c; c = c->wake_next) {
        c->wake_pending = 0;
        c->drain_next = woken;
        woken = c;
    }
    d->wakeq = NULL;
    pthread_mutex_unlock(&d->lock);
    /* a socket closed meanwhile stays allocated until the end of this turn (the graveyard) */
    for (struct conn *c = woken; c; c = c->drain_next) {
        if (c->dead)
            continue;
        c->want_fetch = 1;
        service(d, c);
    }
    for (struct push_wsjob *j = push_wsq_done(d->jobs), *next; j; j = next) {
        next = j->next;
        job_done(d, j);
    }
}

static void on_socket(struct wsd *d, struct conn *c, unsigned events)
{
    if (c->dead)
        return;
    if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
        conn_close(d, c);
        return;
    }
    if (c->draining) {
        drain(d, c);
    } else if (c->state == C_HEAD && (events & EPOLLIN)) {
        read_head(d, c);
    } else if (c->ws && (events & EPOLLIN)) {
        if (wslay_event_recv(c->ws) < 0) {
            conn_close(d, c);
            return;
        }
    }
    service(d, c);
}

/* Every TICK_MS: timeouts, pings, token expiry, slow readers, retries. */
static void tick(struct wsd *d)
{
    long now = push_now_ms();
    time_t wall = time(NULL);

    if (d->evicted) {
        push_log_info("closed %ld connections that had not sent their upgrade request within %d ms, "
                      "to make room for newer ones (at most %d may be sending theirs)", d->evicted,
                      HEAD_GRACE_MS, d->head_slots);
        d->evicted = 0;
    }
    if (d->accept_paused)
        listen_watch(d, 1); /* after a descriptor shortage, or to see whether a slot has aged */
    for (struct conn *c = d->all, *next; c; c = next) {
        next = c->next;
        if (c->state != C_OPEN) {
            if (now >= c->deadline)
                conn_close(d, c); /* a slow upgrade, a slow first read, an unanswered close */
            continue;
        }
        if (c->expires && wall >= c->expires) {
            close_with(c, PUSH_WS_CLOSE_AUTH, "token expired");
        } else if (wslay_event_want_write(c->ws) || c->raw) {
            if (now - c->last_progress > d->cfg->write_timeout * 1000L) {
                push_log_info("dropped a socket of %s: the client took no data for %d s", c->user,
                              d->cfg->write_timeout);
                conn_close(d, c);
                continue;
            }
        }
        if (c->state == C_OPEN && now >= c->next_ping) {
            if (c->ping_out) {
                push_log_debug("dropped a socket of %s: no pong", c->user);
                conn_close(d, c);
                continue;
            }
            struct wslay_event_msg ping = { WSLAY_PING, NULL, 0 };
            wslay_event_queue_msg(c->ws, &ping);
            c->ping_out = 1;
            c->next_ping = now + d->cfg->heartbeat * 1000L;
        }
        service(d, c);
    }
}

static void shutdown_all(struct wsd *d)
{
    push_log_info("stopping: closing %d sockets with 1001", d->nconns);
    d->stopping = 1;
    d->stop_at = push_now_ms() + SHUTDOWN_MS;
    epoll_ctl(d->ep, EPOLL_CTL_DEL, d->lfd, NULL);
    close(d->lfd);
    for (struct conn *c = d->all, *next; c; c = next) {
        next = c->next;
        if (c->state == C_OPEN) {
            close_with(c, PUSH_WS_CLOSE_SHUTDOWN, "shutdown");
            service(d, c);
        } else if (c->state != C_CLOSING) {
            conn_close(d, c);
        }
    }
}

void push_wsd_block_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void add_fd(struct wsd *d, int fd, void *tag)
{
    struct epoll_event e = { EPOLLIN, { .ptr = tag } };

    if (epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
        push_log_error("epoll_ctl: %s", strerror(errno));
        exit(1);
    }
}

int push_wsd_run(const struct push_config *cfg, const char *appname, int lfd)
{
    static struct wsd d;
    struct epoll_event ev[256];
    sigset_t set;
    long last_tick = push_now_ms();

    d.cfg = cfg;
    d.appname = appname;
    d.lfd = lfd;
    pthread_mutex_init(&d.lock, NULL);
    /* the sockets, streams and upgrading ones, stay within the open-file limit: past them a
     * client gets 503 too_many_streams, and accept() always has a descriptor */
    long room = push_server_fd_room(cfg);
    d.head_slots = room / 4 < HEAD_SLOTS ? (int)(room / 4) : HEAD_SLOTS;
    if (d.head_slots < 1)
        d.head_slots = 1;
    int streams = push_server_stream_cap(cfg, d.head_slots);
    d.max_conns = streams + d.head_slots < room ? streams + d.head_slots : (int)room;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    d.ep = epoll_create1(EPOLL_CLOEXEC);
    d.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    d.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d.ep < 0 || d.efd < 0 || d.sfd < 0) {
        push_log_error("cannot set up the event loop: %s", strerror(errno));
        return 1;
    }
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    add_fd(&d, lfd, &tag_listen);
    add_fd(&d, d.efd, &tag_event);
    add_fd(&d, d.sfd, &tag_signal);
    /* one LISTEN connection, and db_pool workers each with one query connection */
    d.hub = push_hub_start(cfg->database_url, appname, streams, cfg->max_streams_per_user);
    d.jobs = push_wsq_start(cfg, appname, d.efd);
    push_log_info("serving WebSocket with %d database workers, up to %d sockets", cfg->db_pool,
                  d.max_conns);
    for (;;) {
        int n = epoll_wait(d.ep, ev, 256, TICK_MS);
        if (n < 0 && errno != EINTR) {
            push_log_error("epoll_wait: %s", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &tag_listen) {
                accept_all(&d);
            } else if (p == &tag_event) {
                drain_queues(&d);
            } else if (p == &tag_signal) {
                struct signalfd_siginfo si;
                while (read(d.sfd, &si, sizeof si) == (ssize_t)sizeof si)
                    ;
                if (!d.stopping)
                    shutdown_all(&d);
            } else {
                on_socket(&d, p, ev[i].events);
            }
        }
        if (push_now_ms() - last_tick >= TICK_MS) {
            last_tick = push_now_ms();
            tick(&d);
        }
        while (d.graveyard) {
            struct conn *c = d.graveyard;
            d.graveyard = c->grave_next;
            conn_free(c);
        }
        if (d.stopping && (d.nconns == 0 || push_now_ms() >= d.stop_at))
            break;
    }
    push_log_info("stopped");
    return 0;
}
