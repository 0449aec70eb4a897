/* push_pool.c: lending database connections to threads */
#include "config.h"

#include "store/push_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_log.h"
#include "core/push_util.h"

struct push_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int size, nfree;
    struct push_db *slots;
    struct push_db **free_list;
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

void push_pool_free(struct push_pool *pool)
{
    if (!pool)
        return;
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

int push_pool_read_many(struct push_pool *pool, struct push_store_read *reads, int n,
                        enum push_db_err *err, char *msg, size_t msglen)
{
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
