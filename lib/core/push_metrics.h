/* push_metrics.h: the process's counters, gauges and delivery-lag histogram, in Prometheus text
 *
 * Counting is a relaxed atomic add, from any thread, on the paths that deliver, read and refuse;
 * the text is made when someone asks (push_status: GET .../metrics through the web server's
 * status location, or the daemons' status listener, push_statusd). Every series is per process:
 * Prometheus sums the processes. */
#ifndef PUSH_METRICS_H
#define PUSH_METRICS_H

#include <stddef.h>

enum push_counter {
    PUSH_M_DELIVERED,       /* messages written to clients (push-mqtt: acknowledged by the broker) */
    PUSH_M_DELIVERED_BYTES, /* their JSON's bytes */
    PUSH_M_WAKEUPS,         /* notifications the LISTEN connection received */
    PUSH_M_READS,           /* stream reads (a first read, a wake-up's, a long poll's) */
    PUSH_M_READ_FAILURES,   /* ... that failed (the database down); retried */
    PUSH_M_OPENED,          /* streams, held polls and sockets opened */
    PUSH_M_RESUMED,         /* ... of them from a client's cursor */
    PUSH_M_SLOW_DROPS,      /* clients dropped for taking no data, or too much waiting */
    PUSH_M_LISTEN_LOST,     /* times the LISTEN connection was lost (each is reconnected) */
    PUSH_M_CARRIED,         /* messages written from their wake-up, without a read */
    PUSH_M_CARRY_MISSES,    /* carried messages a stream could not prove next: it read instead */
    PUSH_M_CHANGES,         /* edits and deletions written to clients (update and delete events) */
    PUSH_M_EXPIRY_RUNS,     /* runs of the expiry timer (push.expire_due) */
    PUSH_M_REPLICA_READS,   /* stream reads answered by a replica (PUSH_REPLICA_DATABASE_URL) */
    PUSH_M_REPLICA_BEHIND,  /* ... read on the primary: the replica had not replayed far enough */
    PUSH_M_REPLICA_UNUSABLE, /* ... read on the primary: the replica unreachable, failing, or
                              * not a standby */
    PUSH_M_COUNTERS
};

void push_metric_add(enum push_counter c, long n);

/* An answer refused with status (400 to 599): counted by status. A temporary refusal answered
 * as a 200 stream (SSE, iframe) counts as its status. */
void push_metric_refused(int status);

/* A live message's lag, from its created_at to its write to the client, in ms. */
void push_metric_lag(long ms);

/* The same for created_at as the store writes it ("2026-12-04T13:45:02.387150Z", UTC): compared
 * with the wall clock now. Nothing when it does not parse. */
void push_metric_lag_since(const char *created_at);

/* What only the program knows, read when the text is made. */
struct push_metrics_state {
    const char *program;   /* "push-sse" */
    const char *transport; /* "sse", "iframe", "longpoll", "poll", "ws", "mqtt" */
    int streams;           /* open streams, held polls or sockets; -1: a program without streams
                            * (push-mqtt), whose text leaves out the series of streams */
    int db_pool;           /* query connections (PUSH_DB_POOL) */
    int db_busy;           /* ... lent to a reader now */
    int listening;         /* the LISTEN connection is up: 1, down: 0, none: -1 */
    int broker;            /* push-mqtt's broker connection is up: 1, down: 0, none: -1 */
};

/* The Prometheus text exposition (version 0.0.4) of every series: malloc'd, its length in *len. */
char *push_metrics_text(const struct push_metrics_state *st, size_t *len);

#endif
