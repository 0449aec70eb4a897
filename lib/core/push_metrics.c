/* push_metrics.c: counters by relaxed atomic adds; the text made on demand */
#include "config.h"

#include "core/push_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/push_util.h"

/* the delivery lag's buckets, ms (Prometheus: seconds, cumulative, then +Inf) */
static const long lag_bounds_ms[] = { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };
#define LAG_BUCKETS (sizeof lag_bounds_ms / sizeof lag_bounds_ms[0])

static long counters[PUSH_M_COUNTERS];
static long refused[200]; /* by status - 400 */
static long lag_count[LAG_BUCKETS + 1], lag_sum_ms, lag_n;

/* streams: a series of streams, left out for a program without them (push-mqtt) */
static const struct {
    const char *name, *help;
    int streams;
} counter_info[PUSH_M_COUNTERS] = {
    [PUSH_M_DELIVERED] = { "pgpush_delivered_messages_total",
                           "Messages written to clients (push-mqtt: acknowledged by the broker)." },
    [PUSH_M_DELIVERED_BYTES] = { "pgpush_delivered_bytes_total",
                                 "Bytes of the messages' JSON written to clients." },
    [PUSH_M_WAKEUPS] = { "pgpush_wakeups_total",
                         "Notifications received on the LISTEN connection." },
    [PUSH_M_READS] = { "pgpush_reads_total",
                       "Stream reads: first reads, wake-ups' reads, long polls' reads." },
    [PUSH_M_READ_FAILURES] = { "pgpush_read_failures_total",
                               "Stream reads that failed (the database unreachable); retried." },
    [PUSH_M_OPENED] = { "pgpush_streams_opened_total",
                        "Streams, held long polls and WebSocket sockets opened.", 1 },
    [PUSH_M_RESUMED] = { "pgpush_streams_resumed_total",
                         "Streams opened from a client's cursor (a reconnect that resumes).", 1 },
    [PUSH_M_SLOW_DROPS] = { "pgpush_slow_client_drops_total",
                            "Clients dropped for taking no data, or letting too much wait.", 1 },
    [PUSH_M_LISTEN_LOST] = { "pgpush_listen_reconnects_total",
                             "Times the LISTEN connection was lost and connected again." },
    [PUSH_M_CARRIED] = { "pgpush_carried_total",
                         "Messages delivered from the wake-up that carried them, with no read "
                         "(memory-first delivery)." },
    [PUSH_M_CARRY_MISSES] = { "pgpush_carry_misses_total",
                              "Carried messages not provably the next of their stream: read "
                              "instead." },
    [PUSH_M_CHANGES] = { "pgpush_changes_total",
                         "Edits and deletions of messages written to clients (update and delete "
                         "events, and the changes of polls' answers)." },
    [PUSH_M_EXPIRY_RUNS] = { "pgpush_expiry_runs_total",
                             "Runs of the expiry timer, which marks the messages whose expiry has "
                             "come (push.expire_due)." },
    [PUSH_M_REPLICA_READS] = { "pgpush_replica_reads_total",
                               "Stream reads answered by a replica once it had replayed past the "
                               "primary's position (PUSH_REPLICA_DATABASE_URL)." },
    [PUSH_M_REPLICA_BEHIND] = { "pgpush_replica_behind_total",
                                "Stream reads made on the primary because the replica had not "
                                "replayed far enough within PUSH_REPLICA_WAIT." },
    [PUSH_M_REPLICA_UNUSABLE] = { "pgpush_replica_unusable_total",
                                  "Stream reads made on the primary because the replica was "
                                  "unreachable, failed the read, or was not a standby." },
};

static long get(const long *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void push_metric_add(enum push_counter c, long n)
{
    __atomic_add_fetch(&counters[c], n, __ATOMIC_RELAXED);
}

void push_metric_refused(int status)
{
    if (status >= 400 && status < 600)
        __atomic_add_fetch(&refused[status - 400], 1, __ATOMIC_RELAXED);
}

void push_metric_lag(long ms)
{
    size_t b = 0;

    if (ms < 0)
        ms = 0; /* a database clock a little ahead of ours */
    while (b < LAG_BUCKETS && ms > lag_bounds_ms[b])
        b++;
    __atomic_add_fetch(&lag_count[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&lag_sum_ms, ms, __ATOMIC_RELAXED);
    __atomic_add_fetch(&lag_n, 1, __ATOMIC_RELAXED);
}

/* n decimal digits at s, or -1 */
static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil): timegm() without its lock and table walk. */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    long era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

/* created_at exactly as the store writes it, "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (to_char with
 * 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'); anything else is not counted. Parsed by position, as this
 * runs for every delivered message (sscanf and timegm were a visible part of it). */
void push_metric_lag_since(const char *created_at)
{
    static const char shape[] = "0000-00-00T00:00:00.000000Z";
    struct timespec now;
    int y, mo, d, h, mi, sec, us;

    if (!created_at || strnlen(created_at, sizeof shape) != sizeof shape - 1)
        return;
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] != '0' && created_at[i] != shape[i])
            return;
    y = digits(created_at, 4);
    mo = digits(created_at + 5, 2);
    d = digits(created_at + 8, 2);
    h = digits(created_at + 11, 2);
    mi = digits(created_at + 14, 2);
    sec = digits(created_at + 17, 2);
    us = digits(created_at + 20, 6);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59
        || sec < 0 || sec > 60 || us < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    push_metric_lag((long)(now.tv_sec - ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 3600L
                                         + mi * 60L + sec))
                        * 1000L
                    + (now.tv_nsec / 1000000L - us / 1000));
}

/* --- the text */

struct text {
    char *p;
    size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len)
            break;
        t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 0);
        t->p = xrealloc(t->p, t->cap);
    }
    t->len += (size_t)n;
}

static void gauge(struct text *t, const char *name, const char *help, const char *labels, long v)
{
    put(t, "# HELP %s %s\n# TYPE %s gauge\n%s%s %ld\n", name, help, name, name, labels, v);
}

static void refusals(struct text *t)
{
    static const int always[] = { 401, 403, 429, 503 }; /* shown at 0 too: rate() needs a start */

    put(t, "# HELP pgpush_refused_total Requests refused, by HTTP status (a temporary refusal to "
           "SSE or the iframe is a 200 stream, counted by its status).\n"
           "# TYPE pgpush_refused_total counter\n");
    for (int s = 400; s < 600; s++) {
        int shown = 0;
        for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
            shown |= always[i] == s;
        if (shown || get(&refused[s - 400]))
            put(t, "pgpush_refused_total{status=\"%d\"} %ld\n", s, get(&refused[s - 400]));
    }
}

static void lag(struct text *t)
{
    long cum = 0;

    put(t, "# HELP pgpush_delivery_lag_seconds From a message's created_at (its INSERT's "
           "transaction start) to its write to a live stream.\n"
           "# TYPE pgpush_delivery_lag_seconds histogram\n");
    for (size_t b = 0; b < LAG_BUCKETS; b++) {
        cum += get(&lag_count[b]);
        put(t, "pgpush_delivery_lag_seconds_bucket{le=\"%g\"} %ld\n", lag_bounds_ms[b] / 1000.0, cum);
    }
    cum += get(&lag_count[LAG_BUCKETS]);
    put(t, "pgpush_delivery_lag_seconds_bucket{le=\"+Inf\"} %ld\n", cum);
    put(t, "pgpush_delivery_lag_seconds_sum %.3f\npgpush_delivery_lag_seconds_count %ld\n",
        get(&lag_sum_ms) / 1000.0, get(&lag_n));
}

char *push_metrics_text(const struct push_metrics_state *st, size_t *len)
{
    struct text t = { xmalloc(4096), 0, 4096 };
    char labels[96];

    put(&t, "# HELP pgpush_build_info The program and its version.\n# TYPE pgpush_build_info gauge\n"
            "pgpush_build_info{program=\"%s\",version=\"%s\"} 1\n", st->program, PACKAGE_VERSION);
    if (st->streams >= 0) {
        snprintf(labels, sizeof labels, "{transport=\"%s\"}", st->transport);
        gauge(&t, "pgpush_open_streams", "Open streams, held long polls or WebSocket sockets.",
              labels, st->streams);
    }
    for (int c = 0; c < PUSH_M_COUNTERS; c++)
        if (st->streams >= 0 || !counter_info[c].streams)
            put(&t, "# HELP %s %s\n# TYPE %s counter\n%s %ld\n", counter_info[c].name,
                counter_info[c].help, counter_info[c].name, counter_info[c].name, get(&counters[c]));
    if (st->streams >= 0)
        refusals(&t);
    lag(&t);
    put(&t, "# HELP pgpush_db_connections Query connections (PUSH_DB_POOL), by state.\n"
            "# TYPE pgpush_db_connections gauge\n"
            "pgpush_db_connections{state=\"busy\"} %d\npgpush_db_connections{state=\"idle\"} %d\n",
        st->db_busy, st->db_pool - st->db_busy);
    if (st->listening >= 0)
        gauge(&t, "pgpush_listen_up", "The LISTEN connection is up (1) or down (0).", "",
              st->listening);
    if (st->broker >= 0)
        gauge(&t, "pgpush_mqtt_broker_up", "push-mqtt's connection to the MQTT broker is up (1) "
              "or down (0).", "", st->broker);
    *len = t.len;
    return t.p;
}
