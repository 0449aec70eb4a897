/* push_expiry.h: the process's one expiry timer (sql/migrations/0007_changes.sql) */
#ifndef PUSH_EXPIRY_H
#define PUSH_EXPIRY_H

#include "store/push_pool.h"

/* Starts the timer's thread: it runs push.expire_due() on a connection of pool when first poked
 * (the hub does when its first stream joins), then at each next expiry it answers, and whenever
 * it is poked again. Marking a message expired logs its
 * deletion, which wakes its streams: every open client gets the delete event then, through the
 * usual wake-ups. One per process, whatever the number of streams; several processes share the
 * work (push.expire_due skips the rows another is marking). Call once; pool is borrowed for the
 * process's life. */
void push_expiry_start(struct push_pool *pool);

/* A message may have been given an expiry (the 'x' notification), or the LISTEN was away:
 * run push.expire_due() again now. Any thread; nothing when the timer is not started. */
void push_expiry_poke(void);

/* Has an expiry come that the timer has not marked yet? Then what a stream holds in memory may
 * count a message a read would not: memory-first delivery reads instead (push_loop). 0 when the
 * timer is not started. */
int push_expiry_overdue(void);

#endif
