/* push_readq.c: queued reads, taken in batches by whichever waiting thread gets a connection */
#include "config.h"

#include "runtime/push_readq.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_log.h"
#include "core/push_util.h"

/* One queued read; lives on its thread's stack. */
struct req {
    struct push_store_read *r;
    struct req *prev, *next; /* in the queue until taken (the queue's lock) */
    struct req *batch;       /* the next read of the same batch, once taken */
    int queued;              /* the queue's lock */
    /* posted when the read is done, or when a connection came free and it may run a batch;
     * a semaphore, because its owner may return the moment it sees done, and sem_post (unlike
     * signalling a condition variable outside its lock) is safe against that */
    sem_t wake;
    int done;                /* atomic: set before the post that tells it */
    int rc;
    enum push_db_err err;
    char msg[128];
};

struct push_readq {
    pthread_mutex_t lock;
    struct push_pool *pool;
    struct req *head, *tail;
    int idle; /* connections no batch holds */
};

struct push_readq *push_readq_new(struct push_pool *pool, int conns)
{
    struct push_readq *q = xcalloc(1, sizeof *q);

    pthread_mutex_init(&q->lock, NULL);
    q->pool = pool;
    q->idle = conns > 0 ? conns : 1;
    return q;
}

void push_readq_free(struct push_readq *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static void unlink_req(struct push_readq *q, struct req *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        q->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        q->tail = x->prev;
    x->prev = x->next = NULL;
    x->queued = 0;
}

/* Takes self and up to PUSH_STORE_MANY_MAX - 1 more from the head; called with the lock. */
static struct req *take_batch(struct push_readq *q, struct req *self, int *n)
{
    struct req *first = self, *last = self;

    unlink_req(q, self);
    *n = 1;
    while (q->head && *n < PUSH_STORE_MANY_MAX) {
        struct req *x = q->head;
        unlink_req(q, x);
        last->batch = x;
        last = x;
        (*n)++;
    }
    last->batch = NULL;
    return first;
}

struct many {
    struct push_store_read *reads;
    int n;
};

static int read_many(struct push_db *db, PGconn *conn, void *arg)
{
    struct many *m = arg;

    return push_store_prepare(db, conn) == 0 && push_store_read_many(conn, m->reads, m->n) == 0 ? 0 : -1;
}

int push_readq_run_on(struct push_db *db, struct push_store_read *reads, int n,
                      enum push_db_err *err, char *msg, size_t msglen)
{
    struct many m = { reads, n };

    switch (push_db_run(db, read_many, &m, err, msg, msglen)) {
    case PUSH_DB_RUN_OK:
        return 0;
    case PUSH_DB_RUN_FAILED:
        push_log_error("query failed: %.*s", (int)strcspn(msg, "\n"), msg);
        snprintf(msg, msglen, "the database query failed");
        break;
    case PUSH_DB_RUN_DOWN:
        break;
    }
    return -1;
}

int push_readq_run(struct push_pool *pool, struct push_store_read *reads, int n,
                   enum push_db_err *err, char *msg, size_t msglen)
{
    struct push_db *db = push_pool_acquire(pool);
    int rc = push_readq_run_on(db, reads, n, err, msg, msglen);

    push_pool_release(pool, db);
    return rc;
}

/* Runs the batch (first and the reads chained to it) and hands each its results. */
static int run_batch(struct push_readq *q, struct req *first, int n, enum push_db_err *err,
                     char *msg, size_t msglen)
{
    struct push_store_read *reads = calloc((size_t)n, sizeof *reads);
    struct req *x;
    int rc, i;

    if (!reads)
        abort();
    for (x = first, i = 0; x; x = x->batch, i++)
        reads[i] = *x->r;
    rc = push_readq_run(q->pool, reads, n, err, msg, msglen);
    for (x = first, i = 0; x; x = x->batch, i++) {
        x->r->msgs = reads[i].msgs;
        x->r->unread = reads[i].unread;
    }
    free(reads);
    return rc;
}

/* Called with the queue's lock by a thread whose read is queued and a connection idle: takes
 * a batch, runs it, hands out the results. Returns with the lock held again. */
static void run_turn(struct push_readq *q, struct req *self)
{
    int n, rc;
    struct req *first = take_batch(q, self, &n), *x, *next;

    q->idle--;
    if (q->head && q->idle > 0) /* more waiting than one batch takes */
        sem_post(&q->head->wake);
    pthread_mutex_unlock(&q->lock);
    rc = run_batch(q, first, n, &self->err, self->msg, sizeof self->msg);
    self->rc = rc;
    for (x = first->batch; x; x = next) { /* first is self */
        next = x->batch;                 /* x may be gone once told */
        x->rc = rc;
        x->err = self->err;
        memcpy(x->msg, self->msg, sizeof x->msg);
        __atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
        sem_post(&x->wake);
    }
    pthread_mutex_lock(&q->lock);
    q->idle++;
    /* a connection is free again: the oldest waiting read may run the next batch */
    if (q->head)
        sem_post(&q->head->wake);
}

int push_readq_read(struct push_readq *q, struct push_store_read *r, enum push_db_err *err,
                    char *msg, size_t msglen)
{
    struct req self = { .r = r };

    r->msgs = r->unread = NULL;
    sem_init(&self.wake, 0, 0);
    pthread_mutex_lock(&q->lock);
    self.prev = q->tail;
    if (q->tail)
        q->tail->next = &self;
    else
        q->head = &self;
    q->tail = &self;
    self.queued = 1;
    for (;;) {
        if (self.queued && q->idle > 0) {
            run_turn(q, &self);
            pthread_mutex_unlock(&q->lock);
            break;
        }
        pthread_mutex_unlock(&q->lock);
        while (sem_wait(&self.wake) < 0)
            ; /* EINTR */
        if (__atomic_load_n(&self.done, __ATOMIC_ACQUIRE))
            break;
        pthread_mutex_lock(&q->lock);
    }
    sem_destroy(&self.wake);
    if (self.rc < 0) {
        *err = self.err;
        snprintf(msg, msglen, "%s", self.msg);
    }
    return self.rc;
}
