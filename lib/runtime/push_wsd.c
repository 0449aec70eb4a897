/* push_wsd.c: the push-ws daemon: accepting, the upgrade request, and the sockets before they
 * are streams of the event loop (push_loop, with push_wsconn's WebSocket kind) */
#include "config.h"

#include "runtime/push_wsd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/push_log.h"
#include "core/push_util.h"
#include "store/push_pool.h"
#include "http/push_auth.h"
#include "http/push_edge.h"
#include "http/push_http.h"
#include "http/push_query.h"
#include "http/push_server.h"
#include "http/push_upgrade.h"
#include "transport/push_ws.h"
#include "runtime/push_expiry.h"
#include "runtime/push_hub.h"
#include "runtime/push_loop.h"
#include "runtime/push_program.h"
#include "runtime/push_statusd.h"
#include "runtime/push_wsconn.h"

#define HEAD_TIMEOUT_MS 10000   /* the upgrade request must arrive within this */
#define CLOSE_WAIT_MS 2000      /* a refused socket's end is awaited this long */
#define HEAD_SLOTS 256          /* sockets still sending their upgrade request, at most (a
                                 * quarter of the open-file room, if that is less) */
#define HEAD_GRACE_MS 500       /* ... one that has taken this long may be closed for a newcomer */
#define ACCEPT_BATCH 64         /* accepted per turn of the loop: closed sockets are freed between */

struct wsd;

/* A socket before it is a stream: sending its upgrade request, or being refused. */
struct head {
    struct push_loop_watch watch;   /* first: the loop's epoll names it */
    struct wsd *d;
    LIST_ENTRY(head) link;          /* every such socket, newest first */
    struct head *grave_next;        /* closed, freed at the end of the loop's turn */
    int fd;
    int in_slot;                    /* still sending its request: holds a head slot */
    int dead;
    char *buf;                      /* the request so far (PUSH_UPGRADE_HEAD_MAX) */
    size_t len;
    char *raw;                      /* an HTTP error to write, then close */
    size_t raw_len, raw_off;
    int draining;                   /* our side ended: reading to the peer's end */
    long deadline;                  /* closed past it */
    long accepted_at;
    uint32_t events;                /* what epoll watches */
};

struct wsd {
    const struct push_config *cfg;
    const char *appname;
    struct push_hub *hub;
    struct push_pool *pool;
    struct push_loop *loop;
    struct push_loop_watch listen_watch, signal_watch;
    int lfd, sfd;
    LIST_HEAD(, head) heads;
    struct head *grave;
    int nheads;                     /* holding a descriptor, refused ones included */
    int nslots, head_slots;         /* sockets still sending their request, and how many may */
    int max_conns;
    int accept_paused;              /* the listening socket is out of epoll for now */
    int fd_short;                   /* accept ran out of descriptors, and has not yet succeeded */
    long evicted;                   /* slow upgrade requests closed for newcomers, to log */
    int stopping;
    long stop_at;
    pthread_mutex_t lock;           /* done, for the main thread */
    pthread_cond_t cond;
    int done;
};

/* --- the listening socket: accepting pauses while every head slot is taken by a young request,
 * or while descriptors run short; the kernel's backlog holds the newcomers meanwhile */

static void listen_on(struct wsd *d, int on)
{
    if (d->stopping || d->accept_paused == !on)
        return;
    push_loop_watch_mod(d->loop, d->lfd, on ? EPOLLIN : 0, &d->listen_watch);
    d->accept_paused = !on;
}

/* c no longer sends its request (upgraded, refused or closed): its head slot is free again. */
static void slot_left(struct head *c)
{
    struct wsd *d = c->d;

    if (!c->in_slot)
        return;
    c->in_slot = 0;
    d->nslots--;
    if (!d->fd_short)
        listen_on(d, 1);
}

/* Forgets c (its descriptor closed, unless the loop took it); freed after this turn of the loop,
 * whose events may still name it. */
static void head_close(struct wsd *d, struct head *c)
{
    if (c->dead)
        return;
    slot_left(c);
    c->dead = 1;
    if (c->fd >= 0) {
        push_loop_watch_del(d->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    free(c->buf); /* now, not with c: a flood of sockets closed in one turn frees its buffers */
    c->buf = NULL;
    LIST_REMOVE(c, link);
    d->nheads--;
    c->grave_next = d->grave;
    d->grave = c;
}

/* A socket that has not sent its whole upgrade request holds one of d->head_slots, apart from the
 * streams: clients that connect and send nothing, or a byte now and then, cannot take the sockets
 * meant for streams. With every slot taken, the oldest request that has had HEAD_GRACE_MS makes
 * room for the newcomer (a browser or a proxy sends its request at once, and it is read at once:
 * accept_all); if none has, returns 0, and accepting waits for a slot: the kernel's backlog holds
 * the newcomers meanwhile, and a burst of real clients frees its slots within a round trip. */
static int head_slot(struct wsd *d)
{
    struct head *c, *oldest = NULL;

    if (d->nslots < d->head_slots)
        return 1;
    LIST_FOREACH(c, &d->heads, link) /* newest first */
        if (c->in_slot)
            oldest = c;
    if (!oldest || push_now_ms() - oldest->accepted_at < HEAD_GRACE_MS)
        return 0;
    d->evicted++;
    head_close(d, oldest);
    return 1;
}

static void watch(struct wsd *d, struct head *c)
{
    uint32_t ev = c->raw ? EPOLLOUT : EPOLLIN;

    if (ev != c->events) {
        push_loop_watch_mod(d->loop, c->fd, ev, &c->watch);
        c->events = ev;
    }
}

/* What n, returned by a non-blocking send or recv on c's socket, means: 1 bytes moved; 0
 * interrupted, try again; -1 stop: the socket would block, or it is at its end or broken (then c
 * is closed, and must not be used). */
static int moved(struct wsd *d, struct head *c, ssize_t n)
{
    if (n > 0)
        return 1;
    if (n < 0 && errno == EINTR)
        return 0;
    if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
        head_close(d, c);
    return -1;
}

/* Writes the HTTP error; once written, ends our side and reads to the peer's end (closing with
 * bytes of the peer unread would send a reset that can destroy the answer in flight). */
static void flush(struct wsd *d, struct head *c)
{
    while (c->raw && c->raw_off < c->raw_len) {
        ssize_t n = send(c->fd, c->raw + c->raw_off, c->raw_len - c->raw_off, MSG_NOSIGNAL);
        int rc = moved(d, c, n);
        if (rc < 0) {
            if (!c->dead)
                watch(d, c);
            return;
        }
        if (rc > 0)
            c->raw_off += (size_t)n;
    }
    if (c->raw) {
        free(c->raw);
        c->raw = NULL;
        shutdown(c->fd, SHUT_WR);
        c->draining = 1;
        c->deadline = push_now_ms() + CLOSE_WAIT_MS;
        watch(d, c);
    }
}

/* An HTTP answer before the upgrade: a JSON error, then the connection closes. */
static void http_error(struct head *c, int status, const char *code, const char *message,
                       const char *headers)
{
    slot_left(c);
    free(c->buf);
    c->buf = NULL;
    c->raw = push_ws_http_error(status, code, message, headers, &c->raw_len);
    c->raw_off = 0;
    /* nothing more is read; closed when written, or at the deadline */
    c->deadline = push_now_ms() + push_config_current(c->d->cfg)->write_timeout * 1000L;
    flush(c->d, c);
}

/* http_error for a refusal every transport answers alike (http/push_edge, push_hub_refusal) */
static void refuse(struct head *c, struct push_refusal f)
{
    http_error(c, f.status, f.code, f.message, f.headers);
}

/* --- the upgrade */

/* Who is asking, as every program finds it (the trusted header stands for REMOTE_USER; a browser
 * sends ?ticket=): the query string parsed, or NULL when c was answered an error. */
static struct push_query *identify(struct head *c, const struct push_upgrade *up,
                                   struct push_identity *id)
{
    const struct push_upgrade u = *up;
    char *envp[4], remote[PUSH_USER_MAX + 16], auth[1100], cookie[PUSH_QUERY_MAX + 16];
    int n = 0;

    if (u.user && *u.user && strlen(u.user) <= PUSH_USER_MAX)
        snprintf(remote, sizeof remote, "REMOTE_USER=%s", u.user), envp[n++] = remote;
    if (u.authorization && strlen(u.authorization) < sizeof auth - 24)
        snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=%s", u.authorization), envp[n++] = auth;
    if (u.cookie && strlen(u.cookie) < sizeof cookie - 16)
        snprintf(cookie, sizeof cookie, "HTTP_COOKIE=%s", u.cookie), envp[n++] = cookie;
    envp[n] = NULL;
    struct push_query *q = push_query_new();
    enum push_query_err qerr = push_query_parse(q, u.query);
    if (qerr != PUSH_QUERY_OK) {
        http_error(c, qerr == PUSH_QUERY_TOO_LONG ? 414 : 400, "bad_query", push_query_strerror(qerr),
                   NULL);
        free(q);
        return NULL;
    }
    enum push_auth_err aerr = push_auth_identify_stream(c->d->cfg, envp, q, time(NULL), id);
    if (aerr != PUSH_AUTH_OK) {
        push_auth_log_refusal(aerr, id, "an upgrade", NULL); /* the proxy's address: not said */
        http_error(c, push_auth_status(aerr), push_auth_code(aerr), push_auth_strerror(aerr),
                   "WWW-Authenticate: Bearer realm=\"pgpush\"\r\n");
        free(q);
        return NULL;
    }
    return q;
}

/* The upgrade request is complete in c->buf: check it, identify the user, join the hub, and hand
 * the socket to the loop, whose readers make the first read; or answer an HTTP error. */
static void upgrade(struct wsd *d, struct head *c, size_t head_len)
{
    const struct push_config *cfg = push_config_current(d->cfg); /* PUSH_WS_ORIGINS reloads */
    struct push_upgrade u;
    enum push_upgrade_err uerr = push_upgrade_parse(c->buf, head_len, cfg->ws_user_header, &u);
    struct push_identity id;
    struct push_query *q;

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
    if (!(q = identify(c, &u, &id)))
        return;
    char user[PUSH_USER_MAX + 1], tag[PUSH_CURSOR_TAG_LEN + 1];
    struct push_cursor from;
    int has_from = 0;
    memcpy(user, id.user, sizeof user);
    push_cursor_tag(user, tag);
    const char *since = push_query_get(q, "since");
    if (since && *since) {
        enum push_cursor_err cerr = push_cursor_parse(since, tag, &from);
        if (cerr != PUSH_CURSOR_OK) {
            refuse(c, push_refusal_cursor(cerr));
            free(q);
            return;
        }
        has_from = 1;
    }
    char kinds[PUSH_KINDS_TEXT_MAX];
    if (push_edge_kinds_parse(q, kinds) < 0) {
        refuse(c, push_refusal_kinds());
        free(q);
        return;
    }
    free(q);
    enum push_hub_err herr;
    /* joined before the first read: a change from now on wakes the socket, none is missed */
    struct push_loop_stream *s = push_loop_join(d->loop, user, tag, &push_ws_encoder, NULL, &herr);
    if (!s) {
        refuse(c, push_hub_refusal(herr));
        return;
    }
    char accept[PUSH_UPGRADE_ACCEPT_LEN + 1];
    push_upgrade_accept(u.key, accept);
    push_loop_expire_at(s, push_expiry_ms(id.expires)); /* a token's, also through a ticket */
    push_loop_filter(s, kinds[0] ? kinds : NULL);
    int fd = c->fd;
    c->fd = -1; /* the loop's from here on */
    push_loop_watch_del(d->loop, fd);
    head_close(d, c);
    push_wsconn_adopt(d->loop, s, fd, accept, has_from ? &from : NULL);
}

static void read_head(struct wsd *d, struct head *c)
{
    for (;;) {
        size_t room = PUSH_UPGRADE_HEAD_MAX - c->len;
        ssize_t n;
        int rc;
        if (room == 0) {
            http_error(c, 431, "header_too_large", "the request head is over 8 KiB", NULL);
            return;
        }
        n = recv(c->fd, c->buf + c->len, room, 0);
        if ((rc = moved(d, c, n)) < 0)
            return;
        if (rc == 0)
            continue;
        /* look for the end from a little before the new bytes */
        size_t from = c->len > 3 ? c->len - 3 : 0;
        c->len += (size_t)n;
        size_t end = push_upgrade_head_end(c->buf + from, c->len - from);
        if (end) {
            upgrade(d, c, from + end);
            return;
        }
    }
}

static void on_head(struct push_loop_watch *w, uint32_t events)
{
    struct head *c = (struct head *)w;
    char buf[4096];

    if (c->dead)
        return;
    if (c->draining) { /* read to the peer's end */
        while (moved(c->d, c, recv(c->fd, buf, sizeof buf, 0)) >= 0)
            ;
    } else if (c->raw) {
        flush(c->d, c);
    } else if (events & EPOLLIN) {
        read_head(c->d, c);
    } else if (events & (EPOLLERR | EPOLLHUP)) {
        head_close(c->d, c);
    }
}

/* --- accepting */

/* Past the open-file room: 503 at once, best effort (the socket is new, its buffer empty). What
 * the client sent is read first: closing with unread bytes would send a reset, which can destroy
 * the answer before the client reads it. */
static void refuse_now(int fd)
{
    static struct push_log_limit too_many = { .seconds = 10 };
    static const char body[] =
        "{\"error\":\"too_many_streams\",\"message\":\"this server holds all the sockets it may\"}";
    char full[512];
    int n = snprintf(full, sizeof full,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nRetry-After: 10\r\nConnection: close\r\n\r\n%s",
                     sizeof body - 1, body);

    push_log_limited(&too_many, PUSH_LOG_WARN, "refused a connection (503 too_many_streams): the "
                     "sockets fill the open-file limit (see the line at start); raise LimitNOFILE "
                     "/ ulimit -n, or run more processes");
    if (send(fd, full, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        push_log_debug("could not refuse a connection: %s", strerror(errno));
    shutdown(fd, SHUT_WR);
    for (int k = 0; k < 16 && recv(fd, full, sizeof full, MSG_DONTWAIT) > 0; k++)
        ; /* a request head is at most 8 KiB */
    close(fd);
}

static void accept_one(struct wsd *d, int fd)
{
    struct head *c = xcalloc(1, sizeof *c);

    c->watch.on = on_head;
    c->d = d;
    c->fd = fd;
    c->in_slot = 1;
    c->buf = xmalloc(PUSH_UPGRADE_HEAD_MAX);
    c->accepted_at = push_now_ms();
    c->deadline = c->accepted_at + HEAD_TIMEOUT_MS;
    c->events = EPOLLIN;
    if (push_loop_watch_add(d->loop, fd, EPOLLIN, &c->watch) < 0) {
        push_log_error("epoll_ctl: %s", strerror(errno));
        close(fd);
        free(c->buf);
        free(c);
        return;
    }
    LIST_INSERT_HEAD(&d->heads, c, link);
    d->nheads++;
    d->nslots++;
    read_head(d, c); /* a request already here leaves its head slot at once */
}

static void on_listen(struct push_loop_watch *w, uint32_t events)
{
    struct wsd *d = (struct wsd *)((char *)w - offsetof(struct wsd, listen_watch));

    (void)events;
    for (int i = 0; i < ACCEPT_BATCH; i++) { /* the rest at the next turn (level-triggered) */
        if (d->stopping)
            return;
        if (!head_slot(d)) {
            listen_on(d, 0); /* until a slot is free, or the next scan */
            return;
        }
        int fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* the streams are capped to fit the open-file limit, so something else holds
                 * descriptors: serve the open sockets, and try again at the next scan */
                if (!d->fd_short)
                    push_log_warn("accept: %s; the open sockets are served, and accepting resumes "
                                  "when descriptors are free (raise LimitNOFILE / ulimit -n)",
                                  strerror(errno));
                d->fd_short = 1;
                listen_on(d, 0);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                push_log_warn("accept: %s", strerror(errno));
            }
            return;
        }
        d->fd_short = 0;
        if (d->nheads + push_loop_count(d->loop) >= d->max_conns)
            refuse_now(fd);
        else
            accept_one(d, fd);
    }
}

/* --- stopping */

static void stop_done(struct wsd *d)
{
    pthread_mutex_lock(&d->lock);
    d->done = 1;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void on_signal(struct push_loop_watch *w, uint32_t events)
{
    struct wsd *d = (struct wsd *)((char *)w - offsetof(struct wsd, signal_watch));
    struct signalfd_siginfo si;

    (void)events;
    while (read(d->sfd, &si, sizeof si) == (ssize_t)sizeof si)
        ;
    if (d->stopping)
        return;
    const struct push_config *now = push_config_current(d->cfg); /* the drain settings reload */
    /* the sockets get PUSH_DRAIN_TIME to take their 1001, and a time to come back at random
     * within PUSH_DRAIN_SPREAD in the close event, which pgpush.js waits */
    push_log_info("stopping: closing %d sockets with 1001, clients told to come back within %d ms; "
                  "exiting when they are closed, within %d s (PUSH_DRAIN_TIME)",
                  push_loop_count(d->loop), now->drain_spread_ms, now->drain_time);
    d->stopping = 1;
    d->stop_at = push_now_ms() + now->drain_time * 1000L;
    push_loop_watch_del(d->loop, d->lfd);
    close(d->lfd);
    while (!LIST_EMPTY(&d->heads))
        head_close(d, LIST_FIRST(&d->heads));
    push_loop_end_all(d->loop, "shutdown", now->drain_spread_ms);
}

/* Every PUSH_LOOP_SCAN_MS: the log of evictions, accepting again, slow requests, stopping. */
static void on_scan(void *arg, long now)
{
    struct wsd *d = arg;

    if (d->evicted) {
        push_log_info("closed %ld connections that had not sent their upgrade request within %d ms, "
                      "to make room for newer ones (at most %d may be sending theirs)", d->evicted,
                      HEAD_GRACE_MS, d->head_slots);
        d->evicted = 0;
    }
    if (d->accept_paused)
        listen_on(d, 1); /* after a descriptor shortage, or to see whether a slot has aged */
    for (struct head *c = LIST_FIRST(&d->heads), *next; c; c = next) {
        next = LIST_NEXT(c, link); /* (c may be closed) */
        if (now >= c->deadline)
            head_close(d, c); /* a slow request, a refusal not taken, a peer that never ends */
    }
    if (d->stopping && !d->done && (push_loop_count(d->loop) == 0 || now >= d->stop_at))
        stop_done(d);
}

static void on_turn_end(void *arg)
{
    struct wsd *d = arg;

    while (d->grave) {
        struct head *c = d->grave;
        d->grave = c->grave_next;
        free(c->raw);
        free(c);
    }
}

/* --- status (PUSH_WS_STATUS_LISTEN): push_statusd's thread asks */

static void status_state(void *arg, struct push_metrics_state *st)
{
    struct wsd *d = arg;
    int registered;

    *st = (struct push_metrics_state){ .program = d->appname, .transport = "ws", .broker = -1 };
    push_hub_status(d->hub, &registered, &st->listening);
    st->streams = push_loop_count(d->loop); /* sockets, upgraded or being refused */
    st->db_busy = push_pool_busy(d->pool, &st->db_pool);
}

static struct push_db *status_db(void *arg)
{
    return push_pool_acquire(((struct wsd *)arg)->pool);
}

static void status_db_release(void *arg, struct push_db *db)
{
    push_pool_release(((struct wsd *)arg)->pool, db);
}

void push_wsd_block_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int push_wsd_run(const struct push_config *cfg, const char *appname, int lfd)
{
    static struct wsd d;
    sigset_t set;

    d.cfg = cfg;
    d.lfd = lfd;
    pthread_mutex_init(&d.lock, NULL);
    pthread_cond_init(&d.cond, NULL);
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
    d.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d.sfd < 0) {
        push_log_error("cannot set up the event loop: %s", strerror(errno));
        return 1;
    }
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    /* one LISTEN connection, and db_pool query connections for the loop's readers */
    if (push_program_listen_direct(appname, cfg) < 0)
        return 1;
    struct push_hub *hub = push_hub_start(push_config_listen_url(cfg), appname, streams,
                                          cfg->max_streams_per_user);
    push_hub_follow_reloads(hub);
    struct push_pool *pool = push_program_pool(appname, cfg);
    d.appname = appname;
    d.hub = hub;
    d.pool = pool;
    d.loop = push_loop_start(cfg, hub, pool);
    push_expiry_start(pool);
    push_loop_hooks(d.loop, on_scan, on_turn_end, &d);
    if (cfg->ws_status_listen[0]) {
        const struct push_statusd_source src = { status_state, status_db, status_db_release, &d };
        char err[512];
        if (push_statusd_start(cfg->ws_status_listen, cfg->socket_mode, &src, err, sizeof err) < 0) {
            push_log_error("%s", err);
            return 1;
        }
    }
    d.listen_watch.on = on_listen;
    d.signal_watch.on = on_signal;
    if (push_loop_watch_add(d.loop, lfd, EPOLLIN, &d.listen_watch) < 0
        || push_loop_watch_add(d.loop, d.sfd, EPOLLIN, &d.signal_watch) < 0) {
        push_log_error("epoll_ctl: %s", strerror(errno));
        return 1;
    }
    push_log_info("serving WebSocket with %d database workers, up to %d sockets", cfg->db_pool,
                  d.max_conns);
    pthread_mutex_lock(&d.lock);
    while (!d.done)
        pthread_cond_wait(&d.cond, &d.lock);
    pthread_mutex_unlock(&d.lock);
    push_log_info("stopped");
    return 0;
}
