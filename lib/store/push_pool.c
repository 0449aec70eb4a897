/* push_pool.c: lending database connections to threads */
#include "config.h"

#include "store/push_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/push_log.h"
#include "core/push_metrics.h"
#include "core/push_util.h"

/* After a replica could not be used (unreachable, not a standby): reads go to the primary for
 * this long before the replica is tried again, so that an outage costs one connect attempt per
 * rest, not one per read. */
#define REPLICA_REST_MS 5000

struct push_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int size, nfree;
    struct push_db *slots;
    struct push_db **free_list;
    struct push_pool *replica; /* PUSH_REPLICA_DATABASE_URL's connections, or NULL */
    int replica_wait_ms;       /* PUSH_REPLICA_WAIT */
    long replica_rest_until;   /* push_now_ms: the primary only until then (atomic) */
    long replica_complained;   /* push_now_ms of the last log line about the replica (atomic) */
};

struct push_pool *push_pool_new(const char *url, const char *appname, int size)
{
    struct push_pool *pool = xcalloc(1, sizeof *pool);

    if (size < 1)
        size = 1;
    if (size > PUSH_POOL_MAX)
        size = PUSH_POOL_MAX;
    pool->slots = xcalloc((size_t)size, sizeof *pool->slots);
    pool->free_list = xcalloc((size_t)size, sizeof *pool->free_list);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    pool->size = pool->nfree = size;
    for (int i = 0; i < size; i++) {
        push_db_init(&pool->slots[i], url, appname);
        pool->free_list[i] = &pool->slots[i];
    }
    return pool;
}

struct push_db *push_pool_acquire(struct push_pool *pool)
{
    struct push_db *db;

    pthread_mutex_lock(&pool->lock);
    while (pool->nfree == 0)
        pthread_cond_wait(&pool->freed, &pool->lock);
    db = pool->free_list[--pool->nfree];
    pthread_mutex_unlock(&pool->lock);
    return db;
}

void push_pool_release(struct push_pool *pool, struct push_db *db)
{
    pthread_mutex_lock(&pool->lock);
    pool->free_list[pool->nfree++] = db;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

int push_pool_busy(struct push_pool *pool, int *size)
{
    int busy;

    pthread_mutex_lock(&pool->lock);
    busy = pool->size - pool->nfree;
    *size = pool->size;
    pthread_mutex_unlock(&pool->lock);
    return busy;
}

void push_pool_replicas(struct push_pool *pool, const char *url, const char *appname, int wait_ms)
{
    pool->replica = push_pool_new(url, appname, pool->size);
    for (int i = 0; i < pool->replica->size; i++) {
        pool->replica->slots[i].server = "the replica (PUSH_REPLICA_DATABASE_URL)";
        /* libpq's least (1 is taken as 2): an unreachable replica costs a reader 2 s at most,
         * once per rest (REPLICA_REST_MS) */
        pool->replica->slots[i].connect_timeout = "2";
    }
    pool->replica_wait_ms = wait_ms;
}

void push_pool_free(struct push_pool *pool)
{
    if (!pool)
        return;
    push_pool_free(pool->replica);
    for (int i = 0; i < pool->size; i++)
        push_db_close(&pool->slots[i]);
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->free_list);
    free(pool->slots);
    free(pool);
}

struct many {
    struct push_store_read *reads;
    int n;
    char why[256]; /* PostgreSQL's reason when the reads fail (push_store_read_many) */
};

static int read_many(struct push_db *db, PGconn *conn, void *arg)
{
    struct many *m = arg;

    m->why[0] = '\0'; /* not a reason left from the attempt on a lost connection */
    return push_store_prepare(db, conn) == 0
        && push_store_read_many(conn, m->reads, m->n, m->why, sizeof m->why) == 0 ? 0 : -1;
}

/* --- replay-gated reads on a replica (README "Reads on replicas")
 *
 * A read must see every change made before it was asked for: a stream woken by a message reads
 * what woke it, a new stream reads what came before it joined the hub, a client that marked read
 * then reads its counts. A primary's read does by construction. A replica's does once the replica
 * has replayed the WAL up to the primary's position taken after the read was asked for: the
 * commit of every such change ends before that position (a NOTIFY is delivered after its commit
 * record is inserted). So: one statement on the primary per batch for its position, then on the
 * replica, wait until pg_last_wal_replay_lsn() reaches it, and read. Past PUSH_REPLICA_WAIT, or
 * when the replica cannot be used, the batch is read on the primary as without replicas. */

static int wal_now(struct push_db *db, PGconn *conn, void *arg)
{
    (void)db;
    return push_store_wal_now(conn, arg);
}

enum gate { GATE_READ, GATE_BEHIND, GATE_NOT_STANDBY, GATE_OTHER_HISTORY };

struct gated {
    struct many m;
    const struct push_wal_pos *pos;
    long deadline; /* push_now_ms */
    enum gate outcome;
};

static int gated_read(struct push_db *db, PGconn *conn, void *arg)
{
    struct gated *g = arg;
    long pause_us = 200;

    for (;;) {
        enum push_replay r = push_store_replayed(conn, g->pos);
        if (r == PUSH_REPLAY_ERROR)
            return -1;
        if (r == PUSH_REPLAY_NOT_STANDBY || r == PUSH_REPLAY_OTHER_HISTORY) {
            g->outcome = r == PUSH_REPLAY_NOT_STANDBY ? GATE_NOT_STANDBY : GATE_OTHER_HISTORY;
            return 0;
        }
        if (r == PUSH_REPLAY_PAST)
            break;
        long left_us = (g->deadline - push_now_ms()) * 1000;
        if (left_us <= 0) {
            g->outcome = GATE_BEHIND;
            return 0;
        }
        /* a replica a few milliseconds behind is asked again soon, a lagging one less often */
        long us = pause_us < left_us ? pause_us : left_us;
        struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
        nanosleep(&ts, NULL);
        pause_us = pause_us * 2 < 8000 ? pause_us * 2 : 8000; /* 0.2, 0.4, ... 6.4, then 8 ms */
    }
    g->outcome = GATE_READ;
    return read_many(db, conn, &g->m);
}

/* Whether to log a warning about the replica now: at most one every 30 s for the process. */
static int replica_may_complain(struct push_pool *pool)
{
    long now = push_now_ms(), last = __atomic_load_n(&pool->replica_complained, __ATOMIC_RELAXED);

    if (last && now - last < 30000)
        return 0;
    /* one thread of those that fail together says it */
    return __atomic_compare_exchange_n(&pool->replica_complained, &last, now, 0, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED);
}

static void replica_rest(struct push_pool *pool)
{
    __atomic_store_n(&pool->replica_rest_until, push_now_ms() + REPLICA_REST_MS, __ATOMIC_RELAXED);
}

/* The batch read on a replica: 0 done, -1 when it is to be read on the primary (counted). */
static int replica_read(struct push_pool *pool, struct push_store_read *reads, int n)
{
    struct push_wal_pos pos;
    char msg[256];
    enum push_db_err err;
    struct gated g = { { reads, n, "" }, &pos, 0, GATE_BEHIND };

    if (push_now_ms() < __atomic_load_n(&pool->replica_rest_until, __ATOMIC_RELAXED)) {
        push_metric_add(PUSH_M_REPLICA_UNUSABLE, n);
        return -1;
    }
    struct push_db *db = push_pool_acquire(pool);
    enum push_db_run rc = push_db_run(db, wal_now, &pos, &err, msg, sizeof msg);
    push_pool_release(pool, db);
    if (rc != PUSH_DB_RUN_OK)
        return -1; /* the primary's trouble: its own read meets it, and says so */

    g.deadline = push_now_ms() + pool->replica_wait_ms;
    db = push_pool_acquire(pool->replica);
    rc = push_db_run(db, gated_read, &g, &err, msg, sizeof msg);
    if (rc == PUSH_DB_RUN_OK && g.outcome != GATE_READ && g.outcome != GATE_BEHIND)
        push_db_close(db); /* promoted, never a standby, or on another history: connect again
                            * after the rest (a multi-host string may find a better one) */
    push_pool_release(pool->replica, db);

    if (rc == PUSH_DB_RUN_OK && g.outcome == GATE_READ) {
        push_metric_add(PUSH_M_REPLICA_READS, n);
        return 0;
    }
    if (rc == PUSH_DB_RUN_OK && g.outcome == GATE_BEHIND) {
        push_metric_add(PUSH_M_REPLICA_BEHIND, n);
        return -1;
    }
    push_metric_add(PUSH_M_REPLICA_UNUSABLE, n);
    if (rc != PUSH_DB_RUN_FAILED)
        replica_rest(pool);
    if (!replica_may_complain(pool))
        return -1;
    if (rc == PUSH_DB_RUN_FAILED) { /* a query error on a live connection (a recovery conflict) */
        const char *why = g.m.why[0] ? g.m.why : msg;
        push_log_warn("a read on the replica failed, made on the primary instead: %.*s",
                      (int)strcspn(why, "\n"), why);
    } else {
        const char *why = rc != PUSH_DB_RUN_OK ? msg
                          : g.outcome == GATE_NOT_STANDBY
                              ? "it is not a standby: promoted, or PUSH_REPLICA_DATABASE_URL names "
                                "a primary"
                              : "it is not on the primary's timeline: it replayed past the point "
                                "where a promoted standby took over (rebuild it, or pg_rewind it, "
                                "and point it at the new primary), or the new primary has not "
                                "taken its timeline yet";
        push_log_warn("the replica cannot be used (%.*s): reads go to the primary, and the "
                      "replica is tried again after %d s", (int)strcspn(why, "\n"), why,
                      REPLICA_REST_MS / 1000);
    }
    return -1;
}

int push_pool_read_many(struct push_pool *pool, struct push_store_read *reads, int n,
                        enum push_db_err *err, char *msg, size_t msglen)
{
    if (pool->replica && replica_read(pool, reads, n) == 0)
        return 0;

    struct many m = { reads, n, "" };
    struct push_db *db = push_pool_acquire(pool);
    enum push_db_run rc = push_db_run(db, read_many, &m, err, msg, msglen);

    push_pool_release(pool, db);
    if (rc == PUSH_DB_RUN_FAILED) {
        push_db_log_failure(m.why[0] ? m.why : msg);
        snprintf(msg, msglen, "the database query failed");
    }
    return rc == PUSH_DB_RUN_OK ? 0 : -1;
}
