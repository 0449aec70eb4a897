/* push_pool.h: a small, bounded set of database connections shared by all threads of a process */
#ifndef PUSH_POOL_H
#define PUSH_POOL_H

#include "store/push_db.h"
#include "store/push_store.h"

#define PUSH_POOL_MAX 64

struct push_pool;

/* A pool of size connections (1 to PUSH_POOL_MAX), each opened on first use. url and appname
 * are borrowed for the pool's life. Never fails (aborts when out of memory). */
struct push_pool *push_pool_new(const char *url, const char *appname, int size);

/* Borrows a connection slot, waiting while all are lent. Give it back with push_pool_release. */
struct push_db *push_pool_acquire(struct push_pool *pool);
void push_pool_release(struct push_pool *pool, struct push_db *db);

/* Sends push_pool_read_many's reads to a hot standby (PUSH_REPLICA_DATABASE_URL: url, borrowed
 * for the pool's life), as many connections as the pool has, each read once the standby has
 * replayed past the primary's WAL position taken when the read began; after wait_ms
 * (PUSH_REPLICA_WAIT) without it, or when the standby cannot be used, on the pool's own
 * connections. Call once, before any read. */
void push_pool_replicas(struct push_pool *pool, const char *url, const char *appname, int wait_ms);

/* Connections lent out now, and the pool's size (a moment's value, for the metrics). */
int push_pool_busy(struct push_pool *pool, int *size);

void push_pool_free(struct push_pool *pool);

/* Runs n reads (1 to PUSH_STORE_MANY_MAX) as one push_store_read_many on a connection of pool
 * (waiting for one), once more on a new connection when it was found lost (push_db_run): the
 * reads of every stream a broadcast woke, and the first reads of a reconnect storm, as a few
 * statements. 0 with every msgs and unread filled (the caller clears them), or -1 with *err and
 * msg (a failed query is logged here, and msg then says only that it failed). */
int push_pool_read_many(struct push_pool *pool, struct push_store_read *reads, int n,
                        enum push_db_err *err, char *msg, size_t msglen);

#endif
