/* push-load.c: load generator for push-sse, push-longpoll and push-ws: thousands of HTTP/1.1 clients on one
 * epoll loop, libpq publishers, INSERT-to-event latency; also the PostgreSQL floor (--floor), and
 * the same load against Nchan (--target nchan: HTTP POST publishers) for bench/compare.sh
 *
 * One process. The clients (users u0..u{N-1}, one connection each, signed tokens minted with
 * push_token_sign()) run on the main thread: non-blocking sockets, level-triggered epoll, an
 * incremental HTTP/1.1 parser (Content-Length, chunked, close-delimited) and an SSE parser. When
 * every connection is ready, P publisher threads INSERT into push.message at the total rate R,
 * each message carrying {"t_ns": CLOCK_REALTIME before the INSERT, "seq": unique}; the clients take
 * t_ns and seq out of each event and record now - t_ns. Prints one markdown table row.
 *
 * --target nchan: the same clients subscribe to Nchan's /sub/u{i} (EventSource, or long polling that
 * re-polls with the Last-Modified and Etag of the previous answer as If-Modified-Since and
 * If-None-Match), and the publisher threads POST {"data":{"t_ns":...,"seq":...}} to /pub/u{i} over
 * keep-alive connections; lost and duplicate messages are counted by seq exactly as for pgpush.
 * --flood M publishes M messages as fast as the publishers can (throughput); --multirow puts them in
 * one multi-row INSERT.
 *
 * A client refused for now comes back when told, as EventSource does: a 503 or 429 with Retry-After
 * (after it, plus up to half as much again at random), and push-sse's 200 refusal stream (retry:,
 * then event: error with the status) after its retry:. Such a client counts as retried, not failed.
 * For storms (--connect-rate), the report also says how many were served, failed by cause and
 * retried, when the last was served, and p50/p99 from each client's first connect to its first
 * event. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/push_token.h"

#define MODE_SSE 0
#define MODE_LP 1
#define MODE_WS 2 /* push-ws: the upgrade, then RFC 6455 frames (text events, pings answered) */
#define TARGET_PGPUSH 0
#define TARGET_NCHAN 1
#define RECV_BUF (256 * 1024)
#define BODY_KEEP 512 /* bytes of an error answer kept for the report */

static const char usage_text[] =
    "Usage: push-load --url http://127.0.0.1:PORT/PATH [options]\n"
    "       push-load --floor [--rate R] [--duration S]\n"
    "       push-load --floor-load [--rate R] [--duration S] [--publishers P] [--users N]\n"
    "       push-load --header\n"
    "\n"
    "Load generator for pgpush's push-sse and push-longpoll. Opens one HTTP/1.1 connection per user\n"
    "(u0..u{N-1}, tokens signed with PUSH_TOKEN_SECRET), waits until all are ready, then publishes\n"
    "with INSERT INTO push.message from P libpq connections (database from the PG* variables) and\n"
    "measures INSERT-to-arrival latency. Prints one markdown table row on stdout, details on stderr.\n"
    "\n"
    "  --url URL            http://127.0.0.1:PORT/PATH of push-sse or push-longpoll (loopback only)\n"
    "  --users N            users and connections (default 100)\n"
    "  --user-prefix P      their names: P0..P{N-1} (default u; 1 to 8 lower-case letters), so that\n"
    "                       several push-loads can share a site without sharing users\n"
    "  --mode sse|longpoll|ws  transport (default sse)\n"
    "  --rate R             messages per second, all publishers together (default 1000)\n"
    "  --duration S         seconds of publishing (default 10)\n"
    "  --publishers P       publishing connections, one thread each (default 4)\n"
    "  --broadcast          publish one message to everyone (recipient NULL) instead, and report\n"
    "                       when each connection had it and deliveries/s = N / time to the last\n"
    "  --connect-rate C     new connections per second while ramping up (default 2000)\n"
    "                       A 503 or 429 with Retry-After, or push-sse's 200 refusal stream (retry:,\n"
    "                       event: error), is retried after that time (Retry-After: plus up to half\n"
    "                       as much at random): counted as retried, not failed. Reported on stderr:\n"
    "                       clients ready, failed by cause (HTTP status, connection, not ready in\n"
    "                       time), retried; when the last got ready; p50/p99 from each client's\n"
    "                       first connect to its first event (Nchan long polls: all counted in\n"
    "                       nchan_status instead)\n"
    "  --wait S             seconds to wait for stragglers after publishing (default 10)\n"
    "  --ready-timeout S    give up waiting for all connections after S s (default 120)\n"
    "  --stall S            or when none became ready for S s after all were opened and no refused\n"
    "                       one waits to come back (default 15); the missing ones count as failed\n"
    "  --lp-timeout S       long poll ?timeout= (default 25)\n"
    "  --on-ready CMD       run CMD (sh -c) once all connections are ready, before publishing\n"
    "  --label TEXT         first column of the row (default: the mode)\n"
    "  --header             print the table header first (alone: print it and exit)\n"
    "  --per-second         also print p50/p99/max of the messages sent in each second (stderr)\n"
    "  --verify-db ROLE     the truth is the database: after publishing, read back as ROLE (one\n"
    "                       that may read push.message) which of this run's messages it holds (a\n"
    "                       fresh connection, PG* variables, so that PGTARGETSESSIONATTRS=\n"
    "                       read-write finds a new primary), and count sent\n"
    "                       and lost against those; also report messages acknowledged to the\n"
    "                       publisher but missing, and received but missing (both what a failover\n"
    "                       with asynchronous replication can lose). A publisher whose connection\n"
    "                       breaks reconnects (PQreset) and goes on; its INSERT in flight, with no\n"
    "                       answer, is settled by the read-back\n"
    "  --floor              no HTTP: LISTEN pgpush on one connection, INSERT on another, and time\n"
    "                       INSERT to notification (PostgreSQL's own latency floor), one INSERT\n"
    "                       at a time\n"
    "  --floor-load         the same floor under a scenario's publishing: P publishers at R/s\n"
    "                       together (as in a scenario), each INSERT to one of N users\n"
    "                       pgpush-floor-{i} in turn (default 1000), one LISTEN connection; each\n"
    "                       notification is matched to its INSERT by the user it names\n"
    "  --target nchan       subscribe to Nchan instead: URL is http://127.0.0.1:PORT[/PREFIX];\n"
    "                       clients GET PREFIX/sub/u{i} (broadcast: PREFIX/sub/all), publishers POST\n"
    "                       to PREFIX/pub/u{i}; all subscribers are counted in PREFIX/nchan_status\n"
    "                       before publishing. No PostgreSQL, no token.\n"
    "  --flood M            publish M messages as fast as possible instead of --rate for --duration;\n"
    "                       deliveries/s = M / (last arrival - publishing start)\n"
    "  --multirow           (pgpush, with --flood) all M messages in one multi-row INSERT\n"
    "  --help               this text\n";

static struct {
    char host[64];
    int port;
    char path[1024];
    int users, mode, publishers, broadcast, floor, floor_load, header;
    double rate, duration, connect_rate, wait_s, ready_timeout, stall_s;
    int lp_timeout, per_second;
    const char *on_ready, *label, *url, *prefix, *verify_db; /* verify_db: the role reading back */
    int target, multirow;
    int64_t flood;
} opt = { .users = 100, .mode = MODE_SSE, .publishers = 4, .rate = 1000, .duration = 10,
          .connect_rate = 2000, .wait_s = 10, .ready_timeout = 120, .stall_s = 15, .lp_timeout = 25, .prefix = "u" };

static const char header_row[] =
    "| scenario | streams | msg/s | sent | received | lost | dup | p50 ms | p90 ms | p99 ms "
    "| max ms | failed | reconn | ramp-up s | deliveries/s |\n"
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";

static const char insert_sql[] =
    "INSERT INTO push.message (recipient, title, data) VALUES ($1, 'bench', "
    "jsonb_build_object('t_ns', $2::bigint, 'seq', $3::bigint))";

/* ------------------------------------------------------------------ small things */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("push-load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("# ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static int64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static int64_t real_ns(void) { return clock_ns(CLOCK_REALTIME); }

static void sleep_until(int64_t mono)
{
    struct timespec ts = { mono / 1000000000, mono % 1000000000 };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(b->p = realloc(b->p, cap)))
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* the q-quantile of n sorted values, in ms (nearest rank) */
static double quantile_ms(const int64_t *v, size_t n, double q)
{
    size_t i;

    if (!n)
        return 0;
    i = (size_t)(q * (double)n + 0.999999);
    if (i < 1)
        i = 1;
    if (i > n)
        i = n;
    return (double)v[i - 1] / 1e6;
}

/* ------------------------------------------------------------------ publishing (threads) */

static PGconn *pg_connect(const char *appname)
{
    const char *keys[] = { "application_name", "dbname", NULL };
    const char *vals[] = { appname, NULL, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);

    if (PQstatus(c) != CONNECTION_OK)
        die("cannot connect to PostgreSQL (PG* variables): %s", PQerrorMessage(c));
    return c;
}

/* one INSERT; recipient NULL means everyone; returns 0 or -1 */
static int publish(PGconn *pg, const char *recipient, int64_t t_ns, int64_t seq, char *err,
                   size_t errlen)
{
    char t[32], s[32];
    const char *params[3] = { recipient, t, s };
    PGresult *res;
    int ok;

    snprintf(t, sizeof t, "%" PRId64, t_ns);
    snprintf(s, sizeof s, "%" PRId64, seq);
    res = PQexecParams(pg, insert_sql, 3, NULL, params, NULL, NULL, 0);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok && err)
        snprintf(err, errlen, "%s", PQerrorMessage(pg));
    PQclear(res);
    return ok ? 0 : -1;
}

/* --- Nchan: blocking HTTP/1.1 over a keep-alive connection (publishers, the status page) */

static struct sockaddr_in server_addr;

static int hc_connect(void)
{
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request on *fd (connected on demand; reconnected once if the server had closed it). The
 * status, and up to outlen - 1 bytes of the body in out (may be NULL); -1 on failure. */
static int hc_request(int *fd, const char *req, size_t reqlen, char *out, size_t outlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        char head[8192];
        size_t hl = 0;
        int reused = *fd >= 0;
        if (*fd < 0 && (*fd = hc_connect()) < 0)
            return -1;
        size_t off = 0;
        while (off < reqlen) {
            ssize_t n = send(*fd, req + off, reqlen - off, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        char *end = NULL;
        if (off == reqlen) {
            while (hl < sizeof head - 1) {
                ssize_t n = recv(*fd, head + hl, sizeof head - 1 - hl, 0);
                if (n <= 0)
                    break;
                hl += (size_t)n;
                head[hl] = '\0';
                if ((end = strstr(head, "\r\n\r\n")))
                    break;
            }
        }
        if (!end) {
            close(*fd);
            *fd = -1;
            if (reused && hl == 0)
                continue; /* a keep-alive connection the server had closed */
            return -1;
        }
        int status = 0, minor = 1;
        if (sscanf(head, "HTTP/1.%d %d", &minor, &status) != 2) {
            close(*fd);
            *fd = -1;
            return -1;
        }
        int64_t len = -1;
        int keep = minor == 1;
        for (char *p = head; (p = strstr(p, "\r\n")) && p < end; ) {
            p += 2;
            if (strncasecmp(p, "content-length:", 15) == 0)
                len = strtoll(p + 15, NULL, 10);
            else if (strncasecmp(p, "connection:", 11) == 0 && strstr(p, "close") && strstr(p, "close") < strstr(p, "\r\n"))
                keep = 0;
        }
        size_t have = hl - (size_t)(end + 4 - head), got = 0;
        const char *body = end + 4;
        if (out && outlen)
            out[0] = '\0';
        for (;;) {
            if (out && got + 1 < outlen) {
                size_t m = have < outlen - 1 - got ? have : outlen - 1 - got;
                memcpy(out + got, body, m);
                got += m;
                out[got] = '\0';
            }
            if (len >= 0)
                len -= (int64_t)have;
            if (len == 0)
                break;
            ssize_t n = recv(*fd, head, sizeof head, 0);
            if (n <= 0) {
                keep = 0;
                if (len < 0)
                    break; /* close-delimited */
                close(*fd);
                *fd = -1;
                return -1;
            }
            have = (size_t)n;
            body = head;
        }
        if (!keep) {
            close(*fd);
            *fd = -1;
        }
        return status;
    }
    return -1;
}

/* POST {"data":{"t_ns":T,"seq":S}} to PREFIX/pub/CHANNEL; 0 or -1 */
static int nchan_publish(int *fd, const char *channel, int64_t t_ns, int64_t seq, char *err, size_t errlen)
{
    char body[128], req[1536];
    int bl = snprintf(body, sizeof body, "{\"data\":{\"t_ns\":%" PRId64 ",\"seq\":%" PRId64 "}}", t_ns, seq);
    int n = snprintf(req, sizeof req,
                     "POST %s/pub/%s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "Accept: text/plain\r\nContent-Length: %d\r\n\r\n%s",
                     opt.path, channel, opt.host, opt.port, bl, body);
    int status = hc_request(fd, req, (size_t)n, NULL, 0);

    if (status >= 200 && status < 300)
        return 0;
    if (err)
        snprintf(err, errlen, "POST %.100s/pub/%.40s: %s %d", opt.path, channel,
                 status < 0 ? "failed" : "HTTP", status);
    return -1;
}

/* PREFIX/nchan_status's "subscribers: N", or -1 */
static long nchan_subscribers(void)
{
    char req[512], out[4096];
    int fd = -1;
    int n = snprintf(req, sizeof req, "GET %s/nchan_status HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n",
                     opt.path, opt.host, opt.port);
    int status = hc_request(&fd, req, (size_t)n, out, sizeof out);
    if (fd >= 0)
        close(fd);
    const char *p = status == 200 ? strstr(out, "subscribers:") : NULL;
    return p ? strtol(p + 12, NULL, 10) : -1;
}

static struct {
    int *fds;             /* --target nchan: one keep-alive connection per publisher */
    PGconn **conns;
    int64_t total;        /* messages to publish */
    int64_t next;         /* next index to take (atomic) */
    int64_t start_mono;   /* publishing starts */
    int64_t start_real;   /* the same, CLOCK_REALTIME */
    int64_t sent, errors; /* atomic */
    int *targets;         /* users that are ready: recipients are drawn from these */
    int ntargets;
    int32_t *owner;       /* per seq: the recipient's user index, -1 unused, -2 failed insert */
    uint8_t *acked;       /* per seq: the INSERT was answered with success */
    int64_t unanswered;   /* INSERTs whose connection broke before the answer (atomic) */
    int running;          /* publisher threads still running (atomic) */
    int64_t end_mono;     /* when the last one ended */
    char first_error[256];
} pub;

struct pub_arg {
    int index;
};

/* PQreset until the connection is back (its conninfo and the PG* variables: a multi-host string
 * with target_session_attrs=read-write finds the new primary), every 100 ms, for at most 60 s. */
static void reconnect(PGconn *pg)
{
    for (int i = 0; i < 600 && PQstatus(pg) != CONNECTION_OK; i++) {
        PQreset(pg);
        if (PQstatus(pg) != CONNECTION_OK)
            sleep_until(mono_ns() + 100000000);
    }
}

static void *publisher_main(void *p)
{
    struct pub_arg *a = p;
    PGconn *pg = pub.conns ? pub.conns[a->index] : NULL;
    uint64_t rnd = 0x9e3779b97f4a7c15ULL * (uint64_t)(a->index + 1) ^ (uint64_t)real_ns();
    char err[256], recipient[32];

    for (;;) {
        int64_t k = __atomic_fetch_add(&pub.next, 1, __ATOMIC_RELAXED);
        if (k >= pub.total)
            break;
        if (!opt.flood)
            sleep_until(pub.start_mono + (int64_t)((double)k * 1e9 / opt.rate));
        int64_t seq = k + 1;
        const char *to = NULL;
        int user = -3;
        if (!opt.broadcast) {
            rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
            user = pub.targets[rnd % (uint64_t)pub.ntargets];
            snprintf(recipient, sizeof recipient, "%s%d", opt.prefix, user);
            to = recipient;
        }
        __atomic_store_n(&pub.owner[seq], user, __ATOMIC_RELEASE);
        int rc = opt.target == TARGET_NCHAN
                     ? nchan_publish(&pub.fds[a->index], to ? to : "all", real_ns(), seq, err, sizeof err)
                     : publish(pg, to, real_ns(), seq, err, sizeof err);
        if (rc == 0) {
            pub.acked[seq] = 1;
            __atomic_fetch_add(&pub.sent, 1, __ATOMIC_RELAXED);
        } else if (pg && PQstatus(pg) != CONNECTION_OK) {
            /* the connection broke (a server gone, a failover): whether this one committed, only
             * the database can say (--verify-db reads it back); its owner stays, so that a
             * delivery of it is not taken for a misrouted one. Then reconnect and go on. */
            __atomic_fetch_add(&pub.unanswered, 1, __ATOMIC_RELAXED);
            if (__atomic_fetch_add(&pub.errors, 1, __ATOMIC_RELAXED) == 0)
                snprintf(pub.first_error, sizeof pub.first_error, "%.*s",
                         (int)strcspn(err, "\n"), err);
            reconnect(pg);
        } else {
            __atomic_store_n(&pub.owner[seq], -2, __ATOMIC_RELEASE);
            if (__atomic_fetch_add(&pub.errors, 1, __ATOMIC_RELAXED) == 0)
                snprintf(pub.first_error, sizeof pub.first_error, "%.*s",
                         (int)strcspn(err, "\n"), err);
        }
    }
    /* the end time first (the latest of all threads), then the count the main loop waits on */
    int64_t end = mono_ns(), seen = __atomic_load_n(&pub.end_mono, __ATOMIC_RELAXED);
    while (seen < end && !__atomic_compare_exchange_n(&pub.end_mono, &seen, end, 0, __ATOMIC_RELEASE,
                                                      __ATOMIC_RELAXED))
        ;
    __atomic_sub_fetch(&pub.running, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

/* --multirow: every message in one INSERT ... SELECT FROM unnest(recipients, seqs) */
static void *multirow_main(void *unused)
{
    struct buf r = { 0 }, q = { 0 };
    uint64_t rnd = 0x9e3779b97f4a7c15ULL ^ (uint64_t)real_ns();
    char item[48], t[32];

    (void)unused;
    buf_add(&r, "{", 1);
    buf_add(&q, "{", 1);
    for (int64_t seq = 1; seq <= pub.total; seq++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        int user = pub.targets[rnd % (uint64_t)pub.ntargets];
        pub.owner[seq] = user;
        int n = snprintf(item, sizeof item, "%s%s%d", seq > 1 ? "," : "", opt.prefix, user);
        buf_add(&r, item, (size_t)n);
        n = snprintf(item, sizeof item, "%s%" PRId64, seq > 1 ? "," : "", seq);
        buf_add(&q, item, (size_t)n);
    }
    buf_add(&r, "}", 1);
    buf_add(&q, "}", 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    sleep_until(pub.start_mono);
    snprintf(t, sizeof t, "%" PRId64, real_ns());
    const char *params[3] = { t, r.p, q.p };
    PGresult *res = PQexecParams(pub.conns[0],
                                 "INSERT INTO push.message (recipient, title, data) SELECT x.r, 'bench', "
                                 "jsonb_build_object('t_ns', $1::bigint, 'seq', x.s) "
                                 "FROM unnest($2::text[], $3::bigint[]) AS x(r, s)",
                                 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        memset(pub.acked, 1, (size_t)pub.total + 1);
        __atomic_store_n(&pub.sent, pub.total, __ATOMIC_RELEASE);
    } else {
        pub.errors = pub.total;
        snprintf(pub.first_error, sizeof pub.first_error, "%.*s",
                 (int)strcspn(PQerrorMessage(pub.conns[0]), "\n"), PQerrorMessage(pub.conns[0]));
    }
    PQclear(res);
    free(r.p);
    free(q.p);
    pub.end_mono = mono_ns();
    __atomic_sub_fetch(&pub.running, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static void publishers_start(void)
{
    pthread_attr_t attr;

    pub.start_mono = mono_ns() + 1000000; /* 1 ms from now */
    pub.start_real = real_ns() + 1000000;
    if (opt.multirow) {
        pthread_t t;
        pub.running = 1;
        if (pthread_create(&t, NULL, multirow_main, NULL) != 0)
            die("cannot start the publisher thread");
        pthread_detach(t);
        return;
    }
    pub.running = opt.publishers;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < opt.publishers; i++) {
        struct pub_arg *a = calloc(1, sizeof *a);
        pthread_t t;
        a->index = i;
        if (pthread_create(&t, &attr, publisher_main, a) != 0)
            die("cannot start a publisher thread");
    }
    pthread_attr_destroy(&attr);
}

/* ------------------------------------------------------------------ clients */

enum pstate { P_HEAD, P_CHUNK_SIZE, P_CHUNK_EXT, P_CHUNK_DATA, P_CHUNK_CRLF, P_TRAILER, P_LEN, P_EOF, P_WS };

struct conn {
    int fd;
    int user;
    int connecting;
    int ready, failed, gone;      /* gone: given up on, not retried */
    int phase;                    /* long poll: 0 the first GET (no since), 1 polling */
    int requests_on_fd;           /* requests sent on this connection */
    int64_t retry_at;             /* mono ns; 0 = no reconnect pending */
    int64_t first_start;          /* mono ns of the first connect (retries after it included) */
    int retry_after;              /* the answer's Retry-After, in seconds (0: none) */
    int sse_retry_ms;             /* SSE: the last retry: field */
    int refused;                  /* SSE: the status of an error event in a 200 refusal stream */
    struct buf out;
    size_t out_off;
    /* response */
    struct buf head;
    enum pstate ps;
    int status, chunked, close_after, head_seen;
    int64_t left;                 /* content-length or chunk bytes left */
    int trailer_line;             /* bytes in the current trailer line */
    struct buf body;              /* long-poll answer, or the start of an error answer */
    /* SSE */
    struct buf line;
    struct buf data;
    char event[24];
    char last_id[80];
    /* long poll */
    char cursor[80];
    char last_modified[64], etag[64]; /* Nchan: of the last answer, sent back on the next poll */
    /* broadcast */
    int64_t bcast_ns;
};

static struct conn *conns;
static int epfd;
static char **tokens;
static int64_t now_real; /* CLOCK_REALTIME at the last recv(): the arrival time of what it read */

static struct {
    int started, ready, failed, retries_pending;
    int64_t reconnects, lp_reopens, heartbeats, events, answers;
    int64_t received, duplicates, stale, misrouted, foreign;
    int64_t *lat;
    uint8_t *got;
    int64_t *lat_by_seq; /* --per-second: latency per seq (0: not received) */
    uint8_t *in_db;      /* --verify-db: per seq, the database holds it (for its owner) */
    int64_t in_db_count, received_in_db, in_db_foreign;
    int64_t max_seq;
    int64_t run_start_real;
    int64_t last_arrival; /* CLOCK_REALTIME of the last new message (--flood) */
    int publishing;
    int bcast_got;
    int status_count[600];
    char first_fail[BODY_KEEP + 64];
    /* the storm: when each connection got ready, and what happened to those that did not */
    int64_t *ready_lat;           /* per ready connection: first connect to its first event, ns */
    int64_t last_ready;           /* mono ns when the last one got ready */
    int64_t nchan_all_held;       /* Nchan long polls: mono ns when nchan_status counted all */
    int retried, retried_http[600], retried_stream;
    int fail_http[600], fail_conn, fail_timeout;
} st;

static void conn_start(struct conn *c);

/* --verify-db: which of this run's messages the database holds, each for the user it was published
 * to (st.in_db), read on a fresh connection as opt.verify_db; tried for up to 60 s (the database may
 * be between two primaries). Blocks the clients' loop meanwhile: the kernel buffers their input. */
static void verify_db_read(void)
{
    char re[32], since[32];
    const char *keys[] = { "application_name", "user", "dbname", NULL };
    const char *vals[] = { "push-load verify", opt.verify_db, NULL, NULL };
    const char *params[2] = { re, since };
    PGresult *res = NULL;

    snprintf(re, sizeof re, "^%s[0-9]+$", opt.prefix);
    snprintf(since, sizeof since, "%" PRId64, st.run_start_real);
    for (int i = 0; i < 600 && !res; i++) {
        PGconn *c = PQconnectdbParams(keys, vals, 1);
        if (PQstatus(c) == CONNECTION_OK) {
            res = PQexecParams(c, "SELECT (data->>'seq')::bigint, recipient FROM push.message "
                                  "WHERE title = 'bench' AND recipient ~ $1 "
                                  "AND (data->>'t_ns')::bigint >= $2::bigint",
                               2, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                note("--verify-db: %.*s", (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
                PQclear(res);
                res = NULL;
            }
        }
        PQfinish(c);
        if (!res)
            sleep_until(mono_ns() + 100000000);
    }
    if (!res)
        die("--verify-db: cannot read this run's messages back (PG* variables, role %s)", opt.verify_db);
    if (!(st.in_db = calloc((size_t)pub.total + 1, 1)))
        abort();
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t seq = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        char want[32];
        if (seq < 1 || seq > pub.total || st.in_db[seq])
            continue;
        snprintf(want, sizeof want, "%s%d", opt.prefix, pub.owner[seq]);
        if (pub.owner[seq] < 0 || strcmp(want, PQgetvalue(res, r, 1)) != 0) {
            st.in_db_foreign++; /* not for the user it was published to: never expected */
            continue;
        }
        st.in_db[seq] = 1;
        st.in_db_count++;
        if (st.got[seq])
            st.received_in_db++;
    }
    PQclear(res);
}

static void ep_mod(struct conn *c, uint32_t ev)
{
    struct epoll_event e = { .events = ev, .data.ptr = c };

    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->connecting = 0;
    c->out.len = c->out_off = 0;
    c->head.len = 0;
    c->body.len = 0;
    c->line.len = 0;
    c->data.len = 0;
    c->event[0] = '\0';
}

/* The connection has its first event (the stream is open, the poll answered or held). */
static void conn_ready(struct conn *c)
{
    if (c->ready)
        return;
    c->ready = 1;
    st.last_ready = mono_ns();
    st.ready_lat[st.ready++] = st.last_ready - c->first_start;
}

/* A connection that never got ready is counted as failed and not retried; by cause: the HTTP
 * status of its answer ("HTTP NNN ..."), not ready in time, or the connection itself. */
static void conn_fail(struct conn *c, const char *why)
{
    if (!c->failed && !c->ready) {
        int status = 0;
        c->failed = 1;
        st.failed++;
        if (!st.first_fail[0])
            snprintf(st.first_fail, sizeof st.first_fail, "%s%d: %s", opt.prefix, c->user, why);
        if (sscanf(why, "HTTP %d", &status) == 1 && status > 0 && status < 600)
            st.fail_http[status]++;
        else if (strcmp(why, "not ready in time") == 0)
            st.fail_timeout++;
        else
            st.fail_conn++;
    }
    c->gone = 1;
    conn_close(c);
}

/* Something went wrong on a ready connection: reconnect after delay_ms (counted). */
static void conn_retry(struct conn *c, int delay_ms, const char *why)
{
    if (!c->ready) {
        conn_fail(c, why);
        return;
    }
    st.reconnects++;
    conn_close(c);
    c->retry_at = mono_ns() + (int64_t)delay_ms * 1000000;
    st.retries_pending++;
}

/* ms plus up to half as much again at random, as push-sse spreads its refusals' retry: (so that
 * a crowd refused together does not come back together) */
static int jittered(int ms)
{
    static uint64_t x = 0x2545f4914f6cdd1dULL;

    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return ms + (int)(x % (uint64_t)(ms / 2 + 1));
}

/* A temporary refusal that says when to come back: 503 or 429 with Retry-After (status), or
 * push-sse's 200 refusal stream with its retry: (status 0). The client comes back after delay_ms,
 * as EventSource does after retry:; counted as retried, not failed (README, push-sse). */
static void conn_refused(struct conn *c, int status, int delay_ms, const char *why)
{
    if (c->ready) {
        conn_retry(c, delay_ms, why);
        return;
    }
    st.retried++;
    if (status)
        st.retried_http[status]++;
    else
        st.retried_stream++;
    conn_close(c);
    c->retry_at = mono_ns() + (int64_t)delay_ms * 1000000;
    st.retries_pending++;
}

static void queue_request(struct conn *c)
{
    char req[2048];
    int n;

    if (opt.target == TARGET_NCHAN) {
        char channel[32];
        if (opt.broadcast)
            snprintf(channel, sizeof channel, "all");
        else
            snprintf(channel, sizeof channel, "u%d", c->user);
        if (opt.mode == MODE_SSE)
            n = snprintf(req, sizeof req,
                         "GET %s/sub/%s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                         "Cache-Control: no-cache\r\n%s%s%s\r\n",
                         opt.path, channel, opt.host, opt.port, c->last_id[0] ? "Last-Event-ID: " : "",
                         c->last_id, c->last_id[0] ? "\r\n" : "");
        else if (c->etag[0] || c->last_modified[0])
            n = snprintf(req, sizeof req,
                         "GET %s/sub/%s HTTP/1.1\r\nHost: %s:%d\r\nAccept: */*\r\n"
                         "If-Modified-Since: %s\r\nIf-None-Match: %s\r\n\r\n",
                         opt.path, channel, opt.host, opt.port, c->last_modified, c->etag);
        else
            n = snprintf(req, sizeof req, "GET %s/sub/%s HTTP/1.1\r\nHost: %s:%d\r\nAccept: */*\r\n\r\n",
                         opt.path, channel, opt.host, opt.port);
    } else if (opt.mode == MODE_WS) {
        n = snprintf(req, sizeof req,
                     "GET %s?token=%s%s%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     opt.path, tokens[c->user], c->last_id[0] ? "&since=" : "", c->last_id, opt.host,
                     opt.port);
    } else if (opt.mode == MODE_SSE) {
        n = snprintf(req, sizeof req,
                     "GET %s?token=%s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n%s%s%s\r\n",
                     opt.path, tokens[c->user], opt.host, opt.port,
                     c->last_id[0] ? "Last-Event-ID: " : "", c->last_id,
                     c->last_id[0] ? "\r\n" : "");
    } else if (c->phase == 0) {
        n = snprintf(req, sizeof req,
                     "GET %s?token=%s&limit=1 HTTP/1.1\r\nHost: %s:%d\r\nAccept: application/json\r\n\r\n",
                     opt.path, tokens[c->user], opt.host, opt.port);
    } else {
        n = snprintf(req, sizeof req,
                     "GET %s?token=%s&since=%s&timeout=%d HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Accept: application/json\r\n\r\n",
                     opt.path, tokens[c->user], c->cursor, opt.lp_timeout, opt.host, opt.port);
    }
    c->out.len = c->out_off = 0;
    buf_add(&c->out, req, (size_t)n);
    c->head.len = 0;
    c->body.len = 0;
    c->ps = P_HEAD;
    c->head_seen = 0;
    c->retry_after = 0;
    c->refused = 0;
    c->requests_on_fd++;
}

/* Writes what is pending; returns -1 when the connection failed. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ep_mod(c, EPOLLIN | EPOLLOUT);
                return 0;
            }
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out.len = c->out_off = 0;
    ep_mod(c, EPOLLIN);
    /* Nchan answers a long poll only with a message: its subscriber is counted from here (and in
     * nchan_status before publishing) */
    if (opt.target == TARGET_NCHAN && opt.mode == MODE_LP && !c->ready) {
        c->phase = 1;
        conn_ready(c);
    }
    return 0;
}

static void conn_start(struct conn *c)
{
    struct epoll_event e = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    int one = 1;

    c->retry_at = 0;
    if (!c->first_start)
        c->first_start = mono_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, strerror(errno));
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->requests_on_fd = 0;
    if (connect(c->fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0
        && errno != EINPROGRESS) {
        char why[128];
        snprintf(why, sizeof why, "connect: %s", strerror(errno));
        conn_retry(c, 200, why);
        return;
    }
    c->connecting = 1;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
        die("epoll_ctl: %s", strerror(errno));
    queue_request(c);
}

/* --- what the events carry */

/* Reads the integer after "key": in s (up to end); returns 0 or -1. */
static int json_int(const char *s, const char *end, const char *key, int64_t *out)
{
    size_t kl = strlen(key);

    for (const char *p = s; p + kl + 2 < end; p++) {
        p = memchr(p, '"', (size_t)(end - p));
        if (!p || p + kl + 2 >= end)
            return -1;
        if (memcmp(p + 1, key, kl) == 0 && p[kl + 1] == '"') {
            const char *q = p + kl + 2;
            while (q < end && (*q == ' ' || *q == ':'))
                q++;
            char *e;
            long long v = strtoll(q, &e, 10);
            if (e == q)
                return -1;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* One message object's payload: t_ns and seq. */
static void on_message(struct conn *c, int64_t t_ns, int64_t seq)
{
    st.events++;
    if (opt.broadcast) {
        if (!st.publishing || seq != 1 || t_ns < st.run_start_real) {
            st.stale++;
        } else if (c->bcast_ns) {
            st.duplicates++;
        } else {
            c->bcast_ns = now_real - t_ns;
            st.bcast_got++;
        }
        return;
    }
    if (seq < 1 || seq > st.max_seq || t_ns < st.run_start_real) {
        st.stale++;
        return;
    }
    int32_t owner = __atomic_load_n(&pub.owner[seq], __ATOMIC_ACQUIRE);
    if (owner != c->user)
        st.misrouted++;
    if (st.got[seq]) {
        st.duplicates++;
        return;
    }
    st.got[seq] = 1;
    if (st.in_db && st.in_db[seq])
        st.received_in_db++;
    st.lat[st.received++] = now_real - t_ns;
    if (now_real > st.last_arrival)
        st.last_arrival = now_real;
    if (st.lat_by_seq)
        st.lat_by_seq[seq] = now_real - t_ns;
}

/* Every message in a JSON text: each "data":{...} object with t_ns and seq. */
static void scan_messages(struct conn *c, const char *s, size_t len)
{
    const char *end = s + len, *p = s;

    while (p < end && (p = memmem(p, (size_t)(end - p), "\"data\":", 7))) {
        const char *o = p + 7;
        while (o < end && *o == ' ')
            o++;
        p = o;
        if (o >= end || *o != '{')
            continue;
        const char *close = memchr(o, '}', (size_t)(end - o));
        if (!close)
            break;
        int64_t t_ns, seq;
        if (json_int(o, close, "t_ns", &t_ns) == 0 && json_int(o, close, "seq", &seq) == 0)
            on_message(c, t_ns, seq);
        else
            st.foreign++;
        p = close;
    }
}

/* The string value of a top-level key of a JSON object (depth 1); returns 0 or -1. */
static int json_top_string(const char *s, size_t len, const char *key, char *out, size_t outlen)
{
    int depth = 0;
    size_t kl = strlen(key);

    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            depth--;
        } else if (ch == '"') {
            size_t j = i + 1;
            while (j < len && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            if (j >= len)
                return -1;
            size_t k = j + 1;
            while (k < len && s[k] == ' ')
                k++;
            int is_key = k < len && s[k] == ':';
            if (is_key && depth == 1 && j - i - 1 == kl && memcmp(s + i + 1, key, kl) == 0) {
                k++;
                while (k < len && s[k] == ' ')
                    k++;
                if (k >= len || s[k] != '"')
                    return -1;
                size_t v = k + 1, e = v;
                while (e < len && s[e] != '"')
                    e++;
                if (e >= len || e - v >= outlen)
                    return -1;
                memcpy(out, s + v, e - v);
                out[e - v] = '\0';
                return 0;
            }
            i = j;
        }
    }
    return -1;
}

/* --- SSE */

static void sse_dispatch(struct conn *c)
{
    if (strcmp(c->event, "unread") == 0) {
        conn_ready(c);
    } else if (strcmp(c->event, "error") == 0 && opt.target == TARGET_PGPUSH) {
        /* a temporary refusal as a 200 stream: the status it stands for, then the end */
        int64_t status = 0;
        const char *d = c->data.p ? c->data.p : "";
        c->refused = json_int(d, d + c->data.len, "status", &status) == 0 && status > 0 && status < 600
                         ? (int)status : 599;
    } else if (strcmp(c->event, "message") == 0
               || (opt.target == TARGET_NCHAN && !c->event[0] && c->data.len)) {
        scan_messages(c, c->data.p ? c->data.p : "", c->data.len);
    }
    c->event[0] = '\0';
    c->data.len = 0;
}

static void sse_line(struct conn *c, char *l, size_t n)
{
    if (n && l[n - 1] == '\r')
        l[--n] = '\0';
    if (n == 0) {
        if (c->event[0] || c->data.len)
            sse_dispatch(c);
        return;
    }
    if (l[0] == ':') {
        st.heartbeats++;
        return;
    }
    char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : "";
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl && *v == ' ')
        v++, vl--;
    if (fl == 5 && memcmp(l, "event", 5) == 0) {
        snprintf(c->event, sizeof c->event, "%.*s", (int)vl, v);
    } else if (fl == 4 && memcmp(l, "data", 4) == 0) {
        if (c->data.len)
            buf_add(&c->data, "\n", 1);
        buf_add(&c->data, v, vl);
    } else if (fl == 5 && memcmp(l, "retry", 5) == 0) {
        /* as EventSource: digits only, else ignored; capped as pgpush.js caps it (10 min) */
        size_t i = 0;
        long ms = 0;
        while (i < vl && v[i] >= '0' && v[i] <= '9' && ms <= 600000)
            ms = ms * 10 + (v[i++] - '0');
        if (i == vl && vl > 0)
            c->sse_retry_ms = (int)(ms > 600000 ? 600000 : ms);
    } else if (fl == 2 && memcmp(l, "id", 2) == 0) {
        if (vl < sizeof c->last_id)
            snprintf(c->last_id, sizeof c->last_id, "%.*s", (int)vl, v);
    }
}

static void sse_feed(struct conn *c, const char *s, size_t n)
{
    while (n) {
        const char *nl = memchr(s, '\n', n);
        if (!nl) {
            buf_add(&c->line, s, n);
            return;
        }
        size_t k = (size_t)(nl - s);
        if (c->line.len) {
            buf_add(&c->line, s, k);
            sse_line(c, c->line.p, c->line.len);
            c->line.len = 0;
        } else {
            /* in place: the receive buffer is ours */
            char *l = (char *)s;
            l[k] = '\0';
            sse_line(c, l, k);
        }
        s += k + 1;
        n -= k + 1;
    }
}

/* --- response bodies and their ends */

static void body_bytes(struct conn *c, const char *s, size_t n)
{
    if (c->status == 200 && opt.mode == MODE_SSE)
        sse_feed(c, s, n);
    else if (c->status == 200 || c->body.len < BODY_KEEP)
        buf_add(&c->body, s, n);
}

/* A whole answer has arrived. Returns 1 when the connection goes on being read, 0 when it was
 * closed or replaced. */
static int response_done(struct conn *c)
{
    char why[BODY_KEEP + 64];

    if (opt.target == TARGET_NCHAN && opt.mode == MODE_LP && (c->status == 200 || c->status == 304
                                                               || c->status == 408)) {
        /* a message (200), or the subscriber timeout (304/408): poll again with the cursor headers */
        st.answers++;
        if (c->status == 200)
            scan_messages(c, c->body.p ? c->body.p : "", c->body.len);
        if (c->close_after) {
            conn_close(c);
            conn_start(c);
            return 0;
        }
        queue_request(c);
        if (conn_flush(c) < 0) {
            conn_retry(c, 100, "send failed");
            return 0;
        }
        return 1;
    }
    if (c->status != 200) {
        snprintf(why, sizeof why, "HTTP %d %.*s", c->status, (int)(c->body.len < BODY_KEEP ? c->body.len : BODY_KEEP),
                 c->body.p ? c->body.p : "");
        if (c->status > 0 && c->status < 600)
            st.status_count[c->status]++;
        if ((c->status == 503 || c->status == 429) && c->retry_after > 0)
            conn_refused(c, c->status, jittered(c->retry_after * 1000), why);
        else if (c->ready)
            conn_retry(c, 500, why);
        else
            conn_fail(c, why);
        return 0;
    }
    if (opt.mode == MODE_SSE && c->refused) {
        /* push-sse's refusal stream: EventSource comes back after its retry: (which has the
         * server's jitter); a refusal that says no retry is final */
        snprintf(why, sizeof why, "HTTP %d in a refusal stream", c->refused);
        if ((c->refused == 503 || c->refused == 429) && c->sse_retry_ms > 0)
            conn_refused(c, 0, c->sse_retry_ms, why);
        else
            conn_fail(c, why);
        return 0;
    }
    if (opt.mode == MODE_SSE) {
        /* the stream ended (its lifetime): EventSource would reconnect with Last-Event-ID */
        conn_retry(c, 0, c->ready ? "the stream ended" : "the stream ended before its first event");
        return 0;
    }
    st.answers++;
    if (json_top_string(c->body.p ? c->body.p : "", c->body.len, "cursor", c->cursor,
                        sizeof c->cursor) < 0) {
        snprintf(why, sizeof why, "long poll answer without a cursor: %.200s", c->body.p ? c->body.p : "");
        if (c->ready)
            conn_retry(c, 500, why);
        else
            conn_fail(c, why);
        return 0;
    }
    if (c->phase == 0) { /* the current state: old messages, not ours */
        c->phase = 1;
        conn_ready(c);
    } else {
        scan_messages(c, c->body.p, c->body.len);
    }
    if (c->close_after) {
        conn_close(c);
        conn_start(c);
        return 0;
    }
    queue_request(c);
    if (conn_flush(c) < 0) {
        conn_retry(c, 100, "send failed");
        return 0;
    }
    return 1;
}

static int parse_head(struct conn *c)
{
    char *p = c->head.p, *eol;
    int minor = 1;

    if (sscanf(p, "HTTP/1.%d %d", &minor, &c->status) != 2)
        return -1;
    c->chunked = 0;
    c->close_after = minor == 0;
    c->left = -1;
    while ((eol = strstr(p, "\r\n")) && eol != p) {
        p = eol + 2;
        if (strncasecmp(p, "transfer-encoding:", 18) == 0) {
            char *v = p + 18;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "chunked", 7) == 0)
                c->chunked = 1;
        } else if (strncasecmp(p, "content-length:", 15) == 0) {
            c->left = strtoll(p + 15, NULL, 10);
        } else if (strncasecmp(p, "retry-after:", 12) == 0) {
            long ra = strtol(p + 12, NULL, 10); /* seconds; an HTTP date is not used here */
            c->retry_after = ra > 0 && ra <= 3600 ? (int)ra : 0;
        } else if (strncasecmp(p, "connection:", 11) == 0) {
            char *v = p + 11;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                c->close_after = 1;
            else if (strncasecmp(v, "keep-alive", 10) == 0)
                c->close_after = 0;
        } else if (opt.target == TARGET_NCHAN && (strncasecmp(p, "last-modified:", 14) == 0
                                                  || strncasecmp(p, "etag:", 5) == 0)) {
            int lm = p[0] == 'l' || p[0] == 'L';
            char *v = p + (lm ? 14 : 5), *dst = lm ? c->last_modified : c->etag;
            size_t cap = lm ? sizeof c->last_modified : sizeof c->etag;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            if (vl < cap) {
                memcpy(dst, v, vl);
                dst[vl] = '\0';
            }
        }
    }
    /* Nchan's EventSource subscriber is registered when its headers come */
    if (opt.target == TARGET_NCHAN && opt.mode == MODE_SSE && c->status == 200)
        conn_ready(c);
    c->body.len = 0;
    c->head_seen = 1;
    if (opt.mode == MODE_WS && c->status == 101) {
        c->ps = P_WS; /* frames from here on */
        return 0;
    }
    if (c->chunked)
        c->ps = P_CHUNK_SIZE, c->left = 0;
    else if (c->left >= 0)
        c->ps = P_LEN;
    else
        c->ps = P_EOF, c->close_after = 1;
    c->head_seen = 1;
    return 0;
}

/* --- push-ws frames */

/* One text message of push-ws: readiness at the first counts, the cursor to resume from, and the
 * payload of a message event. */
static void ws_text(struct conn *c, const char *s, size_t n)
{
    char cursor[sizeof c->last_id];

    if (memmem(s, n, "\"type\":\"message\"", 16)) {
        scan_messages(c, s, n);
    } else if (memmem(s, n, "\"type\":\"unread\"", 15)) {
        conn_ready(c);
    }
    if (json_top_string(s, n, "cursor", cursor, sizeof cursor) == 0)
        memcpy(c->last_id, cursor, sizeof cursor);
}

/* Queues a masked frame to the server (a pong). */
static void ws_send(struct conn *c, int opcode, const char *p, size_t n)
{
    unsigned char h[6] = { (unsigned char)(0x80 | opcode), (unsigned char)(0x80 | n), 0, 0, 0, 0 };

    if (n > 125)
        return;
    buf_add(&c->out, (const char *)h, sizeof h); /* mask 0: the payload goes as it is */
    buf_add(&c->out, p, n);
}

/* Parses the frames in c->body; returns 0 when the connection goes on, -1 when it was closed. */
static int ws_frames(struct conn *c)
{
    size_t off = 0;
    const unsigned char *b = (const unsigned char *)c->body.p;

    for (;;) {
        size_t avail = c->body.len - off, hl = 2;
        if (avail < 2)
            break;
        uint64_t len = b[off + 1] & 0x7f;
        int opcode = b[off] & 0x0f;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)b[off + 2] << 8 | b[off + 3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | b[off + 2 + i];
            hl = 10;
        }
        if (avail < hl + len)
            break;
        const char *payload = c->body.p + off + hl;
        if (opcode == 1) {
            ws_text(c, payload, (size_t)len);
        } else if (opcode == 9) {
            st.heartbeats++;
            ws_send(c, 10, payload, (size_t)len);
            if (conn_flush(c) < 0) {
                conn_retry(c, 100, "send failed");
                return -1;
            }
        } else if (opcode == 8) {
            conn_retry(c, 200, "the server closed the WebSocket");
            return -1;
        }
        off += hl + (size_t)len;
    }
    memmove(c->body.p, c->body.p + off, c->body.len - off);
    c->body.len -= off;
    return 0;
}

/* Feeds received bytes through the HTTP parser; returns 0 when the connection goes on, -1 when
 * it was closed or replaced. */
static int http_feed(struct conn *c, char *s, size_t n)
{
    while (n) {
        switch (c->ps) {
        case P_HEAD: {
            size_t old = c->head.len;
            buf_add(&c->head, s, n);
            size_t from = old > 3 ? old - 3 : 0;
            char *e = memmem(c->head.p + from, c->head.len - from, "\r\n\r\n", 4);
            if (!e) {
                if (c->head.len > 16384) {
                    conn_retry(c, 500, "response head too long");
                    return -1;
                }
                return 0;
            }
            size_t used = (size_t)(e + 4 - c->head.p) - old;
            c->head.len = (size_t)(e + 2 - c->head.p);
            c->head.p[c->head.len] = '\0';
            s += used;
            n -= used;
            if (parse_head(c) < 0) {
                conn_retry(c, 500, "not an HTTP response");
                return -1;
            }
            if (c->ps == P_LEN && c->left == 0 && !response_done(c))
                return -1;
            break;
        }
        case P_CHUNK_SIZE: {
            char ch = *s++;
            n--;
            int d = ch >= '0' && ch <= '9' ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
            if (d >= 0)
                c->left = c->left * 16 + d;
            else if (ch == '\n')
                c->ps = c->left ? P_CHUNK_DATA : P_TRAILER, c->trailer_line = 0;
            else
                c->ps = P_CHUNK_EXT;
            break;
        }
        case P_CHUNK_EXT: {
            char *nl = memchr(s, '\n', n);
            if (!nl)
                return 0;
            n -= (size_t)(nl + 1 - s);
            s = nl + 1;
            c->ps = c->left ? P_CHUNK_DATA : P_TRAILER;
            c->trailer_line = 0;
            break;
        }
        case P_CHUNK_DATA: {
            size_t m = n < (size_t)c->left ? n : (size_t)c->left;
            body_bytes(c, s, m);
            s += m;
            n -= m;
            c->left -= (int64_t)m;
            if (!c->left)
                c->ps = P_CHUNK_CRLF;
            break;
        }
        case P_CHUNK_CRLF:
            if (*s++ == '\n')
                c->ps = P_CHUNK_SIZE, c->left = 0;
            n--;
            break;
        case P_TRAILER: {
            char ch = *s++;
            n--;
            if (ch == '\n') {
                if (c->trailer_line == 0) {
                    if (!response_done(c))
                        return -1;
                    break;
                }
                c->trailer_line = 0;
            } else if (ch != '\r') {
                c->trailer_line++;
            }
            break;
        }
        case P_LEN: {
            size_t m = n < (size_t)c->left ? n : (size_t)c->left;
            body_bytes(c, s, m);
            s += m;
            n -= m;
            c->left -= (int64_t)m;
            if (!c->left && !response_done(c))
                return -1;
            break;
        }
        case P_EOF:
            body_bytes(c, s, n);
            return 0;
        case P_WS:
            buf_add(&c->body, s, n);
            return ws_frames(c);
        }
        if (c->fd < 0)
            return -1;
    }
    return 0;
}

static void on_readable(struct conn *c)
{
    static char rbuf[RECV_BUF + 1];

    for (;;) {
        ssize_t n = recv(c->fd, rbuf, RECV_BUF, 0);
        if (n > 0) {
            now_real = real_ns();
            rbuf[n] = '\0';
            if (http_feed(c, rbuf, (size_t)n) < 0)
                return;
            if (n < RECV_BUF)
                return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        /* closed, or an error */
        if (n == 0 && c->ps == P_EOF && c->head_seen) {
            response_done(c);
            if (c->fd >= 0) { /* an EOF-delimited long-poll answer: the server closed */
                conn_close(c);
                conn_start(c);
            }
            return;
        }
        if (opt.mode == MODE_LP && c->ps == P_HEAD && c->head.len == 0 && c->requests_on_fd > 1) {
            /* the server closed a keep-alive connection as we reused it: ask again */
            st.lp_reopens++;
            conn_close(c);
            conn_start(c);
            return;
        }
        char why[160];
        snprintf(why, sizeof why, "connection %s %s", n == 0 ? "closed" : "failed:",
                 n == 0 ? (c->head_seen ? "mid-answer" : "before an answer") : strerror(errno));
        conn_retry(c, 200, why);
        return;
    }
}

static void on_event(struct conn *c, uint32_t ev)
{
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            char why[128];
            snprintf(why, sizeof why, "connect: %s", strerror(err));
            conn_retry(c, 200, why);
            return;
        }
        c->connecting = 0;
        if (conn_flush(c) < 0) {
            conn_retry(c, 200, "send failed");
            return;
        }
        return;
    }
    if (ev & EPOLLOUT) {
        if (conn_flush(c) < 0) {
            conn_retry(c, 200, "send failed");
            return;
        }
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(c);
}

/* ------------------------------------------------------------------ the floor */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t count;   /* notifications for our user received */
    int64_t last_ns; /* CLOCK_REALTIME of the last one */
    PGconn *listen;
    int stop;
} fl = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL, 0 };

#define FLOOR_USER "pgpush-floor"

static void *floor_listener(void *unused)
{
    struct pollfd pfd = { PQsocket(fl.listen), POLLIN, 0 };

    (void)unused;
    while (!__atomic_load_n(&fl.stop, __ATOMIC_ACQUIRE)) {
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int64_t t = real_ns();
        PGnotify *n;
        if (!PQconsumeInput(fl.listen))
            die("the LISTEN connection was lost: %s", PQerrorMessage(fl.listen));
        while ((n = PQnotifies(fl.listen))) {
            /* "u:user", or a sealed message for the user: "m:" seal ":u:user" */
            size_t len = strlen(n->extra), tl = strlen(":u:" FLOOR_USER);
            if (strcmp(n->extra, "u:" FLOOR_USER) == 0
                || (strncmp(n->extra, "m:", 2) == 0 && len > tl
                    && strcmp(n->extra + len - tl, ":u:" FLOOR_USER) == 0)) {
                pthread_mutex_lock(&fl.lock);
                fl.count++;
                fl.last_ns = t;
                pthread_cond_signal(&fl.cond);
                pthread_mutex_unlock(&fl.lock);
            }
            PQfreemem(n);
        }
    }
    return NULL;
}

static int run_floor(void)
{
    int64_t total = (int64_t)(opt.rate * opt.duration), got = 0, lost = 0;
    int64_t *lat = calloc((size_t)total + 1, sizeof *lat);
    PGconn *pubc = pg_connect("push-load");
    pthread_t t;
    PGresult *res;
    char err[256];

    fl.listen = pg_connect("push-load-floor");
    res = PQexec(fl.listen, "LISTEN pgpush");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        die("LISTEN: %s", PQerrorMessage(fl.listen));
    PQclear(res);
    if (pthread_create(&t, NULL, floor_listener, NULL) != 0)
        die("cannot start the listener thread");
    /* warm up: the stream row of our user, caches */
    for (int i = 0; i < 5; i++)
        publish(pubc, FLOOR_USER, real_ns(), 0, NULL, 0);
    sleep_until(mono_ns() + 200000000);
    pthread_mutex_lock(&fl.lock);
    int64_t base = fl.count;
    pthread_mutex_unlock(&fl.lock);
    int64_t start = mono_ns();
    for (int64_t k = 0; k < total; k++) {
        sleep_until(start + (int64_t)((double)k * 1e9 / opt.rate));
        int64_t t0 = real_ns();
        if (publish(pubc, FLOOR_USER, t0, k + 1, err, sizeof err) < 0)
            die("INSERT failed: %s", err);
        /* wait for its notification (it may have come already) */
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 5;
        pthread_mutex_lock(&fl.lock);
        while (fl.count < base + k + 1 - lost)
            if (pthread_cond_timedwait(&fl.cond, &fl.lock, &dl) == ETIMEDOUT)
                break;
        if (fl.count >= base + k + 1 - lost)
            lat[got++] = fl.last_ns - t0;
        else
            lost++;
        pthread_mutex_unlock(&fl.lock);
    }
    double secs = (double)(mono_ns() - start) / 1e9;
    __atomic_store_n(&fl.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    qsort(lat, (size_t)got, sizeof *lat, cmp_i64);
    if (opt.header)
        fputs(header_row, stdout);
    printf("| %s | 1 | %.0f | %" PRId64 " | %" PRId64 " | %" PRId64 " | 0 | %.3f | %.3f | %.3f | %.3f "
           "| 0 | 0 | - | %.0f |\n",
           opt.label ? opt.label : "PostgreSQL floor: INSERT to LISTEN", opt.rate, total, got, lost,
           quantile_ms(lat, (size_t)got, 0.5), quantile_ms(lat, (size_t)got, 0.9),
           quantile_ms(lat, (size_t)got, 0.99), got ? (double)lat[got - 1] / 1e6 : 0.0,
           (double)got / secs);
    fflush(stdout);
    PQfinish(pubc);
    PQfinish(fl.listen);
    return lost ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

static void parse_url(const char *url)
{
    const char *p, *slash;
    char host[64];
    struct in_addr a;

    if (strncmp(url, "http://", 7) != 0)
        die("--url must start with http://");
    p = url + 7;
    slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hl);
    size_t nl = colon ? (size_t)(colon - p) : hl;
    if (nl == 0 || nl >= sizeof host)
        die("--url: bad host");
    memcpy(host, p, nl);
    host[nl] = '\0';
    opt.port = colon ? (int)strtol(colon + 1, NULL, 10) : 80;
    if (opt.port <= 0 || opt.port > 65535)
        die("--url: bad port");
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "%s", "127.0.0.1");
    if (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
        die("--url: the host must be a loopback address (127.x.x.x)");
    snprintf(opt.host, sizeof opt.host, "%s", host);
    snprintf(opt.path, sizeof opt.path, "%s", slash ? slash : "/");
    if (strchr(opt.path, '?'))
        die("--url: no query string, please (the token is added)");
    if (opt.target == TARGET_NCHAN) { /* a prefix: PREFIX/sub/..., PREFIX/pub/... */
        size_t pl = strlen(opt.path);
        while (pl && opt.path[pl - 1] == '/')
            opt.path[--pl] = '\0';
    }
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)opt.port);
    server_addr.sin_addr = a;
}

static double num_arg(const char *name, const char *v, double min, double max)
{
    char *e;
    double d = strtod(v, &e);

    if (e == v || *e || d < min || d > max)
        die("%s: expected a number from %g to %g, got %s", name, min, max, v);
    return d;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "url", 1, NULL, 'u' }, { "users", 1, NULL, 'n' }, { "user-prefix", 1, NULL, 'U' }, { "mode", 1, NULL, 'm' },
        { "rate", 1, NULL, 'r' }, { "duration", 1, NULL, 'd' }, { "publishers", 1, NULL, 'p' },
        { "broadcast", 0, NULL, 'b' }, { "connect-rate", 1, NULL, 'c' }, { "wait", 1, NULL, 'w' },
        { "ready-timeout", 1, NULL, 'R' }, { "lp-timeout", 1, NULL, 'T' }, { "stall", 1, NULL, 'S' },
        { "on-ready", 1, NULL, 'o' }, { "label", 1, NULL, 'l' }, { "header", 0, NULL, 'H' },
        { "floor", 0, NULL, 'f' }, { "per-second", 0, NULL, 'P' }, { "help", 0, NULL, 'h' },
        { "floor-load", 0, NULL, 'L' },
        { "target", 1, NULL, 't' }, { "flood", 1, NULL, 'F' }, { "multirow", 0, NULL, 'M' },
        { "verify-db", 1, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u': opt.url = optarg; break;
        case 'n': opt.users = (int)num_arg("--users", optarg, 1, 1000000); break;
        case 'U':
            if (!*optarg || strlen(optarg) > 8 || strspn(optarg, "abcdefghijklmnopqrstuvwxyz") != strlen(optarg))
                die("--user-prefix: 1 to 8 lower-case letters");
            opt.prefix = optarg;
            break;
        case 'm':
            if (strcmp(optarg, "sse") == 0)
                opt.mode = MODE_SSE;
            else if (strcmp(optarg, "longpoll") == 0)
                opt.mode = MODE_LP;
            else if (strcmp(optarg, "ws") == 0)
                opt.mode = MODE_WS;
            else
                die("--mode: sse, longpoll or ws");
            break;
        case 'r': opt.rate = num_arg("--rate", optarg, 0.001, 1e6); break;
        case 'd': opt.duration = num_arg("--duration", optarg, 0.001, 86400); break;
        case 'p': opt.publishers = (int)num_arg("--publishers", optarg, 1, 256); break;
        case 'b': opt.broadcast = 1; break;
        case 'c': opt.connect_rate = num_arg("--connect-rate", optarg, 1, 1e7); break;
        case 'w': opt.wait_s = num_arg("--wait", optarg, 0, 86400); break;
        case 'R': opt.ready_timeout = num_arg("--ready-timeout", optarg, 1, 86400); break;
        case 'S': opt.stall_s = num_arg("--stall", optarg, 1, 86400); break;
        case 'T': opt.lp_timeout = (int)num_arg("--lp-timeout", optarg, 1, 3600); break;
        case 'o': opt.on_ready = optarg; break;
        case 'l': opt.label = optarg; break;
        case 'H': opt.header = 1; break;
        case 'f': opt.floor = 1; break;
        case 'L': opt.floor_load = 1; break;
        case 'P': opt.per_second = 1; break;
        case 'V': opt.verify_db = optarg; break;
        case 't':
            if (strcmp(optarg, "pgpush") == 0)
                opt.target = TARGET_PGPUSH;
            else if (strcmp(optarg, "nchan") == 0)
                opt.target = TARGET_NCHAN;
            else
                die("--target: pgpush or nchan");
            break;
        case 'F': opt.flood = (int64_t)num_arg("--flood", optarg, 1, 1e8); break;
        case 'M': opt.multirow = 1; break;
        case 'h': fputs(usage_text, stdout); exit(0);
        default: fputs(usage_text, stderr); exit(2);
        }
    }
    if (optind < argc)
        die("unexpected argument %s (see --help)", argv[optind]);
    if (opt.multirow && (!opt.flood || opt.target == TARGET_NCHAN || opt.broadcast))
        die("--multirow needs --flood, and --target pgpush without --broadcast");
    if (opt.flood && opt.broadcast)
        die("--flood and --broadcast do not go together");
    if (opt.verify_db && (opt.target == TARGET_NCHAN || opt.broadcast))
        die("--verify-db needs --target pgpush without --broadcast");
}

/* Every subscriber registered in Nchan (its long polls are only sent, as far as the client can
 * tell): polls nchan_status every 10 ms for up to 15 s, serving the connections meanwhile. Notes
 * when the count first reached the ready ones (st.nchan_all_held); returns the last count. */
static long nchan_wait_all(void)
{
    long subs = -1;
    int64_t until = mono_ns() + 15000000000LL;

    while ((subs = nchan_subscribers()) < st.ready && mono_ns() < until) {
        struct epoll_event ev[64];
        int k = epoll_wait(epfd, ev, 64, 10);
        for (int i = 0; i < k; i++) {
            struct conn *cc = ev[i].data.ptr;
            if (cc->fd >= 0)
                on_event(cc, ev[i].events);
        }
    }
    if (subs >= st.ready && !st.nchan_all_held)
        st.nchan_all_held = mono_ns();
    return subs;
}

/* "HTTP 502: 3, connection: 1" from the non-zero counts, or "none" */
static void counts_text(char *out, size_t len, const int *http, const char *const *names,
                        const int *counts, int n)
{
    size_t used = 0;

    out[0] = '\0';
    for (int s = 100; s < 600; s++)
        if (http[s] && used < len)
            used += (size_t)snprintf(out + used, len - used, "%sHTTP %d: %d", used ? ", " : "", s, http[s]);
    for (int i = 0; i < n; i++)
        if (counts[i] && used < len)
            used += (size_t)snprintf(out + used, len - used, "%s%s: %d", used ? ", " : "", names[i], counts[i]);
    if (!used)
        snprintf(out, len, "none");
}

/* How the clients fared while connecting (the storm): served, failed by cause, retried after a
 * refusal; when the last was served, and each one's time from its first connect to its first
 * event (retries included). t_ramp: the first connect. */
static void report_clients(int64_t t_ramp)
{
    static const char *const fail_names[] = { "connection", "not ready in time" };
    static const char *const retry_names[] = { "refusal stream" };
    int fail_counts[] = { st.fail_conn, st.fail_timeout }, retry_counts[] = { st.retried_stream };
    char failed[512], retried[512];
    size_t n = (size_t)st.ready;

    counts_text(failed, sizeof failed, st.fail_http, fail_names, fail_counts, 2);
    counts_text(retried, sizeof retried, st.retried_http, retry_names, retry_counts, 1);
    note("clients: %d of %d ready, %d failed (%s), %d retried after a refusal (%s)", st.ready,
         opt.users, st.failed, failed, st.retried, retried);
    qsort(st.ready_lat, n, sizeof *st.ready_lat, cmp_i64);
    if (opt.target == TARGET_NCHAN && opt.mode == MODE_LP) {
        /* Nchan answers a long poll only with a message: no client sees when its poll is held */
        if (st.nchan_all_held)
            note("all held: %.3f s after the first connect (nchan_status); first connect to first "
                 "event: - (not seen by the client)", (double)(st.nchan_all_held - t_ramp) / 1e9);
        else
            note("all held: - (nchan_status never counted them all)");
        return;
    }
    if (st.ready == opt.users)
        note("all ready: %.3f s after the first connect; first connect to first event: p50 %.1f ms, "
             "p99 %.1f ms, max %.1f ms", (double)(st.last_ready - t_ramp) / 1e9,
             quantile_ms(st.ready_lat, n, 0.5), quantile_ms(st.ready_lat, n, 0.99),
             n ? (double)st.ready_lat[n - 1] / 1e6 : 0.0);
    else
        note("all ready: - (the last of %d after %.3f s); first connect to first event: p50 %.1f ms, "
             "p99 %.1f ms, max %.1f ms", st.ready, st.ready ? (double)(st.last_ready - t_ramp) / 1e9 : 0.0,
             quantile_ms(st.ready_lat, n, 0.5), quantile_ms(st.ready_lat, n, 0.99),
             n ? (double)st.ready_lat[n - 1] / 1e6 : 0.0);
}

static void raise_fd_limit(int need)
{
    struct rlimit rl;

    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((rlim_t)need > rl.rlim_cur)
        die("%d users need about %d open files; the limit is %llu (ulimit -n)", opt.users, need,
            (unsigned long long)rl.rlim_cur);
}

/* --floor-load: the floor under a scenario's publishing. Message k goes to user k mod N; at R/s
 * to N users a user's message is in flight for far less than N/R s, so the user a notification
 * names tells which INSERT it is (sent[] holds each user's send time until its notification). */
static struct {
    int64_t *sent;    /* per user: CLOCK_REALTIME ns of the INSERT in flight (0: none) */
    int64_t *lat;     /* latencies so far */
    int64_t got;
    int64_t total, next; /* messages to publish; the next one to take (atomic) */
    int64_t start_mono;
    int errors;
    PGconn *listen;
    int stop;
} fll;

static void *floor_load_listener(void *unused)
{
    struct pollfd pfd = { PQsocket(fll.listen), POLLIN, 0 };
    size_t plen = strlen("pgpush-floor-");

    (void)unused;
    while (!__atomic_load_n(&fll.stop, __ATOMIC_ACQUIRE)) {
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int64_t t = real_ns();
        PGnotify *n;
        if (!PQconsumeInput(fll.listen))
            die("the LISTEN connection was lost: %s", PQerrorMessage(fll.listen));
        while ((n = PQnotifies(fll.listen))) {
            /* "u:user", or a sealed message: "m:" seal ":u:user" (base64 has no ':') */
            const char *u = strncmp(n->extra, "u:", 2) == 0 ? n->extra
                            : strncmp(n->extra, "m:", 2) == 0 ? strstr(n->extra + 2, ":u:") : NULL;
            if (u && *u == ':')
                u++;
            if (u && strncmp(u + 2, "pgpush-floor-", plen) == 0) {
                long i = strtol(u + 2 + plen, NULL, 10);
                if (i >= 0 && i < opt.users) {
                    int64_t s0 = __atomic_exchange_n(&fll.sent[i], 0, __ATOMIC_ACQ_REL);
                    if (s0)
                        fll.lat[fll.got++] = t - s0;
                }
            }
            PQfreemem(n);
        }
    }
    return NULL;
}

static void *floor_load_publisher(void *unused)
{
    PGconn *pg = pg_connect("push-load");
    char user[64], err[256];
    int64_t k;

    (void)unused;
    while ((k = __atomic_fetch_add(&fll.next, 1, __ATOMIC_ACQ_REL)) < fll.total) {
        int i = (int)(k % opt.users);
        sleep_until(fll.start_mono + (int64_t)((double)k * 1e9 / opt.rate));
        snprintf(user, sizeof user, "pgpush-floor-%d", i);
        if (__atomic_load_n(&fll.sent[i], __ATOMIC_ACQUIRE))
            __atomic_add_fetch(&fll.errors, 1, __ATOMIC_RELAXED); /* (N too small for R) */
        __atomic_store_n(&fll.sent[i], real_ns(), __ATOMIC_RELEASE);
        if (publish(pg, user, real_ns(), k + 1, err, sizeof err) < 0)
            die("INSERT failed: %s", err);
    }
    PQfinish(pg);
    return NULL;
}

static int run_floor_load(void)
{
    pthread_t lt, *pt = calloc((size_t)opt.publishers, sizeof *pt);
    PGconn *pg = pg_connect("push-load");
    PGresult *res;
    char user[64], err[256];
    int64_t lost;

    if (opt.users > 100000)
        die("--floor-load: at most 100,000 users");
    fll.total = (int64_t)(opt.rate * opt.duration);
    fll.sent = calloc((size_t)opt.users, sizeof *fll.sent);
    fll.lat = calloc((size_t)fll.total + 1, sizeof *fll.lat);
    if (!pt || !fll.sent || !fll.lat)
        abort();
    /* warm up: every user's stream row (a first message each), before listening */
    for (int i = 0; i < opt.users; i++) {
        snprintf(user, sizeof user, "pgpush-floor-%d", i);
        if (publish(pg, user, real_ns(), 0, err, sizeof err) < 0)
            die("INSERT failed: %s", err);
    }
    PQfinish(pg);
    fll.listen = pg_connect("push-load-floor");
    res = PQexec(fll.listen, "LISTEN pgpush");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        die("LISTEN: %s", PQerrorMessage(fll.listen));
    PQclear(res);
    if (pthread_create(&lt, NULL, floor_load_listener, NULL) != 0)
        die("cannot start the listener thread");
    fll.start_mono = mono_ns() + 100000000;
    for (int i = 0; i < opt.publishers; i++)
        if (pthread_create(&pt[i], NULL, floor_load_publisher, NULL) != 0)
            die("cannot start a publisher thread");
    for (int i = 0; i < opt.publishers; i++)
        pthread_join(pt[i], NULL);
    double secs = (double)(mono_ns() - fll.start_mono) / 1e9;
    sleep_until(mono_ns() + 2000000000LL); /* the last notifications */
    __atomic_store_n(&fll.stop, 1, __ATOMIC_RELEASE);
    pthread_join(lt, NULL);
    lost = fll.total - fll.got;
    qsort(fll.lat, (size_t)fll.got, sizeof *fll.lat, cmp_i64);
    if (opt.header)
        fputs(header_row, stdout);
    printf("| %s | 1 | %.0f | %" PRId64 " | %" PRId64 " | %" PRId64 " | 0 | %.3f | %.3f | %.3f | %.3f "
           "| 0 | 0 | - | %.0f |\n",
           opt.label ? opt.label : "PostgreSQL floor under load: INSERTs to LISTEN", opt.rate,
           fll.total, fll.got, lost, quantile_ms(fll.lat, (size_t)fll.got, 0.5),
           quantile_ms(fll.lat, (size_t)fll.got, 0.9), quantile_ms(fll.lat, (size_t)fll.got, 0.99),
           fll.got ? (double)fll.lat[fll.got - 1] / 1e6 : 0.0, (double)fll.got / secs);
    if (fll.errors)
        fprintf(stderr, "push-load: %d INSERTs went to a user whose last was still in flight: "
                "raise --users\n", fll.errors);
    fflush(stdout);
    PQfinish(fll.listen);
    return lost || fll.errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *secret = getenv("PUSH_TOKEN_SECRET");
    struct epoll_event *evs;
    int maxev = 4096;

    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    if (opt.floor)
        return run_floor();
    if (opt.floor_load)
        return run_floor_load();
    if (!opt.url) {
        if (opt.header) {
            fputs(header_row, stdout);
            return 0;
        }
        die("--url is required (see --help)");
    }
    parse_url(opt.url);
    if (opt.target == TARGET_NCHAN)
        secret = "nchan-needs-no-token";
    if (!secret || strlen(secret) < 16)
        die("PUSH_TOKEN_SECRET must be set (at least 16 bytes), as for the server");
    raise_fd_limit(opt.users + opt.publishers + 64);

    /* tokens, valid for two hours */
    tokens = calloc((size_t)opt.users, sizeof *tokens);
    conns = calloc((size_t)opt.users, sizeof *conns);
    st.ready_lat = calloc((size_t)opt.users, sizeof *st.ready_lat);
    if (!tokens || !conns || !st.ready_lat)
        abort();
    for (int i = 0; i < opt.users; i++) {
        char user[32], tok[PUSH_TOKEN_MAX + 1];
        snprintf(user, sizeof user, "%s%d", opt.prefix, i);
        if (push_token_sign(secret, strlen(secret), user, time(NULL) + 7200, tok, sizeof tok) < 0)
            die("push_token_sign failed");
        tokens[i] = strdup(tok);
        conns[i].fd = -1;
        conns[i].user = i;
    }

    /* what to publish, and where it is recorded */
    pub.total = opt.broadcast ? 1 : opt.flood ? opt.flood : (int64_t)(opt.rate * opt.duration);
    if (pub.total < 1)
        pub.total = 1;
    if (opt.broadcast)
        opt.publishers = 1;
    st.max_seq = pub.total;
    pub.owner = malloc(((size_t)pub.total + 1) * sizeof *pub.owner);
    pub.acked = calloc((size_t)pub.total + 1, 1);
    st.got = calloc((size_t)pub.total + 1, 1);
    st.lat = calloc((size_t)pub.total + 1, sizeof *st.lat);
    if (!pub.owner || !pub.acked || !st.got || !st.lat)
        abort();
    if (opt.per_second && !opt.broadcast && !(st.lat_by_seq = calloc((size_t)pub.total + 1, sizeof *st.lat_by_seq)))
        abort();
    for (int64_t i = 0; i <= pub.total; i++)
        pub.owner[i] = -1;
    if (opt.multirow)
        opt.publishers = 1;
    if (opt.target == TARGET_NCHAN) {
        pub.fds = calloc((size_t)opt.publishers, sizeof *pub.fds);
        for (int i = 0; i < opt.publishers; i++)
            pub.fds[i] = -1;
    } else {
        pub.conns = calloc((size_t)opt.publishers, sizeof *pub.conns);
        for (int i = 0; i < opt.publishers; i++)
            pub.conns[i] = pg_connect("push-load");
    }
    st.run_start_real = real_ns();

    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1: %s", strerror(errno));
    evs = calloc((size_t)maxev, sizeof *evs);

    int64_t t_ramp = mono_ns(), t_ready = 0, t_quiet = 0, t_pub_end = 0, deadline_wait = 0;
    int next = 0, stage = 0; /* 0 ramp-up, 1 settle, 2 publishing, 3 stragglers, 4 done */
    int64_t last_progress = t_ramp;
    int last_ready = 0;

    note("%s: %d connections to %s at %.0f/s", opt.mode == MODE_SSE ? "SSE" : opt.mode == MODE_WS ? "WebSocket" : "long poll",
         opt.users, opt.url, opt.connect_rate);
    while (stage < 4) {
        int64_t now = mono_ns();

        /* ramp-up: start connections at the connect rate */
        if (next < opt.users) {
            int64_t due = (int64_t)((double)(now - t_ramp) / 1e9 * opt.connect_rate) + 1;
            while (next < opt.users && next < due) {
                conn_start(&conns[next++]);
                st.started++;
            }
        }
        /* reconnections that are due */
        if (st.retries_pending) {
            st.retries_pending = 0;
            for (int i = 0; i < opt.users; i++) {
                struct conn *c = &conns[i];
                if (!c->retry_at || c->gone || c->fd >= 0)
                    continue;
                if (c->retry_at > now) {
                    st.retries_pending++;
                } else {
                    if (!c->ready) /* a refused one comes back: the ramp-up is not stalled */
                        last_progress = now;
                    conn_start(c);
                }
            }
        }
        if (stage == 0) {
            if (st.ready != last_ready) {
                last_ready = st.ready;
                last_progress = now;
            }
            if (next == opt.users && st.ready + st.failed >= opt.users) {
                t_ready = now;
                note("ramp-up: %d of %d ready in %.2f s, %d failed", st.ready, opt.users,
                     (double)(t_ready - t_ramp) / 1e9, st.failed);
                if (st.failed)
                    note("first failure: %s", st.first_fail);
                stage = 1;
                if (opt.target == TARGET_NCHAN)
                    nchan_wait_all(); /* at once: when all were held is measured */
                t_quiet = mono_ns() + 500000000; /* let the server settle for 0.5 s */
            } else if (now - t_ramp > (int64_t)(opt.ready_timeout * 1e9)
                       || (next == opt.users && !st.retries_pending
                           && now - last_progress > (int64_t)(opt.stall_s * 1e9))) {
                int missing = 0;
                for (int i = 0; i < opt.users; i++)
                    if (!conns[i].ready && !conns[i].failed) {
                        conn_fail(&conns[i], "not ready in time");
                        missing++;
                    }
                t_ready = last_progress; /* reported: when the last one that made it was ready */
                note("ramp-up: gave up after %.1f s (%s): %d ready, %d failed (%d not ready in time)",
                     (double)(now - t_ramp) / 1e9,
                     now - t_ramp > (int64_t)(opt.ready_timeout * 1e9) ? "--ready-timeout"
                                                                       : "no progress for --stall s",
                     st.ready, st.failed, missing);
                note("first failure: %s", st.first_fail);
                stage = 1;
                t_quiet = now;
            }
        } else if (stage == 1 && now >= t_quiet) {
            if (opt.target == TARGET_NCHAN) {
                long subs = nchan_wait_all();
                note("nchan_status: %ld subscribers, %d ready", subs, st.ready);
            }
            if (opt.on_ready) {
                fflush(stdout);
                int rc = system(opt.on_ready);
                if (rc != 0)
                    note("--on-ready command exited with %d", rc);
            }
            if (st.ready == 0) {
                report_clients(t_ramp);
                die("no connection is ready: %s", st.first_fail);
            }
            pub.targets = calloc((size_t)opt.users, sizeof *pub.targets);
            for (int i = 0; i < opt.users; i++)
                if (conns[i].ready)
                    pub.targets[pub.ntargets++] = i;
            st.run_start_real = real_ns() - 1000000000; /* anything older is stale */
            st.publishing = 1;
            publishers_start();
            if (opt.broadcast)
                note("broadcast: one message to %d streams", pub.ntargets);
            else
                note("publishing %" PRId64 " messages at %.0f/s for %.1f s from %d connections", pub.total,
                     opt.rate, opt.duration, opt.publishers);
            stage = 2;
        } else if (stage == 2) {
            if (__atomic_load_n(&pub.running, __ATOMIC_ACQUIRE) == 0) {
                t_pub_end = __atomic_load_n(&pub.end_mono, __ATOMIC_ACQUIRE);
                deadline_wait = now + (int64_t)(opt.wait_s * 1e9);
                stage = 3;
                if (opt.verify_db)
                    verify_db_read();
            }
        }
        if (stage == 3) {
            int64_t sent = __atomic_load_n(&pub.sent, __ATOMIC_RELAXED);
            int done = opt.broadcast ? st.bcast_got >= pub.ntargets
                       : opt.verify_db ? st.received_in_db >= st.in_db_count : st.received >= sent;
            if (done || now >= deadline_wait)
                stage = 4;
        }
        int timeout = next < opt.users || stage == 1 || stage == 3 ? 1 : 5;
        int n = epoll_wait(epfd, evs, maxev, timeout);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd >= 0)
                on_event(c, evs[i].events);
        }
    }

    /* the report */
    int64_t sent = pub.sent;
    double ramp_s = (double)(t_ready - t_ramp) / 1e9;
    double pub_s = (double)(t_pub_end - pub.start_mono) / 1e9;
    int64_t *lat;
    size_t nlat;
    int64_t received, lost;
    double deliveries;
    char label[256];

    if (opt.broadcast) {
        nlat = 0;
        lat = calloc((size_t)opt.users + 1, sizeof *lat);
        for (int i = 0; i < opt.users; i++)
            if (conns[i].bcast_ns)
                lat[nlat++] = conns[i].bcast_ns;
        received = (int64_t)nlat;
        lost = pub.ntargets - received;
    } else if (opt.verify_db) {
        /* the database's messages are what was sent */
        int64_t acked_missing = 0, vanished = 0, unanswered_in = 0;
        for (int64_t q = 1; q <= pub.total; q++) {
            if (!st.in_db[q]) {
                acked_missing += pub.acked[q];
                vanished += st.got[q];
            } else if (!pub.acked[q]) {
                unanswered_in++;
            }
        }
        lat = st.lat;
        nlat = (size_t)st.received;
        sent = st.in_db_count;
        received = st.received_in_db;
        lost = sent - received;
        note("database: %" PRId64 " messages of this run (%" PRId64 " of them with no answer to their "
             "INSERT), %" PRId64 " for another user; acknowledged but missing %" PRId64
             ", received but missing %" PRId64, st.in_db_count, unanswered_in, st.in_db_foreign,
             acked_missing, vanished);
    } else {
        lat = st.lat;
        nlat = (size_t)st.received;
        received = st.received;
        lost = sent - received;
    }
    qsort(lat, nlat, sizeof *lat, cmp_i64);
    double maxms = nlat ? (double)lat[nlat - 1] / 1e6 : 0;
    if (opt.broadcast)
        deliveries = maxms > 0 ? (double)received / (maxms / 1e3) : 0;
    else if (opt.flood)
        deliveries = st.last_arrival > pub.start_real
                         ? (double)received / ((double)(st.last_arrival - pub.start_real) / 1e9) : 0;
    else
        deliveries = pub_s > 0 ? (double)received / pub_s : 0;
    snprintf(label, sizeof label, "%s", opt.label ? opt.label
             : opt.broadcast ? "broadcast" : opt.mode == MODE_SSE ? "sse" : opt.mode == MODE_WS ? "ws" : "longpoll");
    note("sent %" PRId64 " in %.2f s (%.0f/s), insert errors %" PRId64 " (%" PRId64 " with no answer, "
         "the connection broken)%s%s", (int64_t)pub.sent, pub_s, pub_s > 0 ? (double)pub.sent / pub_s : 0.0,
         pub.errors, pub.unanswered, pub.errors ? ": " : "", pub.first_error);
    note("received %" PRId64 ", duplicates %" PRId64 ", misrouted %" PRId64 ", stale %" PRId64
         ", foreign %" PRId64 ", heartbeats %" PRId64 ", reconnects %" PRId64 ", long-poll answers %"
         PRId64 " (keep-alive reopens %" PRId64 ")",
         received, st.duplicates, st.misrouted, st.stale, st.foreign, st.heartbeats, st.reconnects,
         st.answers, st.lp_reopens);
    if (st.lat_by_seq) { /* seq k+1 was due at k / rate seconds */
        int64_t per = (int64_t)opt.rate, *v = calloc((size_t)per + 1, sizeof *v);
        for (int64_t from = 1; per > 0 && from <= pub.total; from += per) {
            size_t n = 0;
            int64_t missing = 0;
            for (int64_t q = from; q < from + per && q <= pub.total; q++) {
                if (st.lat_by_seq[q])
                    v[n++] = st.lat_by_seq[q];
                else
                    missing++;
            }
            qsort(v, n, sizeof *v, cmp_i64);
            note("second %3" PRId64 ": %zu received, %" PRId64 " missing, p50 %.3f p99 %.3f max %.3f ms",
                 (from - 1) / per, n, missing, quantile_ms(v, n, 0.5), quantile_ms(v, n, 0.99),
                 n ? (double)v[n - 1] / 1e6 : 0.0);
        }
        free(v);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    note("push-load CPU: %.2f s", (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
                                      + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    for (int s = 100; s < 600; s++)
        if (st.status_count[s])
            note("HTTP %d answers: %d", s, st.status_count[s]);
    report_clients(t_ramp);
    if (opt.broadcast)
        note("broadcast: %" PRId64 " of %d streams had it; the last after %.3f ms: %.0f deliveries/s",
             received, pub.ntargets, maxms, deliveries);
    char rate[32];
    if (opt.broadcast)
        snprintf(rate, sizeof rate, "broadcast");
    else if (opt.flood)
        snprintf(rate, sizeof rate, "%s", opt.multirow ? "flood, 1 INSERT" : "flood");
    else
        snprintf(rate, sizeof rate, "%.0f", opt.rate);
    if (opt.header)
        fputs(header_row, stdout);
    printf("| %s | %d | %s | %" PRId64 " | %" PRId64 " | %" PRId64 " | %" PRId64
           " | %.3f | %.3f | %.3f | %.3f | %d | %" PRId64 " | %.2f | %.0f |\n",
           label, opt.users, rate, sent,
           received, lost, st.duplicates, quantile_ms(lat, nlat, 0.5), quantile_ms(lat, nlat, 0.9),
           quantile_ms(lat, nlat, 0.99), maxms, st.failed, st.reconnects, ramp_s, deliveries);
    fflush(stdout);
    return lost || st.duplicates || st.misrouted || st.in_db_foreign ? 1 : 0;
}
