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
/* Pokes come from NOTIFY 'x', which any role that may connect can send: a flood of them makes a
 * run at most this often (the next expiry's own time is kept to the millisecond). */
#define EXPIRY_POKE_GAP_MS 200L

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

/* Due now: the next expiry has come, or a poke, EXPIRY_POKE_GAP_MS after the last run. Else *at is
 * when to look again (-1: at the next signal). */
static int due(long long last_run, long long *at)
{
    long long now = wall_ms(), poke_at = last_run + EXPIRY_POKE_GAP_MS;

    *at = timer.next_ms;
    if (timer.next_ms >= 0 && now >= timer.next_ms)
        return 1;
    if (timer.poked && now >= poke_at)
        return 1;
    if (timer.poked && (*at < 0 || poke_at < *at))
        *at = poke_at;
    return 0;
}

static void *expiry_main(void *arg)
{
    long long last_run = 0, at;

    (void)arg;
    pthread_mutex_lock(&timer.lock);
    for (;;) {
        /* wait for the next expiry, or a poke */
        while (!due(last_run, &at)) {
            if (at < 0) {
                pthread_cond_wait(&timer.cond, &timer.lock);
            } else {
                struct timespec ts = { (time_t)(at / 1000), (long)(at % 1000) * 1000000 };
                pthread_cond_timedwait(&timer.cond, &timer.lock, &ts);
            }
        }
        timer.poked = 0;
        last_run = wall_ms();
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
        /* (push_expiry_overdue reads it without the lock) */
        __atomic_store_n(&timer.next_ms, next, __ATOMIC_RELAXED);
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
