/* push_pool.h: a small, bounded set of database connections shared by all threads of a process */
#ifndef PUSH_POOL_H
#define PUSH_POOL_H

#include "store/push_db.h"

#define PUSH_POOL_MAX 64

struct push_pool;

/* A pool of size connections (1 to PUSH_POOL_MAX), each opened on first use. url and appname
 * are borrowed for the pool's life. Never fails (aborts when out of memory). */
struct push_pool *push_pool_new(const char *url, const char *appname, int size);

/* Borrows a connection slot, waiting while all are lent. Give it back with push_pool_release. */
struct push_db *push_pool_acquire(struct push_pool *pool);
void push_pool_release(struct push_pool *pool, struct push_db *db);

void push_pool_free(struct push_pool *pool);

#endif
