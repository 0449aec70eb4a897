/* push_expiry.c: one thread that runs push.expire_due() when an expiry comes */
#include "config.h"

#include "runtime/push_expiry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/push_log.h"
#include "core/push_metrics.h"
#include "store/push_store.h"

#define EXPIRY_RETRY_MS 5000L /* after a failed run (the database away) */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct push_pool *pool;
    int started, poked;
    int failing; /* the last run failed (said once in the log, until one succeeds) */
    long long next_ms; /* the next expiry (Unix ms, CLOCK_REALTIME: PostgreSQL's clock is a wall
                        * clock too); -1: none known */
} timer = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, -1 };

static long long wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int run_fn(struct push_db *db, PGconn *conn, void *arg)
{
    (void)db;
    return push_store_expire_due(conn, arg);
}

static void *expiry_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&timer.lock);
    for (;;) {
        /* wait for the next expiry, or a poke */
        while (!timer.poked && (timer.next_ms < 0 || wall_ms() < timer.next_ms)) {
            if (timer.next_ms < 0) {
                pthread_cond_wait(&timer.cond, &timer.lock);
            } else {
                struct timespec at = { (time_t)(timer.next_ms / 1000),
                                       (long)(timer.next_ms % 1000) * 1000000 };
                pthread_cond_timedwait(&timer.cond, &timer.lock, &at);
            }
        }
        timer.poked = 0;
        pthread_mutex_unlock(&timer.lock);

        long long next = -1;
        enum push_db_err err;
        char msg[256];
        struct push_db *db = push_pool_acquire(timer.pool);
        enum push_db_run rc = push_db_run(db, run_fn, &next, &err, msg, sizeof msg);
        push_pool_release(timer.pool, db);
        push_metric_add(PUSH_M_EXPIRY_RUNS, 1);
        if (rc != PUSH_DB_RUN_OK) {
            /* a failed query, once until one succeeds; the database away is said by the requests
             * and the LISTEN connection already */
            if (!timer.failing && rc == PUSH_DB_RUN_FAILED)
                push_db_log_failure(msg);
            else if (!timer.failing)
                push_log_debug("the expiry timer cannot reach the database (%s); it tries again "
                               "every %ld s", msg, EXPIRY_RETRY_MS / 1000);
            next = wall_ms() + EXPIRY_RETRY_MS;
        }
        timer.failing = rc != PUSH_DB_RUN_OK;
        pthread_mutex_lock(&timer.lock);
        timer.next_ms = next;
    }
    return NULL;
}

void push_expiry_start(struct push_pool *pool)
{
    pthread_t t;
    pthread_attr_t attr;
    int rc;

    pthread_mutex_lock(&timer.lock);
    if (timer.started) {
        pthread_mutex_unlock(&timer.lock);
        return;
    }
    timer.pool = pool;
    timer.started = 1;
    /* the first run comes when the first stream joins the hub (push_hub pokes then, and each
     * time its LISTEN is back): what came due while no process ran, or while this one was cut
     * off */
    pthread_mutex_unlock(&timer.lock);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if ((rc = pthread_create(&t, &attr, expiry_main, NULL)) != 0) {
        push_log_error("cannot start the expiry timer: %s", strerror(rc));
        abort();
    }
    pthread_attr_destroy(&attr);
}

void push_expiry_poke(void)
{
    pthread_mutex_lock(&timer.lock);
    if (timer.started) {
        timer.poked = 1;
        pthread_cond_signal(&timer.cond);
    }
    pthread_mutex_unlock(&timer.lock);
}

int push_expiry_overdue(void)
{
    long long next = __atomic_load_n(&timer.next_ms, __ATOMIC_RELAXED);

    return next >= 0 && wall_ms() >= next;
}
