/* test_loop.c: unit tests for lib/runtime/push_loop, the event loop, over socketpairs: the test
 * holds the web server's end of each stream's connection and reads the FastCGI records the loop
 * writes; the loop's readers read from a store made in memory (push_loop_set_reader), so no
 * database is needed. What it checks: the first read and its answer, wake-ups, heartbeats,
 * lifetimes, held long polls, refusals (as each transport's client retries them), a client that
 * leaves and one that takes nothing. */
#include "config.h"

#include "unit.h"

#include "runtime/push_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/push_config.h"
#include "core/push_log.h"
#include "core/push_util.h"
#include "http/push_fcgi.h"
#include "transport/push_sse.h"
#include "transport/push_json.h"
#include "runtime/push_hub.h"
#include "runtime/push_loop_conn.h"

#include "pgresult.h"

#define REQ_ID 7

/* ---- the store in memory: alice's messages 1..nmsgs, each of body_len bytes */

static struct {
    pthread_mutex_t lock;
    int nmsgs;
    size_t body_len;
    int reads; /* batches run */
    int fail;  /* reads fail: the database is unreachable */
    int view;  /* counts with what they were counted against (push.unread_view's columns) */
    int counted; /* messages the counts' statement saw (0: nmsgs): more, when one committed
                  * between the two statements of a read */
    int mark;    /* alice's read-state watermark (personal) */
} store = { PTHREAD_MUTEX_INITIALIZER, 0, 1, 0, 0, 0, 0, 0 };

/* alice's counts of n "chat" messages, with push.unread_view's columns: head n, nothing read */
static PGresult *unread_view_of(int n, int mark)
{
    static const char *const names[PUSH_UNREAD_COLS] = { "kind", "n", "p", "b", "mark_p", "mark_b" };
    PGresult *res = make_result(names, PUSH_UNREAD_COLS);
    char count[24], mark_p[24];

    snprintf(count, sizeof count, "%d", n);
    snprintf(mark_p, sizeof mark_p, "%d", mark);
    set(res, 0, PUSH_UCOL_KIND, n ? "chat" : NULL);
    set(res, 0, PUSH_UCOL_N, n ? count : NULL);
    set(res, 0, PUSH_UCOL_P, count);
    set(res, 0, PUSH_UCOL_B, "0");
    set(res, 0, PUSH_UCOL_MARK_P, mark_p);
    set(res, 0, PUSH_UCOL_MARK_B, "0");
    return res;
}

static int store_read(void *arg, struct push_store_read *reads, int n, enum push_db_err *err,
                      char *msg, size_t msglen)
{
    (void)arg;
    pthread_mutex_lock(&store.lock);
    store.reads++;
    if (store.fail) {
        pthread_mutex_unlock(&store.lock);
        *err = PUSH_DB_UNREACHABLE;
        snprintf(msg, msglen, "the database is unavailable; try again shortly");
        return -1;
    }
    char *body = xmalloc(store.body_len + 1);
    memset(body, 'x', store.body_len);
    body[store.body_len] = '\0';
    for (int i = 0; i < n; i++) {
        struct push_store_read *r = &reads[i];
        struct row rows[64];
        char ids[64][24], count[24];
        int k = 0;
        if (r->want_state) {
            r->st = (struct push_state){ { store.nmsgs, 0 }, 1, 1, store.nmsgs, -1 };
            if (r->from_head)
                r->after = r->st.head;
        }
        for (int64_t id = r->after.personal + 1; id <= store.nmsgs && k < r->limit && k < 64; id++, k++) {
            snprintf(ids[k], sizeof ids[k], "%lld", (long long)id);
            rows[k] = message_row(ids[k], "t", body, ids[k], "0");
        }
        r->msgs = messages(rows, k);
        snprintf(count, sizeof count, "%d", store.nmsgs);
        const char *const counts[1][2] = { { "chat", count } };
        if (store.view)
            r->unread = unread_view_of(store.counted ? store.counted : store.nmsgs, store.mark);
        else
            r->unread = unread(counts, store.nmsgs ? 1 : 0);
    }
    free(body);
    pthread_mutex_unlock(&store.lock);
    return 0;
}

static void store_set(int nmsgs, size_t body_len, int fail)
{
    pthread_mutex_lock(&store.lock);
    store.nmsgs = nmsgs;
    store.body_len = body_len;
    store.fail = fail;
    pthread_mutex_unlock(&store.lock);
}

static void store_view(int view, int counted)
{
    pthread_mutex_lock(&store.lock);
    store.view = view;
    store.counted = counted;
    store.mark = 0;
    pthread_mutex_unlock(&store.lock);
}

static int store_reads(void)
{
    pthread_mutex_lock(&store.lock);
    int n = store.reads;
    pthread_mutex_unlock(&store.lock);
    return n;
}

/* ---- a loop, and the web server's side of a stream's connection */

static struct push_config *cfg; /* each test's own: the loops of tests before (CK_FORK=no) read theirs */
static struct push_hub *hub;
static struct push_loop *loop;
static char tag[PUSH_CURSOR_TAG_LEN + 1];

static int hub_max = 16; /* the hub's streams: setup_many's more */

static void setup_with(int heartbeat, int per_user)
{
    char err[256];

    static int logging;

    if (!logging++) /* once: the hubs of tests before may be logging */
        push_log_init("test_loop", PUSH_LOG_ERROR, 1);
    cfg = xcalloc(1, sizeof *cfg);
    ck_assert_int_eq(push_config_load(cfg, NULL, err, sizeof err), 0);
    cfg->heartbeat = heartbeat;
    cfg->write_timeout = 1;
    cfg->db_pool = 2;
    store_set(0, 1, 0);
    store_view(0, 0);
    /* a hub whose LISTEN connection never comes up: joins, leaves and wake-ups work without */
    hub = push_hub_start("host=/nonexistent-pgpush-test connect_timeout=1", "test_loop", hub_max, per_user);
    loop = push_loop_start(cfg, hub, NULL);
    push_loop_set_reader(loop, store_read, NULL);
    push_cursor_tag("alice", tag);
}

static void setup(void)
{
    setup_with(30, 1);
}

static void setup_beating(void) /* a heartbeat every second */
{
    setup_with(1, 1);
}

static void setup_crowd(void) /* alice may hold 8 streams */
{
    setup_with(30, 8);
}

#define MANY 600 /* streams */

static void setup_many(void) /* alice holds MANY streams, each with a heartbeat every second */
{
    signal(SIGPIPE, SIG_IGN); /* (as the programs do: the loop writes to clients that left) */
    hub_max = MANY;
    setup_with(1, MANY);
    hub_max = 16;
}

static void teardown(void)
{
}

struct peer {
    int fd;           /* the test's end */
    char out[1 << 20]; /* the stdout records' content so far */
    size_t len;
    unsigned char raw[1 << 20]; /* bytes read, not yet a whole record */
    size_t raw_len;
    int ended;        /* the END_REQUEST record came */
    int eof;          /* the loop closed the connection */
};

static struct push_loop_stream *open_stream(struct peer *p, const struct push_encoder *enc,
                                            const struct push_cursor *from, long life_ms)
{
    int sv[2];
    enum push_hub_err herr;
    struct push_loop_stream *s = push_loop_join(loop, "alice", tag, enc, NULL, &herr);

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(p, 0, sizeof *p);
    p->fd = sv[1];
    push_loop_adopt(loop, s, sv[0], REQ_ID, from, push_now_ms() + life_ms);
    return s;
}

/* A long poll of alice's from since (at most 10 messages), held until life_ms from now at most. */
static struct push_loop_stream *open_hold(struct peer *p, struct push_cursor since, long life_ms)
{
    int sv[2];
    enum push_hub_err herr;
    struct push_loop_stream *s = push_loop_join(loop, "alice", tag, &push_longpoll_encoder, NULL, &herr);

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(p, 0, sizeof *p);
    p->fd = sv[1];
    push_loop_adopt_hold(loop, s, sv[0], REQ_ID, since, 10, push_now_ms() + life_ms);
    return s;
}

/* Reads records for up to ms, until want (NULL: the end of the answer) is in the output. */
static int collect(struct peer *p, const char *want, int ms)
{
    unsigned char *raw = p->raw;
    long until = push_now_ms() + ms;
    while (!(want ? strstr(p->out, want) != NULL : p->ended) && !p->eof) {
        struct pollfd pfd = { p->fd, POLLIN, 0 };
        long left = until - push_now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return 0;
        ssize_t n = read(p->fd, raw + p->raw_len, sizeof p->raw - p->raw_len);
        if (n <= 0) {
            p->eof = 1;
            break;
        }
        p->raw_len += (size_t)n;
        size_t off = 0;
        while (p->raw_len - off >= PUSH_FCGI_HEADER_LEN) { /* whole records only */
            const unsigned char *h = raw + off;
            size_t clen = (size_t)h[4] << 8 | h[5], rec = PUSH_FCGI_HEADER_LEN + clen + h[6];
            if (p->raw_len - off < rec)
                break;
            ck_assert_int_eq(h[0], 1);                   /* FastCGI version 1 */
            ck_assert_int_eq(h[2] << 8 | h[3], REQ_ID);  /* our request's */
            if (h[1] == PUSH_FCGI_STDOUT) {
                ck_assert_uint_lt(p->len + clen, sizeof p->out);
                memcpy(p->out + p->len, h + PUSH_FCGI_HEADER_LEN, clen);
                p->len += clen;
                p->out[p->len] = '\0';
            } else if (h[1] == PUSH_FCGI_END_REQUEST) {
                p->ended = 1;
            }
            off += rec;
        }
        memmove(raw, raw + off, p->raw_len - off);
        p->raw_len -= off;
    }
    return want ? strstr(p->out, want) != NULL : p->ended;
}

static int count_of(const char *text, const char *what)
{
    int n = 0;

    for (const char *t = text; (t = strstr(t, what)); t += strlen(what))
        n++;
    return n;
}

static void wake(struct push_loop_stream *s)
{
    s->w.wake(s->w.wake_arg, NULL); /* what the hub does when a notification names alice */
}

static int wait_count(int want, int ms)
{
    long until = push_now_ms() + ms;

    while (push_loop_count(loop) != want && push_now_ms() < until)
        usleep(10000);
    return push_loop_count(loop) == want;
}

static void id_line(char *line, size_t size, int id)
{
    char cursor[PUSH_CURSOR_MAX];

    push_cursor_format(&(struct push_cursor){ id, 0 }, tag, cursor);
    snprintf(line, size, "id: %s\nevent: message", cursor);
}

/* What the hub hands a stream of alice's when a notification carried message id of the store's
 * (5 bytes of body), whose stream had prev before it. */
static void wake_carrying_for(struct push_loop_stream *s, int id, int prev, const char *user)
{
    char json[512];
    struct push_carried *m;

    snprintf(json, sizeof json, "{\"id\": \"%d\", \"prev\": \"%d\", \"r\": \"%s\", \"kind\": "
             "\"chat\", \"title\": \"t\", \"body\": \"xxxxx\", \"data\": {\"k\": 1}, "
             "\"link\": \"/inbox/1\", \"created_at\": \"2024-05-01T12:00:00.000000Z\"}", id, prev,
             user);
    m = push_json_carried_new(json, strlen(json));
    ck_assert_ptr_nonnull(m);
    s->w.wake(s->w.wake_arg, m);
    push_json_carried_put(m);
}

static void wake_carrying(struct push_loop_stream *s, int id, int prev)
{
    wake_carrying_for(s, id, prev, "alice");
}

/* ---- the tests */

START_TEST(first_read_then_every_wake_up_sends_what_is_new_once)
{
    static struct peer p;
    struct push_cursor from = { 0, 0 };
    char line[128];

    store_set(2, 5, 0);
    struct push_loop_stream *s = open_stream(&p, &push_sse_encoder, &from, 60000);
    id_line(line, sizeof line, 2);
    ck_assert_msg(collect(&p, line, 3000), "the first read's messages: %s", p.out);
    ck_assert(collect(&p, "event: unread", 3000));
    ck_assert_ptr_nonnull(strstr(p.out, "Status: 200 OK\r\n"));
    ck_assert_ptr_nonnull(strstr(p.out, "Content-Type: text/event-stream"));
    ck_assert_ptr_nonnull(strstr(p.out, "retry: "));
    store_set(3, 5, 0);
    wake(s);
    id_line(line, sizeof line, 3);
    ck_assert_msg(collect(&p, line, 3000), "a wake-up's new message: %s", p.out);
    id_line(line, sizeof line, 1);
    ck_assert_int_eq(count_of(p.out, line), 1); /* nothing sent twice */
    ck_assert_int_eq(count_of(p.out, "event: message"), 3);
    ck_assert(!p.ended);
    close(p.fd);
}
END_TEST

START_TEST(lifetime_ends_with_the_encoders_end_then_the_end_record)
{
    static struct peer p;
    struct push_cursor from = { 0, 0 };

    open_stream(&p, &push_sse_encoder, &from, 400);
    ck_assert_msg(collect(&p, NULL, 3000), "the end of the answer: %s", p.out);
    ck_assert_ptr_nonnull(strstr(p.out, "event: close\ndata: {\"reason\":\"lifetime\"}"));
    ck_assert(wait_count(0, 2000));
    collect(&p, "(the connection's end)", 1000);
    ck_assert(p.eof);
    close(p.fd);
}
END_TEST

START_TEST(heartbeats_while_nothing_happens)
{
    static struct peer p;
    struct push_cursor from = { 0, 0 };

    open_stream(&p, &push_sse_encoder, &from, 60000);
    ck_assert_msg(collect(&p, ": heartbeat\n\n", 3000), "a heartbeat: %s", p.out);
    close(p.fd);
}
END_TEST

START_TEST(a_first_read_that_fails_is_refused_so_that_eventsource_retries)
{
    static struct peer p;
    struct push_cursor from = { 0, 0 };
    const char *retry;

    store_set(1, 5, 1);
    open_stream(&p, &push_sse_encoder, &from, 60000);
    ck_assert_msg(collect(&p, NULL, 3000), "the answer: %s", p.out);
    /* EventSource gives up for good on a 503: a 200 stream, a retry, an error event */
    ck_assert_ptr_nonnull(strstr(p.out, "Status: 200 OK\r\n"));
    ck_assert_ptr_nonnull(strstr(p.out, "Content-Type: text/event-stream"));
    retry = strstr(p.out, "retry: ");
    ck_assert_ptr_nonnull(retry);
    ck_assert_int_ge(atoi(retry + 7), 5000); /* the refusal's Retry-After: 5, and jitter */
    ck_assert_int_le(atoi(retry + 7), 7500);
    ck_assert_ptr_nonnull(strstr(p.out, "event: error\ndata: {\"error\":\"database_unavailable\""));
    ck_assert_ptr_nonnull(strstr(p.out, "\"status\":503"));
    ck_assert_ptr_null(strstr(p.out, "event: unread"));
    ck_assert_ptr_null(strstr(p.out, "event: message"));
    close(p.fd);
}
END_TEST

START_TEST(a_long_poll_whose_first_read_fails_answers_503)
{
    static struct peer p;
    struct push_cursor since = { 0, 0 };

    store_set(1, 5, 1);
    open_hold(&p, since, 60000);
    ck_assert_msg(collect(&p, NULL, 3000), "the answer: %s", p.out);
    /* fetch() and pgpush.js read the status: a long poll keeps it */
    ck_assert_ptr_nonnull(strstr(p.out, "Status: 503"));
    ck_assert_ptr_nonnull(strstr(p.out, "Retry-After: 5"));
    ck_assert_ptr_nonnull(strstr(p.out, "\"database_unavailable\""));
    close(p.fd);
}
END_TEST

START_TEST(a_cursor_ahead_of_every_message_answers_400)
{
    static struct peer p;
    struct push_cursor from = { 99, 0 };

    store_set(2, 5, 0);
    open_stream(&p, &push_sse_encoder, &from, 60000);
    ck_assert_msg(collect(&p, NULL, 3000), "the answer: %s", p.out);
    ck_assert_ptr_nonnull(strstr(p.out, "Status: 400"));
    ck_assert_ptr_nonnull(strstr(p.out, "\"cursor_future\""));
    close(p.fd);
}
END_TEST

START_TEST(a_held_long_poll_is_answered_once_at_the_wake_up_that_brings_a_message)
{
    static struct peer p;
    struct push_cursor since = { 2, 0 };

    store_set(2, 5, 0);
    struct push_loop_stream *s = open_hold(&p, since, 60000);
    ck_assert(!collect(&p, NULL, 500)); /* held: nothing after since */
    ck_assert_uint_eq(p.len, 0);
    store_set(3, 5, 0);
    wake(s);
    ck_assert_msg(collect(&p, NULL, 3000), "the answer: %s", p.out);
    ck_assert_ptr_nonnull(strstr(p.out, "Status: 200 OK"));
    ck_assert_ptr_nonnull(strstr(p.out, "\"id\":\"3\""));
    ck_assert_ptr_null(strstr(p.out, "\"id\":\"2\""));
    ck_assert_ptr_nonnull(strstr(p.out, "\"timeout\":false"));
    ck_assert(wait_count(0, 2000));
    close(p.fd);
}
END_TEST

START_TEST(a_held_long_poll_answers_timeout_at_its_end)
{
    static struct peer p;
    struct push_cursor since = { 2, 0 };

    store_set(2, 5, 0);
    open_hold(&p, since, 400);
    ck_assert_msg(collect(&p, NULL, 3000), "the answer: %s", p.out);
    ck_assert_ptr_nonnull(strstr(p.out, "\"timeout\":true"));
    ck_assert_ptr_nonnull(strstr(p.out, "\"messages\":[]"));
    close(p.fd);
}
END_TEST

START_TEST(a_client_that_leaves_frees_its_place)
{
    static struct peer p;
    struct push_cursor from = { 0, 0 };
    enum push_hub_err herr;
    int streams, listening;

    open_stream(&p, &push_sse_encoder, &from, 60000);
    ck_assert(collect(&p, "event: unread", 3000));
    ck_assert_int_eq(push_loop_count(loop), 1);
    push_hub_status(hub, &streams, &listening);
    ck_assert_int_eq(streams, 1);
    ck_assert_int_eq(listening, 0); /* (this hub's LISTEN connection never comes up) */
    /* alice may hold one stream (the hub's limit here): a second is refused while it is open */
    ck_assert_ptr_null(push_loop_join(loop, "alice", tag, &push_sse_encoder, NULL, &herr));
    ck_assert_int_eq(herr, PUSH_HUB_USER_FULL);
    close(p.fd);
    ck_assert(wait_count(0, 2000));
    push_hub_status(hub, &streams, &listening);
    ck_assert_int_eq(streams, 0); /* out of the hub too */
    struct push_loop_stream *again = push_loop_join(loop, "alice", tag, &push_sse_encoder, NULL, &herr);
    ck_assert_ptr_nonnull(again);
    push_loop_abandon(loop, again);
}
END_TEST

START_TEST(a_client_that_takes_nothing_is_not_read_for_then_dropped)
{
    static struct peer p;
    struct push_cursor from = { 0, 0 };
    int small = 4096;

    store_set(40, 20000, 0); /* the first read alone: 32 messages of 20 KB */
    struct push_loop_stream *s = open_stream(&p, &push_sse_encoder, &from, 60000);
    setsockopt(p.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    usleep(300000);
    int reads = store_reads();
    for (int i = 0; i < 20; i++) { /* messages keep coming; the client reads none of them */
        store_set(41 + i, 20000, 0);
        wake(s);
        usleep(20000);
    }
    /* over PUSH_LOOP_OUT_HIGH waits: the wake-ups are noted, but nothing more is read */
    ck_assert_int_le(store_reads() - reads, 1);
    /* no progress for PUSH_WRITE_TIMEOUT (1 s): dropped, its output freed */
    ck_assert_msg(wait_count(0, 4000), "the stream is dropped");
    close(p.fd);
}
END_TEST

/* The come-back time a draining stream was given: its "retry:" line and its reconnect event's
 * must agree and lie within the spread; -1 when they are missing or disagree. */
static int come_back(const struct peer *p, int spread_ms)
{
    const char *ev = strstr(p->out, "event: reconnect\ndata: {\"reason\":\"shutdown\",\"retry\":");
    const char *line = strstr(p->out, "\n\nretry: ");
    int in_event, in_line;

    if (!ev || !line || sscanf(ev + strlen("event: reconnect\ndata: {\"reason\":\"shutdown\",\"retry\":"),
                               "%d", &in_event) != 1 || sscanf(line + 9, "%d", &in_line) != 1)
        return -1;
    if (in_event != in_line || in_event < 250 || in_event > spread_ms)
        return -1;
    return in_event;
}

START_TEST(draining_tells_every_stream_and_newcomer_to_come_back_spread_over_the_window)
{
    static struct peer p[4], hold, late;
    struct push_cursor from = { 0, 0 }, since = { 2, 0 };
    int retry[5], distinct = 0;

    store_set(2, 5, 0);
    for (int i = 0; i < 4; i++) {
        open_stream(&p[i], &push_sse_encoder, &from, 60000);
        ck_assert(collect(&p[i], "event: unread", 3000));
    }
    open_hold(&hold, since, 60000);
    ck_assert(!collect(&hold, NULL, 300)); /* held: nothing after since */
    push_loop_drain(loop, "shutdown", 3000);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(collect(&p[i], NULL, 3000), "the end of stream %d: %s", i, p[i].out);
        retry[i] = come_back(&p[i], 3000);
        ck_assert_msg(retry[i] > 0, "stream %d: retry: and the reconnect event: %s", i, p[i].out);
        ck_assert_ptr_null(strstr(p[i].out, "event: close")); /* not "reconnect at once" */
    }
    /* the held poll is answered at once, with what it holds: its client polls again */
    ck_assert_msg(collect(&hold, NULL, 3000), "the held poll's answer: %s", hold.out);
    ck_assert_ptr_nonnull(strstr(hold.out, "Status: 200 OK"));
    ck_assert_ptr_nonnull(strstr(hold.out, "\"timeout\":true"));
    /* one that comes meanwhile gets its first read, then the same */
    open_stream(&late, &push_sse_encoder, &from, 60000);
    ck_assert_msg(collect(&late, NULL, 3000), "the newcomer's answer: %s", late.out);
    ck_assert_ptr_nonnull(strstr(late.out, "event: unread"));
    retry[4] = come_back(&late, 3000);
    ck_assert_msg(retry[4] > 0, "the newcomer's reconnect: %s", late.out);
    for (int i = 0; i < 5; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= retry[j] == retry[i];
        distinct += !seen;
    }
    ck_assert_msg(distinct >= 2, "five clients told the same come-back time: %d ms", retry[0]);
    ck_assert(wait_count(0, 2000));
    for (int i = 0; i < 4; i++)
        close(p[i].fd);
    close(hold.fd);
    close(late.fd);
}
END_TEST


START_TEST(a_carried_message_next_in_its_stream_is_written_without_a_read)
{
    static struct peer p;
    struct push_cursor from = { 0, 0 };
    char line[128];

    store_set(2, 5, 0);
    store_view(1, 0);
    struct push_loop_stream *s = open_stream(&p, &push_sse_encoder, &from, 60000);
    id_line(line, sizeof line, 2);
    ck_assert_msg(collect(&p, line, 3000), "the first read: %s", p.out);
    ck_assert(collect(&p, "\"total\":2", 3000));
    usleep(100000);
    int reads = store_reads();
    store_set(3, 5, 0); /* (what a read would find) */
    wake_carrying(s, 3, 2);
    id_line(line, sizeof line, 3);
    ck_assert_msg(collect(&p, line, 3000), "the carried message: %s", p.out);
    ck_assert_msg(collect(&p, "\"total\":3", 3000), "its counts: %s", p.out);
    ck_assert_int_eq(store_reads(), reads); /* no read */
    ck_assert_int_eq(count_of(p.out, line), 1);
    /* one whose prev is not the stream's last (4 was missed): read instead, from the cursor */
    store_set(5, 5, 0);
    wake_carrying(s, 5, 4);
    id_line(line, sizeof line, 5);
    ck_assert_msg(collect(&p, line, 3000), "after a gap: %s", p.out);
    ck_assert(collect(&p, "\"total\":5", 3000));
    ck_assert_int_eq(store_reads(), reads + 1);
    id_line(line, sizeof line, 4);
    ck_assert_int_eq(count_of(p.out, line), 1); /* the missed one, from the read */
    ck_assert_int_eq(count_of(p.out, "event: message"), 5);
    /* another user's message, handed to alice's stream (the hub never does): not written; her
     * stream reads, and finds nothing new */
    wake_carrying_for(s, 6, 5, "bob");
    usleep(300000);
    ck_assert_int_eq(count_of(p.out, "event: message"), 5);
    ck_assert_int_eq(store_reads(), reads + 2);
    reads++;
    /* one the stream has already (a read brought it): skipped */
    wake_carrying(s, 5, 4);
    usleep(300000);
    ck_assert_int_eq(count_of(p.out, "event: message"), 5);
    ck_assert_int_eq(store_reads(), reads + 1);
    close(p.fd);
}
END_TEST

START_TEST(counts_read_past_the_position_are_not_trusted_for_the_next_carried_message)
{
    static struct peer p;
    struct push_cursor from = { 0, 0 };
    char line[128];

    store_set(2, 5, 0);
    store_view(1, 0);
    struct push_loop_stream *s = open_stream(&p, &push_sse_encoder, &from, 60000);
    ck_assert(collect(&p, "\"total\":2", 3000));
    /* a read whose counts saw message 3, which committed after its messages' statement */
    store_view(1, 3);
    wake(s);
    ck_assert_msg(collect(&p, "\"total\":3", 3000), "the read's counts: %s", p.out);
    usleep(100000);
    int reads = store_reads();
    /* 3's wake-up: the next of the stream, but the counts hold it already: read, not +1 */
    store_set(3, 5, 0);
    store_view(1, 0);
    wake_carrying(s, 3, 2);
    id_line(line, sizeof line, 3);
    ck_assert_msg(collect(&p, line, 3000), "message 3: %s", p.out);
    usleep(300000);
    ck_assert_int_eq(store_reads(), reads + 1);
    ck_assert_int_eq(count_of(p.out, line), 1);
    ck_assert_msg(count_of(p.out, "\"total\":4") == 0, "counted twice: %s", p.out);
    /* that read proved the counts again: the next one is carried */
    store_set(4, 5, 0);
    wake_carrying(s, 4, 3);
    ck_assert(collect(&p, "\"total\":4", 3000));
    ck_assert_int_eq(store_reads(), reads + 1);
    /* a read-state watermark at or above the next id (marked up to a cursor ahead): whether it is
     * read is the tables' to say, so it reads */
    pthread_mutex_lock(&store.lock);
    store.mark = 6;
    pthread_mutex_unlock(&store.lock);
    wake(s);
    usleep(300000);
    store_set(5, 5, 0);
    wake_carrying(s, 5, 4);
    id_line(line, sizeof line, 5);
    ck_assert_msg(collect(&p, line, 3000), "message 5: %s", p.out);
    usleep(200000);
    ck_assert_int_eq(store_reads(), reads + 3);
    close(p.fd);
}
END_TEST

START_TEST(a_held_long_poll_is_answered_by_a_carried_message_without_a_read)
{
    static struct peer p;

    store_set(2, 5, 0);
    store_view(1, 0);
    struct push_loop_stream *s = open_hold(&p, (struct push_cursor){ 2, 0 }, 20000);
    usleep(300000); /* its first read: nothing after 2, held */
    int reads = store_reads();
    ck_assert(!p.ended);
    store_set(3, 5, 0);
    wake_carrying(s, 3, 2);
    ck_assert_msg(collect(&p, NULL, 3000), "answered: %s", p.out);
    ck_assert_int_eq(store_reads(), reads);
    ck_assert_ptr_nonnull(strstr(p.out, "\"messages\":[{\"id\":\"3\""));
    ck_assert_ptr_nonnull(strstr(p.out, "\"unread\":{\"total\":3,\"by_kind\":{\"chat\":3}}"));
    ck_assert_ptr_nonnull(strstr(p.out, "\"more\":false,\"timeout\":false}"));
    close(p.fd);
}
END_TEST


/* Every one of many streams gets its heartbeats from the scan, and those that leave meanwhile
 * (every third, closed by its client) are dropped without breaking the scan's walk. */
START_TEST(every_stream_of_many_gets_its_heartbeats)
{
    static int fd[MANY];
    static int beats[MANY];
    struct push_cursor from = { 0, 0 };
    long until;
    int missing = MANY;

    for (int i = 0; i < MANY; i++) {
        int sv[2];
        enum push_hub_err herr;
        struct push_loop_stream *s = push_loop_join(loop, "alice", tag, &push_sse_encoder, NULL, &herr);
        ck_assert_msg(s != NULL, "stream %d joined (%d)", i, herr);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        fd[i] = sv[1];
        fcntl(fd[i], F_SETFL, O_NONBLOCK);
        push_loop_adopt(loop, s, sv[0], REQ_ID, &from, push_now_ms() + 60000);
    }
    ck_assert(wait_count(MANY, 5000));
    for (int i = 0; i < MANY; i += 3) { /* gone: the loop drops them, some midway through a round */
        close(fd[i]);
        fd[i] = -1;
        beats[i] = 2;
        missing--;
    }
    until = push_now_ms() + 8000;
    while (missing > 0 && push_now_ms() < until) {
        for (int i = 0; i < MANY; i++) {
            char buf[4096];
            ssize_t n;
            while (fd[i] >= 0 && (n = read(fd[i], buf, sizeof buf)) > 0)
                if (beats[i] < 2 && memmem(buf, (size_t)n, ": heartbeat", 11) && ++beats[i] == 2)
                    missing--; /* (two: one each of two rounds at least) */
        }
        usleep(20000);
    }
    ck_assert_msg(missing == 0, "%d of %d streams had fewer than two heartbeats", missing, MANY);
    ck_assert(wait_count(MANY - (MANY + 2) / 3, 5000));
    for (int i = 0; i < MANY; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    ck_assert(wait_count(0, 5000));
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");
    TCase *beats = tcase_create("heartbeats");
    TCase *crowd = tcase_create("crowd");
    TCase *many = tcase_create("many");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, first_read_then_every_wake_up_sends_what_is_new_once);
    tcase_add_test(tc, lifetime_ends_with_the_encoders_end_then_the_end_record);
    tcase_add_test(tc, a_first_read_that_fails_is_refused_so_that_eventsource_retries);
    tcase_add_test(tc, a_long_poll_whose_first_read_fails_answers_503);
    tcase_add_test(tc, a_cursor_ahead_of_every_message_answers_400);
    tcase_add_test(tc, a_held_long_poll_is_answered_once_at_the_wake_up_that_brings_a_message);
    tcase_add_test(tc, a_held_long_poll_answers_timeout_at_its_end);
    tcase_add_test(tc, a_client_that_leaves_frees_its_place);
    tcase_add_test(tc, a_client_that_takes_nothing_is_not_read_for_then_dropped);
    tcase_add_test(tc, a_carried_message_next_in_its_stream_is_written_without_a_read);
    tcase_add_test(tc, counts_read_past_the_position_are_not_trusted_for_the_next_carried_message);
    tcase_add_test(tc, a_held_long_poll_is_answered_by_a_carried_message_without_a_read);
    suite_add_tcase(s, tc);
    tcase_set_timeout(beats, 30);
    tcase_add_checked_fixture(beats, setup_beating, teardown);
    tcase_add_test(beats, heartbeats_while_nothing_happens);
    suite_add_tcase(s, beats);
    tcase_set_timeout(crowd, 30);
    tcase_add_checked_fixture(crowd, setup_crowd, teardown);
    tcase_add_test(crowd, draining_tells_every_stream_and_newcomer_to_come_back_spread_over_the_window);
    suite_add_tcase(s, crowd);
    tcase_set_timeout(many, 30);
    tcase_add_checked_fixture(many, setup_many, teardown);
    tcase_add_test(many, every_stream_of_many_gets_its_heartbeats);
    suite_add_tcase(s, many);
    return s;
}

UNIT_MAIN(loop_suite)
