/* push_loop.c: the event loop holding every open stream, and the threads reading for it */
#include "config.h"

#include "runtime/push_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/push_log.h"
#include "core/push_metrics.h"
#include "core/push_user.h"
#include "core/push_util.h"
#include "store/push_db.h"
#include "store/push_store.h"
#include "http/push_edge.h"
#include "transport/push_json.h"
#include "runtime/push_expiry.h"
#include "runtime/push_fcgiconn.h"
#include "runtime/push_loop_conn.h"

#define SCAN_MS PUSH_LOOP_SCAN_MS
#define RETRY_MS 1000             /* a stream whose read failed reads again after this */
#define OPEN_ANSWER_MS 60000      /* a current-state answer's end_ms: it is answered once read */
#define EVENTS 256
#define CARRY_MAX 32              /* wake-ups waiting for one stream at most; past it, one read */

/* One wake-up of a stream: the message it carried, or NULL (read). */
struct carry {
    struct carry *next;
    struct push_carried *m;
};

struct push_loop {
    const struct push_config *cfg;
    struct push_hub *hub;
    struct push_pool *pool;
    int ep, efd;
    /* handed to the loop by other threads */
    pthread_mutex_t lock;
    struct push_loop_stream *wakes, *adopts, *dones;
    int kicked; /* efd written since the loop last drained it */
    const char *drain_reason; /* push_loop_drain's, for the loop thread to take */
    int drain_spread_ms;
    /* handed to the readers */
    pthread_mutex_t rlock;
    pthread_cond_t rcond;
    struct push_loop_stream *rq_head, *rq_tail;
    /* the loop thread's own */
    LIST_HEAD(, push_loop_stream) all;
    struct push_loop_stream *grave;
    push_loop_read_fn read_many; /* the readers' query: push_pool_read_many */
    void *read_arg;
    void (*scan_hook)(void *arg, long now);
    void (*turn_hook)(void *arg);
    void *hook_arg;
    int count; /* streams holding a descriptor (atomic) */
    const char *ending; /* push_loop_end_all's reason: streams adopted from then on end too */
    int ending_spread_ms; /* ... and the window their clients are told to come back in */
    unsigned int seed;    /* for that: rand_r */
    /* the hub's LISTEN connection, read on this thread while lent (push_hub_lend) */
    struct push_loop_watch hub_watch;
    int hub_fd; /* -1: not lent (atomic: the listener thread sets it, the loop clears it) */
};

/* The loop whose thread is handling its descriptors' events now: a wake-up it makes itself (the
 * hub's connection read on it) is taken in the same turn, with no kick. */
static __thread struct push_loop *handling;

/* --- buffers */

void push_loop_buf_put(struct buf *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + len)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void push_loop_buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

const struct push_config *push_loop_config(const struct push_loop *l)
{
    return push_config_current(l->cfg); /* the settings in force: some reload */
}

/* --- what both kinds of stream share */

long push_loop_io_read(void *ctx, char *data, size_t len)
{
    (void)ctx, (void)data, (void)len;
    return -1;
}

int push_loop_io_error(void *ctx)
{
    struct push_loop_stream *s = ctx;

    return s->overflow ? EAGAIN : 0;
}

/* --- handing streams to the loop */

static void kick_locked(struct push_loop *l, int *kick)
{
    *kick = !l->kicked;
    l->kicked = 1;
}

static void carries_free(struct carry *c)
{
    for (struct carry *next; c; c = next) {
        next = c->next;
        push_json_carried_put(c->m);
        free(c);
    }
}

/* Appends a wake-up (m, or NULL: read) to a queue; two reads in a row are one. Past CARRY_MAX
 * the queue becomes one read: it covers everything its messages held (committed before). */
static void carry_append(struct carry **head, struct carry **tail, unsigned char *n,
                         struct push_carried *m)
{
    struct carry *c;

    if (!m && *tail && !(*tail)->m)
        return;
    if (*n >= CARRY_MAX) {
        carries_free(*head);
        *head = *tail = NULL;
        *n = 0;
        m = NULL;
    }
    c = xcalloc(1, sizeof *c);
    if (m)
        push_json_carried_hold(m);
    c->m = m;
    if (*tail)
        (*tail)->next = c;
    else
        *head = c;
    *tail = c;
    (*n)++;
}

/* The hub's callback, with the hub's lock held: queue and signal, nothing more. */
static void loop_wake(void *arg, struct push_carried *m)
{
    struct push_loop_stream *s = arg;
    struct push_loop *l = s->loop;
    int k;

    pthread_mutex_lock(&l->lock);
    carry_append(&s->cin, &s->cin_tail, &s->cin_n, m);
    if (!s->wake_queued) {
        s->wake_queued = 1;
        s->wnext = l->wakes;
        l->wakes = s;
    }
    kick_locked(l, &k);
    pthread_mutex_unlock(&l->lock);
    if (k && handling != l)
        push_kick(l->efd);
}

static void hand_over(struct push_loop *l, struct push_loop_stream *s,
                      struct push_loop_stream **list)
{
    int k;

    pthread_mutex_lock(&l->lock);
    s->qnext = *list;
    *list = s;
    kick_locked(l, &k);
    pthread_mutex_unlock(&l->lock);
    if (k)
        push_kick(l->efd);
}

/* A stream of user with enc and its arg (copied), not yet joined to the hub. */
static struct push_loop_stream *stream_new(struct push_loop *l, const char *user, const char *tag,
                                           const struct push_encoder *enc, const void *arg)
{
    size_t arg_size = enc ? enc->arg_size : 0;
    struct push_loop_stream *s = xcalloc(1, sizeof *s + arg_size);

    s->loop = l;
    s->kind = &push_fcgiconn_kind;
    s->fd = -1;
    s->state = PUSH_LOOP_ADOPTING;
    snprintf(s->user, sizeof s->user, "%s", user);
    snprintf(s->tag, sizeof s->tag, "%s", tag);
    if (arg_size)
        memcpy(s->arg, arg, arg_size);
    s->req.io = &push_fcgiconn_io;
    s->req.io_ctx = s;
    s->e.r = &s->req;
    s->e.enc = enc;
    s->e.arg = arg_size ? s->arg : NULL;
    s->hold = enc && enc->answer; /* a long poll: answered once, then closed */
    s->e.tag = s->tag;
    return s;
}

struct push_loop_stream *push_loop_join(struct push_loop *l, const char *user, const char *tag,
                                        const struct push_encoder *enc, const void *arg,
                                        enum push_hub_err *err)
{
    struct push_loop_stream *s = stream_new(l, user, tag, enc, arg);

    s->w.wake = loop_wake;
    s->w.wake_arg = s;
    *err = push_hub_join(l->hub, &s->w, user);
    if (*err != PUSH_HUB_OK) {
        free(s);
        return NULL;
    }
    s->joined = 1;
    return s;
}

struct push_loop_stream *push_loop_answer(struct push_loop *l, const char *user, const char *tag)
{
    struct push_loop_stream *s;

    if (push_hub_reserve(l->hub) != PUSH_HUB_OK)
        return NULL;
    s = stream_new(l, user, tag, &push_longpoll_encoder, NULL);
    s->hold = 0;
    s->current = 1;
    return s;
}

void push_loop_adopt_kind(struct push_loop *l, struct push_loop_stream *s, int fd,
                          const struct push_loop_kind *kind, const struct push_cursor *from,
                          long end_ms)
{
    int flags = fcntl(fd, F_GETFL);

    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    s->kind = kind;
    s->fd = fd;
    s->counted = 1;
    __atomic_add_fetch(&l->count, 1, __ATOMIC_RELAXED);
    s->opening = 1;
    s->from_head = !from;
    push_metric_add(PUSH_M_OPENED, 1);
    if (from && !s->hold)
        push_metric_add(PUSH_M_RESUMED, 1); /* (a long poll always names its cursor) */
    if (from)
        s->e.pos = *from;
    s->end_ms = end_ms;
    hand_over(l, s, &l->adopts);
}

void push_loop_adopt(struct push_loop *l, struct push_loop_stream *s, int fd, int request_id,
                     const struct push_cursor *from, long end_ms)
{
    s->request_id = request_id;
    push_loop_adopt_kind(l, s, fd, &push_fcgiconn_kind, from, end_ms);
}

void push_loop_adopt_hold(struct push_loop *l, struct push_loop_stream *s, int fd, int request_id,
                          struct push_cursor since, int limit, long end_ms)
{
    s->limit = limit;
    push_loop_adopt(l, s, fd, request_id, &since, end_ms);
}

void push_loop_adopt_current(struct push_loop *l, struct push_loop_stream *s, int fd,
                             int request_id, int limit)
{
    s->limit = limit;
    push_loop_adopt(l, s, fd, request_id, NULL, push_now_ms() + OPEN_ANSWER_MS);
}

void push_loop_expire_at(struct push_loop_stream *s, long expiry_ms)
{
    s->expiry_ms = expiry_ms;
}

void push_loop_filter(struct push_loop_stream *s, const char *kinds)
{
    free(s->kinds);
    s->kinds = kinds ? xstrdup(kinds) : NULL;
    s->e.kinds = s->kinds;
}

void push_loop_abandon(struct push_loop *l, struct push_loop_stream *s)
{
    s->abandoned = 1;
    hand_over(l, s, &l->adopts);
}

int push_loop_count(struct push_loop *l)
{
    return __atomic_load_n(&l->count, __ATOMIC_RELAXED);
}

/* --- other descriptors */

int push_loop_watch_add(struct push_loop *l, int fd, uint32_t events, struct push_loop_watch *w)
{
    struct epoll_event ev = { events, { .ptr = w } };

    return epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
}

void push_loop_watch_mod(struct push_loop *l, int fd, uint32_t events, struct push_loop_watch *w)
{
    struct epoll_event ev = { events, { .ptr = w } };

    epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev);
}

void push_loop_watch_del(struct push_loop *l, int fd)
{
    epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
}

/* The hub's LISTEN connection: lent on the listener thread, read and given back on this one. */
static void hub_give_back(struct push_loop *l)
{
    push_loop_watch_del(l, __atomic_load_n(&l->hub_fd, __ATOMIC_ACQUIRE));
    __atomic_store_n(&l->hub_fd, -1, __ATOMIC_RELEASE);
    push_hub_give_back(l->hub);
}

static void on_hub(struct push_loop_watch *w, uint32_t events)
{
    struct push_loop *l = (struct push_loop *)((char *)w - offsetof(struct push_loop, hub_watch));

    (void)events; /* (an error or a hang-up: the read fails, and it goes back) */
    if (push_hub_pump(l->hub))
        hub_give_back(l);
}

static int hub_lend(void *arg, int fd)
{
    struct push_loop *l = arg;

    __atomic_store_n(&l->hub_fd, fd, __ATOMIC_RELEASE);
    if (push_loop_watch_add(l, fd, EPOLLIN, &l->hub_watch) < 0) {
        __atomic_store_n(&l->hub_fd, -1, __ATOMIC_RELEASE);
        return -1;
    }
    return 0;
}

void push_loop_hooks(struct push_loop *l, void (*scan)(void *arg, long now),
                     void (*turn_end)(void *arg), void *arg)
{
    /* (under the lock: the loop thread runs already, and takes them at every turn) */
    pthread_mutex_lock(&l->lock);
    l->scan_hook = scan;
    l->turn_hook = turn_end;
    l->hook_arg = arg;
    pthread_mutex_unlock(&l->lock);
}

/* --- the loop's side */

static void watch(struct push_loop *l, struct push_loop_stream *s, int in, int out)
{
    struct epoll_event ev = { (in ? EPOLLIN | EPOLLRDHUP : 0) | (out ? EPOLLOUT : 0), { .ptr = s } };

    if (in == s->watching && out == s->want_out)
        return;
    epoll_ctl(l->ep, EPOLL_CTL_MOD, s->fd, &ev);
    s->watching = in;
    s->want_out = out;
}

void push_loop_rewatch(struct push_loop_stream *s)
{
    if (s->state == PUSH_LOOP_DEAD || s->fd < 0)
        return;
    watch(s->loop, s, !s->gone && s->kind->wants_input(s),
          s->state != PUSH_LOOP_READING && s->kind->pending(s) > 0);
}

/* Ends s at once: out of the hub, the descriptor closed; freed when no wake-up can name it. */
static void drop(struct push_loop *l, struct push_loop_stream *s)
{
    if (s->state == PUSH_LOOP_DEAD)
        return;
    if (s->joined)
        push_hub_leave(l->hub, &s->w);
    if (s->current)
        push_hub_release(l->hub);
    if (s->fd >= 0) {
        char scratch[512];
        epoll_ctl(l->ep, EPOLL_CTL_DEL, s->fd, NULL);
        /* unread input at close() makes a reset, which can cut off what we wrote last */
        for (int i = 0; i < 8 && read(s->fd, scratch, sizeof scratch) > 0; i++)
            ;
        close(s->fd);
        s->fd = -1;
    }
    if (s->counted)
        __atomic_sub_fetch(&l->count, 1, __ATOMIC_RELAXED);
    s->counted = 0;
    if (s->state != PUSH_LOOP_ADOPTING) /* linked into all since its adoption */
        LIST_REMOVE(s, link);
    s->state = PUSH_LOOP_DEAD;
    push_loop_buf_free(&s->body);
    push_loop_buf_free(&s->out);
    free(s->e.sent_unread);
    s->e.sent_unread = NULL;
    s->kind->free(s);
    s->qnext = l->grave;
    l->grave = s;
}

static void read_later(struct push_loop *l, struct push_loop_stream *s)
{
    s->state = PUSH_LOOP_READING;
    s->commanding = !s->opening && s->kind->has_command(s);
    if (!s->commanding)
        s->wake_again = 0;
    pthread_mutex_lock(&l->rlock);
    s->qnext = NULL;
    if (l->rq_tail)
        l->rq_tail->qnext = s;
    else
        l->rq_head = s;
    l->rq_tail = s;
    pthread_cond_signal(&l->rcond);
    pthread_mutex_unlock(&l->rlock);
}

/* Runs a command, or reads again, if the stream asked to and its client keeps up. */
static void maybe_read(struct push_loop *l, struct push_loop_stream *s)
{
    if (s->state != PUSH_LOOP_IDLE || s->kind->pending(s) >= PUSH_LOOP_OUT_HIGH)
        return;
    if ((!s->opening && s->kind->has_command(s)) || (s->wake_again && !s->retry_at_ms))
        read_later(l, s);
}

/* Writes what waits, without blocking; drops the stream when its client is gone or its end
 * is written. */
static void write_out(struct push_loop *l, struct push_loop_stream *s, long now)
{
    int rc;

    if (!s->want_out) /* the client kept up until now: its stall clock starts here */
        s->stall_since_ms = now;
    rc = s->kind->output(s, now);
    if (rc < 0) {
        if (s->state != PUSH_LOOP_CLOSING)
            push_log_debug("a %s of %s ended: the client left", s->kind->noun, s->user);
        drop(l, s);
        return;
    }
    if (rc > 0 && s->state == PUSH_LOOP_CLOSING && !s->close_by_ms) {
        drop(l, s);
        return;
    }
    push_loop_rewatch(s);
    maybe_read(l, s);
}

/* The answer is complete: what ends it, then closed once written. */
static void finish(struct push_loop *l, struct push_loop_stream *s, long now)
{
    s->kind->finish(s);
    s->state = PUSH_LOOP_CLOSING;
    write_out(l, s, now);
}

static void hold_timeout(struct push_loop *l, struct push_loop_stream *s, long now);

/* The stream ends with reason, then closes; its client comes back after retry_ms (0: at once).
 * A held long poll is answered with what it holds, but at its token's expiry (401). */
static void end(struct push_loop *l, struct push_loop_stream *s, const char *reason, int retry_ms,
                long now)
{
    if (s->hold && strcmp(reason, "token_expired") != 0) {
        hold_timeout(l, s, now);
        return;
    }
    s->kind->end(s, reason, retry_ms);
    finish(l, s, now);
}

/* The stream ends now if its kind asked for it and its answer has begun: 1 when it did. */
static int take_end(struct push_loop *l, struct push_loop_stream *s, long now)
{
    const char *reason = s->end_reason;

    if (!reason || s->state != PUSH_LOOP_IDLE || s->opening)
        return 0;
    s->end_reason = NULL;
    end(l, s, reason, s->end_retry_ms, now);
    return 1;
}

/* When a client of a draining loop should come back: at random within the spread (from a
 * quarter second), so that a crowd told together does not return together; 0 when not ending
 * or no spread. */
static int come_back_ms(struct push_loop *l)
{
    int spread = l->ending_spread_ms, low = spread < 250 ? spread : 250;

    if (!l->ending || spread <= 0)
        return 0;
    return low + (int)((unsigned)rand_r(&l->seed) % (unsigned)(spread - low + 1));
}

static void on_io(struct push_loop *l, struct push_loop_stream *s, uint32_t events, long now)
{
    if (s->state == PUSH_LOOP_DEAD)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (s->kind->input(s, events, now) < 0) {
            if (s->state == PUSH_LOOP_READING) {
                /* not again while the reader has it: out of epoll, not a watch of nothing (epoll
                 * reports a hangup or an error whatever it watches: a reset peer would be
                 * reported at every turn, spinning the loop until the read is back) */
                s->gone = 1;
                epoll_ctl(l->ep, EPOLL_CTL_DEL, s->fd, NULL);
                s->watching = s->want_out = 0;
            } else {
                if (s->state != PUSH_LOOP_CLOSING)
                    push_log_debug("a %s of %s ended: the client left", s->kind->noun, s->user);
                drop(l, s);
            }
            return;
        }
    }
    if (s->state == PUSH_LOOP_READING)
        push_loop_rewatch(s);
    else if (!take_end(l, s, now))
        write_out(l, s, now); /* what the input made (a pong), or what waited for EPOLLOUT */
}

/* --- memory-first delivery
 *
 * A wake-up may carry its message (push_hub). A stream writes it without reading when it can
 * prove that a read would give the same: the message is the next of its stream (its prev is the
 * last id the stream's position holds there), the last read's counts cover exactly that position
 * (synced), and the message is above the read-state watermarks that read saw (so unread, and the
 * counts one more of its kind). Wake-ups are taken in their commit order; from the first one it
 * cannot take (one without a message, a gap, a read-state change, a client behind) it reads from
 * its cursor instead, and that read covers every later one, committed before it starts. One it
 * has already (a read got it) is skipped. */

/* Drops s when its writes overflowed (PUSH_LOOP_OUT_MAX): 1 when it did. */
static int drop_overflowed(struct push_loop *l, struct push_loop_stream *s)
{
    if (!s->overflow)
        return 0;
    push_log_info("dropped a %s of %s: more than %d bytes waited for the client", s->kind->noun,
                  s->user, PUSH_LOOP_OUT_MAX);
    push_metric_add(PUSH_M_SLOW_DROPS, 1);
    drop(l, s);
    return 1;
}

/* 1: m written; 0: the stream had it; -1: not provable, read. */
static int carry_apply(struct push_loop_stream *s, const struct push_carried *m)
{
    int64_t held = m->broadcast ? s->e.pos.broadcast : s->e.pos.personal;
    int64_t mark = m->broadcast ? s->mark.broadcast : s->mark.personal;
    char *counts;

    if (!m->broadcast && strcmp(m->user, s->user) != 0)
        return -1; /* (the hub wakes the recipient's streams only: never written to another's) */
    if (m->id <= held)
        return 0;
    if (!s->synced || m->prev != held || !s->e.sent_unread || s->current || s->opening
        || s->answered || s->end_reason || push_expiry_overdue())
        return -1;
    if (!push_store_kinds_has(s->kinds, m->kind)) {
        /* another kind's: a read would skip it, and its counts leave it out */
        *(m->broadcast ? &s->e.pos.broadcast : &s->e.pos.personal) = m->id;
        return 0;
    }
    if (m->id <= mark || s->kind->pending(s) >= PUSH_LOOP_OUT_HIGH)
        return -1;
    if (!(counts = push_json_unread_add(s->e.sent_unread, m->kind)))
        return -1;
    if (s->hold) { /* a held long poll: answered with it, then closed (by the caller) */
        push_emit_longpoll_carried(&s->req, s->user, s->tag, &s->e.pos, m, counts);
        free(counts);
        s->answered = 1;
    } else if (push_emit_carried(&s->e, m, counts) < 0) {
        s->overflow = 1; /* (the only failure of a stream's writes: dropped by the caller) */
    }
    return 1;
}

/* Takes s's waiting wake-ups (the loop's, s IDLE): 1 when it must read. A held long poll is
 * answered by the first it can take (s->answered: the caller finishes it). */
static int carries_take(struct push_loop *l, struct push_loop_stream *s, long now)
{
    int must_read = 0, wrote = 0;

    for (struct carry *c = s->cq; c && !must_read && !s->answered; c = c->next) {
        int rc = c->m ? carry_apply(s, c->m) : -1;
        if (rc < 0) {
            must_read = 1;
            if (c->m)
                push_metric_add(PUSH_M_CARRY_MISSES, 1);
        }
        wrote |= rc > 0;
    }
    carries_free(s->cq);
    s->cq = s->cq_tail = NULL;
    s->cq_n = 0;
    if (wrote) {
        s->kind->taken(s, now);
        if (s->kind->quiet_beats)
            s->next_beat_ms = now + push_config_current(l->cfg)->heartbeat * 1000L;
    }
    return must_read;
}

static void on_wake(struct push_loop *l, struct push_loop_stream *s, long now)
{
    switch (s->state) {
    case PUSH_LOOP_IDLE:
        if (s->opening) { /* (its first read is to come, and covers them) */
            carries_free(s->cq);
            s->cq = s->cq_tail = NULL;
            s->cq_n = 0;
            s->wake_again = 1;
        } else if (carries_take(l, s, now)) {
            s->wake_again = 1;
        }
        if (s->answered && !s->overflow)
            finish(l, s, now);
        else if (!drop_overflowed(l, s))
            write_out(l, s, now);
        break;
    case PUSH_LOOP_ADOPTING:
    case PUSH_LOOP_READING:
        break; /* taken when it comes back (on_done) */
    case PUSH_LOOP_CLOSING:
    case PUSH_LOOP_DEAD:
        break;
    }
}

static void on_adopt(struct push_loop *l, struct push_loop_stream *s, long now)
{
    struct epoll_event ev = { 0, { .ptr = s } }; /* (hangups only, until push_loop_rewatch) */

    if (s->abandoned || epoll_ctl(l->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
        drop(l, s);
        return;
    }
    s->state = PUSH_LOOP_IDLE;
    LIST_INSERT_HEAD(&l->all, s, link);
    s->next_beat_ms = now + push_config_current(l->cfg)->heartbeat * 1000L;
    s->stall_since_ms = now;
    s->wake_again = 1; /* the first read */
    if (l->ending) { /* handed over after the loop was told to end everything */
        s->end_reason = l->ending;
        s->end_retry_ms = come_back_ms(l);
    }
    push_loop_rewatch(s);
    maybe_read(l, s);
}

/* A held long poll's time is up: the answer says so, with the counts it started with. */
static void hold_timeout(struct push_loop *l, struct push_loop_stream *s, long now)
{
    struct json_object *counts = json_tokener_parse(s->e.sent_unread);

    push_emit_longpoll(&s->req, s->user, s->tag, s->e.pos, NULL,
                       counts ? counts : json_object_new_object(), s->limit, 1);
    finish(l, s, now);
}

void push_loop_end_all(struct push_loop *l, const char *reason, int spread_ms)
{
    long now = push_now_ms();

    l->ending = reason;
    l->ending_spread_ms = spread_ms;
    for (struct push_loop_stream *s = LIST_FIRST(&l->all), *next; s; s = next) {
        next = LIST_NEXT(s, link); /* (s may be dropped) */
        if (s->state == PUSH_LOOP_IDLE && !s->opening) {
            end(l, s, reason, come_back_ms(l), now);
        } else if (s->state == PUSH_LOOP_IDLE) {
            drop(l, s);
        } else if (s->state == PUSH_LOOP_READING) {
            s->end_reason = reason; /* ends when its reader brings it back (on_done) */
            s->end_retry_ms = come_back_ms(l);
        }
    }
}

void push_loop_drain(struct push_loop *l, const char *reason, int spread_ms)
{
    int kick;

    pthread_mutex_lock(&l->lock);
    l->drain_reason = reason;
    l->drain_spread_ms = spread_ms;
    kick_locked(l, &kick);
    pthread_mutex_unlock(&l->lock);
    if (kick)
        push_kick(l->efd);
}

static void on_done(struct push_loop *l, struct push_loop_stream *s, long now)
{
    s->state = PUSH_LOOP_IDLE;
    s->kind->taken(s, now);
    if (drop_overflowed(l, s))
        return;
    if (s->gone) {
        push_log_debug("a %s of %s ended: the client left", s->kind->noun, s->user);
        drop(l, s);
        return;
    }
    if (s->answered) {
        finish(l, s, now);
        return;
    }
    if (take_end(l, s, now))
        return;
    if (s->commanding) {
        s->commanding = 0;
    } else if (s->read_failed) {
        s->retry_at_ms = now + RETRY_MS; /* the cursor stays: nothing is lost */
    } else {
        if (s->more)
            s->wake_again = 1;
        if (s->wrote && s->kind->quiet_beats)
            s->next_beat_ms = now + push_config_current(l->cfg)->heartbeat * 1000L;
    }
    if (carries_take(l, s, now)) /* what woke it meanwhile */
        s->wake_again = 1;
    if (s->answered && !s->overflow)
        finish(l, s, now);
    else if (!drop_overflowed(l, s))
        write_out(l, s, now);
}

/* Heartbeats, lifetimes, expiries, retries and clients that take nothing, every SCAN_MS. */
static void scan(struct push_loop *l, long now)
{
    struct push_loop_stream *s, *next;
    long stall_ms = push_config_current(l->cfg)->write_timeout * 1000L;

    for (s = LIST_FIRST(&l->all); s; s = next) {
        next = LIST_NEXT(s, link); /* (s may be dropped) */
        if (s->state == PUSH_LOOP_READING)
            continue;
        if (s->kind->pending(s) && now - s->stall_since_ms > stall_ms) {
            push_log_info("dropped a %s of %s: the client took no data for %d s", s->kind->noun,
                          s->user, push_config_current(l->cfg)->write_timeout);
            push_metric_add(PUSH_M_SLOW_DROPS, 1);
            drop(l, s);
            continue;
        }
        if (s->state == PUSH_LOOP_CLOSING && s->close_by_ms && now >= s->close_by_ms) {
            drop(l, s);
            continue;
        }
        /* (a stream before its first read, or a current-state answer, has nothing to time) */
        if (s->state != PUSH_LOOP_IDLE || s->opening || s->current)
            continue;
        if (s->expiry_ms && now >= s->expiry_ms) {
            push_log_info("a %s of %s ended: its token expired", s->hold ? "long poll"
                          : s->kind->noun, s->user);
            end(l, s, "token_expired", 0, now);
        } else if (s->retry_at_ms && now >= s->retry_at_ms) {
            s->retry_at_ms = 0;
            s->wake_again = 1;
            maybe_read(l, s);
        } else if (now >= s->end_ms && s->hold) {
            hold_timeout(l, s, now);
        } else if (now >= s->end_ms) {
            end(l, s, "lifetime", 0, now);
        } else if (now >= s->next_beat_ms) {
            s->next_beat_ms = now + push_config_current(l->cfg)->heartbeat * 1000L;
            if (s->kind->heartbeat(s, now) < 0) {
                push_log_debug("dropped a %s of %s: no answer to a ping", s->kind->noun, s->user);
                drop(l, s);
            } else {
                write_out(l, s, now);
            }
        }
    }
}

static void *loop_main(void *arg)
{
    struct push_loop *l = arg;
    struct epoll_event ev[EVENTS];
    long next_scan = push_now_ms() + SCAN_MS;

    for (;;) {
        int n = epoll_wait(l->ep, ev, EVENTS, SCAN_MS);
        long now = push_now_ms();
        struct push_loop_stream *wakes, *adopts, *dones, *freeable, *s, *next;
        void (*scan_hook)(void *, long), (*turn_hook)(void *), *hook_arg;
        const char *drain;
        int drain_spread_ms;

        handling = l;
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (!p) {
                uint64_t count;
                while (read(l->efd, &count, sizeof count) < 0 && errno == EINTR)
                    ;
            } else if (!((struct push_loop_watch *)p)->on) { /* a stream's own */
                on_io(l, p, ev[i].events, now);
            } else {
                struct push_loop_watch *w = p;
                w->on(w, ev[i].events);
            }
        }
        handling = NULL;
        pthread_mutex_lock(&l->lock);
        wakes = l->wakes, adopts = l->adopts, dones = l->dones;
        l->wakes = l->adopts = l->dones = NULL;
        l->kicked = 0;
        scan_hook = l->scan_hook, turn_hook = l->turn_hook, hook_arg = l->hook_arg;
        drain = l->drain_reason, drain_spread_ms = l->drain_spread_ms;
        l->drain_reason = NULL;
        for (s = wakes; s; s = s->wnext) {
            s->wake_queued = 0;
            s->lnext = s->wnext;
            for (struct carry *c = s->cin; c; c = c->next) /* (in order, within the bound) */
                carry_append(&s->cq, &s->cq_tail, &s->cq_n, c->m);
            carries_free(s->cin);
            s->cin = s->cin_tail = NULL;
            s->cin_n = 0;
        }
        pthread_mutex_unlock(&l->lock);
        /* every stream dropped so far has left the hub before the lists were taken: once the
         * wake-ups taken are handled, nothing names them any more */
        freeable = l->grave;
        l->grave = NULL;
        for (s = wakes; s; s = next) {
            next = s->lnext;
            on_wake(l, s, now);
        }
        for (s = freeable; s; s = next) {
            next = s->qnext;
            carries_free(s->cin); /* (no wake-up names it any more) */
            carries_free(s->cq);
            free(s->kinds);
            free(s);
        }
        for (s = adopts; s; s = next) {
            next = s->qnext;
            on_adopt(l, s, now);
        }
        for (s = dones; s; s = next) {
            next = s->qnext;
            on_done(l, s, now);
        }
        if (drain && !l->ending)
            push_loop_end_all(l, drain, drain_spread_ms);
        if (now >= next_scan) {
            if (__atomic_load_n(&l->hub_fd, __ATOMIC_ACQUIRE) >= 0 && push_hub_pump_due(l->hub, now))
                hub_give_back(l); /* (quiet: checked by the listener thread) */
            scan(l, now);
            if (scan_hook)
                scan_hook(hook_arg, now);
            next_scan = now + SCAN_MS;
        }
        if (turn_hook)
            turn_hook(hook_arg);
    }
    return NULL;
}

/* --- the readers */

static void note_synced(struct push_loop_stream *s, const PGresult *unread);
static void hold_on(struct push_loop_stream *s, const PGresult *msgs, const PGresult *unread);

/* A held long poll's read: answered when there are messages or the counts moved; else it holds
 * on, and may be answered from its next wake-up's message (note_synced). */
static void hold_read(struct push_loop_stream *s, const PGresult *msgs, const PGresult *unread)
{
    struct json_object *u = push_json_unread_kinds(unread, s->kinds);
    size_t len;
    const char *counts = push_json_text(u, &len);

    if (push_store_entries(msgs, NULL) > 0 || strcmp(counts, s->e.sent_unread) != 0) {
        push_emit_longpoll(&s->req, s->user, s->tag, s->e.pos, msgs, u, s->limit, 0);
        s->answered = 1;
        return;
    }
    json_object_put(u);
    hold_on(s, msgs, unread);
}

/* A held long poll that read nothing to answer: it holds on from the read's head (past what the
 * read had no reason to return: another kind's messages, changes of messages above its cursor),
 * so that the next message of its stream can be proven from memory. */
static void hold_on(struct push_loop_stream *s, const PGresult *msgs, const PGresult *unread)
{
    struct push_cursor head = { -1, -1 };

    if (push_store_entries(msgs, &head) == 0 && head.personal >= 0) {
        if (head.personal > s->e.pos.personal)
            s->e.pos.personal = head.personal;
        if (head.broadcast > s->e.pos.broadcast)
            s->e.pos.broadcast = head.broadcast;
    }
    s->more = 0;
    note_synced(s, unread);
}

/* After a read wrote a stream's messages (reader): can it take the next wake-up's message from
 * memory? When the counts' snapshot had nothing beyond the position the stream is now at: the
 * counts cover exactly what the client has seen (not when the counts were read after a message
 * the messages' statement did not see, nor when more messages wait). */
static void note_synced(struct push_loop_stream *s, const PGresult *unread)
{
    struct push_unread_view v;

    s->synced = !s->more && s->e.sent_unread && push_store_unread_view(unread, &v) == 0
                && v.head.personal <= s->e.pos.personal && v.head.broadcast <= s->e.pos.broadcast;
    if (s->synced)
        s->mark = v.mark;
}

/* A new stream's first read is back (rc 0, or -1 with err and msg): the answer, or its start
 * and first events. */
static void open_read(struct push_loop *l, struct push_loop_stream *s, int rc,
                      const struct push_store_read *rd, enum push_db_err err, const char *msg)
{
    s->opening = 0;
    if (rc < 0) {
        s->kind->refuse(s, push_refusal_db(err, msg));
        s->answered = 1;
        return;
    }
    if (s->current) { /* the newest list: its messages' own cursors, and the head to go on from */
        push_emit_answer(&s->req, &push_longpoll_encoder, NULL, push_json_answer(s->user, s->tag, rd->msgs, s->limit,
                                                   (struct push_cursor){ 0, 0 }, &rd->st.head,
                                                   push_json_unread_kinds(rd->unread, s->kinds), 0));
        s->answered = 1;
        return;
    }
    if (!s->from_head && push_store_cursor_ahead(&s->e.pos, &rd->st)) {
        s->kind->refuse(s, push_refusal_cursor_future());
        s->answered = 1;
        return;
    }
    s->e.pos = rd->after; /* from_head: the head, as read */
    if (s->hold) {
        struct json_object *u = push_json_unread_kinds(rd->unread, s->kinds);
        size_t len;
        if (push_store_entries(rd->msgs, NULL) > 0) {
            push_emit_longpoll(&s->req, s->user, s->tag, s->e.pos, rd->msgs, u, s->limit, 0);
            s->answered = 1;
            return;
        }
        s->e.sent_unread = xstrdup(push_json_text(u, &len)); /* held until these change */
        json_object_put(u);
        hold_on(s, rd->msgs, rd->unread);
        return;
    }
    if (s->kind->begin(s, push_config_current(l->cfg)) < 0)
        return; /* only an overflow fails here: seen by the loop */
    s->wrote = push_emit(&s->e, rd->msgs, rd->unread, &s->more) != 0;
    note_synced(s, rd->unread);
    s->e.live = 1; /* what its next reads bring is new: their lag is measured */
}

/* Runs the batch's commands one by one, then reads the others' new messages and counts in one
 * query and writes them into each stream. */
static void read_batch(struct push_loop *l, struct push_loop_stream **all, int total)
{
    struct push_store_read reads[PUSH_STORE_MANY_MAX];
    struct push_loop_stream *batch[PUSH_STORE_MANY_MAX];
    enum push_db_err err;
    char msg[256];
    int rc, n = 0;

    for (int i = 0; i < total; i++) {
        if (all[i]->commanding)
            all[i]->kind->command(all[i], l->pool);
        else
            batch[n++] = all[i];
    }
    if (!n)
        return;
    for (int i = 0; i < n; i++) {
        struct push_loop_stream *s = batch[i];
        reads[i] = (struct push_store_read){
            .user = s->user, .after = s->e.pos,
            .limit = s->current ? s->limit : (s->hold ? s->limit : PUSH_STREAM_BATCH) + 1,
            .kinds = s->kinds,
            .want_state = s->opening,
            .from_head = s->opening && s->from_head && !s->current,
            .newest = s->current,
        };
    }
    rc = l->read_many(l->read_arg, reads, n, &err, msg, sizeof msg);
    push_metric_add(rc < 0 ? PUSH_M_READ_FAILURES : PUSH_M_READS, n);
    for (int i = 0; i < n; i++) {
        struct push_loop_stream *s = batch[i];
        s->read_failed = rc < 0 && !s->opening;
        s->wrote = 0;
        s->synced = 0; /* (until this read proves it again) */
        if (s->opening) {
            open_read(l, s, rc, &reads[i], err, msg);
        } else if (rc == 0 && s->hold) {
            hold_read(s, reads[i].msgs, reads[i].unread);
        } else if (rc == 0) {
            int written = push_emit(&s->e, reads[i].msgs, reads[i].unread, &s->more);
            s->wrote = written != 0; /* -1: overflow, seen by the loop */
            if (written >= 0)
                note_synced(s, reads[i].unread);
        }
        PQclear(reads[i].msgs);
        PQclear(reads[i].unread);
    }
}

static int pool_read(void *pool, struct push_store_read *reads, int n, enum push_db_err *err,
                     char *msg, size_t msglen)
{
    return push_pool_read_many(pool, reads, n, err, msg, msglen);
}

void push_loop_set_reader(struct push_loop *l, push_loop_read_fn read_many, void *arg)
{
    l->read_many = read_many;
    l->read_arg = arg;
}

static void *reader_main(void *arg)
{
    struct push_loop *l = arg;
    struct push_loop_stream *batch[PUSH_STORE_MANY_MAX];

    for (;;) {
        int n = 0;
        pthread_mutex_lock(&l->rlock);
        while (!l->rq_head)
            pthread_cond_wait(&l->rcond, &l->rlock);
        while (l->rq_head && n < PUSH_STORE_MANY_MAX) {
            batch[n++] = l->rq_head;
            l->rq_head = l->rq_head->qnext;
        }
        if (!l->rq_head)
            l->rq_tail = NULL;
        else
            pthread_cond_signal(&l->rcond); /* more waiting: another reader may take them */
        pthread_mutex_unlock(&l->rlock);
        read_batch(l, batch, n);
        int k;
        pthread_mutex_lock(&l->lock);
        for (int i = 0; i < n; i++) {
            batch[i]->qnext = l->dones;
            l->dones = batch[i];
        }
        kick_locked(l, &k);
        pthread_mutex_unlock(&l->lock);
        if (k)
            push_kick(l->efd);
    }
    return NULL;
}

struct push_loop *push_loop_start(const struct push_config *cfg, struct push_hub *hub,
                                  struct push_pool *pool)
{
    struct push_loop *l = xcalloc(1, sizeof *l);
    struct epoll_event ev = { EPOLLIN, { .ptr = NULL } };

    l->seed = (unsigned int)push_now_ms() ^ (unsigned int)getpid();
    pthread_attr_t attr;
    pthread_t t;

    l->cfg = cfg;
    l->hub = hub;
    l->pool = pool;
    push_hub_carry(hub); /* (memory-first delivery: the wake-ups' messages) */
    l->hub_watch.on = on_hub;
    l->hub_fd = -1;
    l->read_many = pool_read;
    l->read_arg = pool;
    pthread_mutex_init(&l->lock, NULL);
    pthread_mutex_init(&l->rlock, NULL);
    pthread_cond_init(&l->rcond, NULL);
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->ep < 0 || l->efd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->efd, &ev) < 0)
        abort();
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, loop_main, l) != 0)
        abort();
    for (int i = 0; i < cfg->db_pool; i++)
        if (pthread_create(&t, &attr, reader_main, l) != 0)
            abort();
    pthread_attr_destroy(&attr);
    push_hub_lend(hub, hub_lend, l);
    return l;
}
