/* push_statusd.c: the daemons' status listener: one thread, one epoll, non-blocking connections */
#include "config.h"

#include "runtime/push_statusd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/push_log.h"
#include "core/push_util.h"
#include "http/push_http.h"
#include "http/push_server.h"
#include "http/push_upgrade.h"
#include "runtime/push_status.h"

#define SCAN_MS 250 /* how often deadlines are looked at */

struct conn {
    int fd;
    char head[PUSH_STATUSD_HEAD_MAX];
    size_t len;
    char *out;        /* the answer, then closed */
    size_t out_len, out_off;
    int draining;     /* answered: reading to the peer's end */
    long deadline;
};

struct statusd {
    struct push_statusd_source src;
    int lfd, ep;
    int paused;       /* every connection slot taken: the listening socket is out of epoll */
    struct conn *conns[PUSH_STATUSD_CONNS];
};

static void conn_close(struct statusd *sd, int i)
{
    struct conn *c = sd->conns[i];

    epoll_ctl(sd->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->out);
    free(c);
    sd->conns[i] = NULL;
    if (sd->paused) { /* a slot is free: accept again */
        struct epoll_event ev = { EPOLLIN, { .u32 = PUSH_STATUSD_CONNS } };
        if (epoll_ctl(sd->ep, EPOLL_CTL_ADD, sd->lfd, &ev) == 0)
            sd->paused = 0;
    }
}

static void watch(struct statusd *sd, int i, uint32_t events)
{
    struct epoll_event ev = { events, { .u32 = (uint32_t)i } };

    epoll_ctl(sd->ep, EPOLL_CTL_MOD, sd->conns[i]->fd, &ev);
}

/* Writes what is left of the answer; once written, ends our side and reads to the peer's end
 * (closing with bytes of the peer unread would send a reset that can destroy the answer). */
static void flush(struct statusd *sd, int i)
{
    struct conn *c = sd->conns[i];

    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(sd, i, EPOLLOUT);
            return;
        } else {
            conn_close(sd, i);
            return;
        }
    }
    shutdown(c->fd, SHUT_WR);
    c->draining = 1;
    watch(sd, i, EPOLLIN);
}

static void answer_raw(struct statusd *sd, int i, char *raw, size_t len)
{
    struct conn *c = sd->conns[i];

    c->out = raw;
    c->out_len = len;
    flush(sd, i);
}

static void answer_error(struct statusd *sd, int i, int status, const char *code,
                         const char *message, const char *headers)
{
    size_t len;
    char *raw;

    push_log_info("status listener: refused a request (%d %s): %s", status, code, message);
    raw = push_http_raw_error(status, code, message, headers, &len);
    answer_raw(sd, i, raw, len);
}

static void answer_status(struct statusd *sd, int i, enum push_status_kind kind)
{
    struct push_metrics_state st;
    struct push_db *db = NULL;
    const char *type;
    char *body, *raw;
    size_t blen, len;
    int status;

    sd->src.state(sd->src.arg, &st); /* before the check takes a connection of the pool's */
    if (kind == PUSH_STATUS_HEALTH)
        db = sd->src.db_acquire(sd->src.arg);
    body = push_status_body(kind, &st, db, &status, &type, &blen);
    if (db)
        sd->src.db_release(sd->src.arg, db);
    raw = push_http_raw_answer(status, NULL, type, body, blen, &len);
    free(body);
    answer_raw(sd, i, raw, len);
}

/* The head is complete (len bytes): "GET /metrics HTTP/1.1", or "/health"; a query string is
 * ignored. */
static void request(struct statusd *sd, int i, size_t len)
{
    char *line = sd->conns[i]->head, *sp1, *sp2, *eol;

    line[len - 1] = '\0'; /* (the head ends with a line feed) */
    eol = line + strcspn(line, "\r\n");
    *eol = '\0';
    sp1 = strchr(line, ' ');
    sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp1[1] != '/') {
        answer_error(sd, i, 400, "bad_request", "not an HTTP/1.x request line", NULL);
        return;
    }
    *sp1 = *sp2 = '\0';
    sp1[1 + strcspn(sp1 + 1, "?")] = '\0';
    if (strcmp(line, "GET") != 0) {
        answer_error(sd, i, 405, "method_not_allowed", "only GET is answered here", "Allow: GET\r\n");
        return;
    }
    if (strcmp(sp1 + 1, "/metrics") == 0)
        answer_status(sd, i, PUSH_STATUS_METRICS);
    else if (strcmp(sp1 + 1, "/health") == 0)
        answer_status(sd, i, PUSH_STATUS_HEALTH);
    else
        answer_error(sd, i, 404, "not_found", "the status listener answers /metrics and /health",
                     NULL);
}

static void on_read(struct statusd *sd, int i)
{
    struct conn *c = sd->conns[i];
    char sink[1024];

    for (;;) {
        char *to = c->draining ? sink : c->head + c->len;
        size_t room = c->draining ? sizeof sink : sizeof c->head - c->len;
        ssize_t n;
        if (room == 0) {
            answer_error(sd, i, 431, "header_too_large", "the request head is over 4 KiB", NULL);
            return;
        }
        n = recv(c->fd, to, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* the peer's end, or broken */
            conn_close(sd, i);
            return;
        }
        if (c->draining)
            continue;
        size_t from = c->len > 3 ? c->len - 3 : 0; /* the blank line may straddle two reads */
        c->len += (size_t)n;
        size_t end = push_upgrade_head_end(c->head + from, c->len - from);
        if (end) {
            request(sd, i, from + end);
            return;
        }
    }
}

static void on_accept(struct statusd *sd)
{
    for (;;) {
        int i = 0;
        while (i < PUSH_STATUSD_CONNS && sd->conns[i])
            i++;
        if (i == PUSH_STATUSD_CONNS) { /* the others wait in the backlog */
            if (epoll_ctl(sd->ep, EPOLL_CTL_DEL, sd->lfd, NULL) == 0)
                sd->paused = 1;
            return;
        }
        int fd = accept4(sd->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                push_log_warn("status listener: accept: %s", strerror(errno));
            return;
        }
        struct conn *c = xcalloc(1, sizeof *c);
        struct epoll_event ev = { EPOLLIN, { .u32 = (uint32_t)i } };
        c->fd = fd;
        c->deadline = push_now_ms() + PUSH_STATUSD_TIMEOUT_MS;
        if (epoll_ctl(sd->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        sd->conns[i] = c;
        on_read(sd, i); /* a request already here */
    }
}

/* Connections past their deadline: a request that never ends, an answer not taken. */
static void scan(struct statusd *sd, long now)
{
    for (int i = 0; i < PUSH_STATUSD_CONNS; i++) {
        struct conn *c = sd->conns[i];
        if (c && now >= c->deadline) {
            if (!c->out)
                push_log_info("status listener: closed a connection that sent no whole request "
                              "within %d ms", PUSH_STATUSD_TIMEOUT_MS);
            conn_close(sd, i);
        }
    }
}

static void *statusd_main(void *arg)
{
    struct statusd *sd = arg;
    struct epoll_event ev[PUSH_STATUSD_CONNS + 1];
    long next_scan = push_now_ms() + SCAN_MS;

    for (;;) {
        int n = epoll_wait(sd->ep, ev, PUSH_STATUSD_CONNS + 1, SCAN_MS);
        for (int k = 0; k < n; k++) {
            uint32_t i = ev[k].data.u32;
            if (i == PUSH_STATUSD_CONNS)
                on_accept(sd);
            else if (!sd->conns[i])
                continue; /* closed earlier in this turn */
            else if (sd->conns[i]->out && !sd->conns[i]->draining)
                flush(sd, (int)i);
            else
                on_read(sd, (int)i);
        }
        long now = push_now_ms();
        if (now >= next_scan) {
            scan(sd, now);
            next_scan = now + SCAN_MS;
        }
    }
    return NULL;
}

int push_statusd_start(const char *spec, int mode, const struct push_statusd_source *src,
                       char *err, size_t errlen)
{
    struct statusd *sd = xcalloc(1, sizeof *sd);
    struct epoll_event ev = { EPOLLIN, { .u32 = PUSH_STATUSD_CONNS } };
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    sd->src = *src;
    if ((sd->lfd = push_server_listen(spec, mode, PUSH_STATUSD_CONNS, err, errlen)) < 0) {
        free(sd);
        return -1;
    }
    fcntl(sd->lfd, F_SETFL, fcntl(sd->lfd, F_GETFL) | O_NONBLOCK);
    fcntl(sd->lfd, F_SETFD, FD_CLOEXEC);
    sd->ep = epoll_create1(EPOLL_CLOEXEC);
    if (sd->ep < 0 || epoll_ctl(sd->ep, EPOLL_CTL_ADD, sd->lfd, &ev) < 0) {
        snprintf(err, errlen, "status listener: epoll: %s", strerror(errno));
        return -1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &attr, statusd_main, sd);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "status listener: cannot start its thread: %s", strerror(rc));
        return -1;
    }
    push_log_info("status: GET /metrics and /health on %s", spec);
    return 0;
}
