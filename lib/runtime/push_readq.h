/* push_readq.h: the wake-up reads of many streams, combined into one query per turn of a pooled connection */
#ifndef PUSH_READQ_H
#define PUSH_READQ_H

#include <stddef.h>

#include "store/push_db.h"
#include "store/push_pool.h"
#include "store/push_store.h"

/* A broadcast wakes every stream at once, and each would read its user's new messages and
 * counts: two queries per stream, 18,000 for 9,000 streams, through a few pooled connections.
 * Here a woken stream queues its read instead; a thread that finds a connection free takes up
 * to PUSH_STORE_MANY_MAX queued reads (its own among them) and runs them as one
 * push_store_read_many, then hands each waiting stream its rows. Readers queue while the
 * connections are busy, so the busier the process, the larger the batches. */

struct push_readq;

/* At most conns reads run at once (the pool's size); the pool is borrowed for the queue's life. */
struct push_readq *push_readq_new(struct push_pool *pool, int conns);
void push_readq_free(struct push_readq *q);

/* r->user, r->after and r->limit in; on 0, r->msgs and r->unread filled (the caller clears
 * them). On -1 (a database error, logged here) *err and msg say why. */
int push_readq_read(struct push_readq *q, struct push_store_read *r, enum push_db_err *err,
                    char *msg, size_t msglen);

/* Runs n reads (1 to PUSH_STORE_MANY_MAX) now as one push_store_read_many on a connection of
 * pool (waiting for one), replacing a connection found lost once. 0, or -1 with *err and msg
 * (a failed query is logged here). */
int push_readq_run(struct push_pool *pool, struct push_store_read *reads, int n,
                   enum push_db_err *err, char *msg, size_t msglen);

/* The same on db, a connection the caller holds (a worker's own). */
int push_readq_run_on(struct push_db *db, struct push_store_read *reads, int n,
                      enum push_db_err *err, char *msg, size_t msglen);

#endif
