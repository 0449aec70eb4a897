/* push_statecache.h: each user's stream state kept in the process, so an unchanged short poll needs no query */
#ifndef PUSH_STATECACHE_H
#define PUSH_STATECACHE_H

#include <stdint.h>

#include "store/push_store.h"

/* The cache holds what push_store_state read, by user, in a fixed number of slots (a user
 * hashes to one slot; a collision replaces). The process's LISTEN thread keeps it true:
 * push_statecache_changed drops a user (or everyone) on each notification, and while the LISTEN
 * connection is down nothing is kept or served, because notifications sent meanwhile are lost.
 *
 * A state read from the database is stored only when nothing was notified for its slot between
 * the lookup that missed (the ticket) and the store, so a change committed while the query ran
 * is never hidden. What is served can be as old as the notification latency: a poll answered
 * 304 in that window sees the change on its next poll, as if it had come a moment earlier. */

struct push_statecache;

/* Taken by a lookup that missed; lets push_statecache_put tell whether a change came since. */
struct push_statecache_ticket {
    uint64_t global, slot;
    unsigned index;
};

/* slots > 0; never fails (aborts when out of memory). Starts not listening (serving nothing). */
struct push_statecache *push_statecache_new(unsigned slots);
void push_statecache_free(struct push_statecache *c);

/* 1 and *st filled when user's state is kept; else 0 and *t filled for a later put. */
int push_statecache_get(struct push_statecache *c, const char *user, struct push_state *st,
                        struct push_statecache_ticket *t);

/* Keeps st as user's state, unless a change was notified since the lookup that gave t. */
void push_statecache_put(struct push_statecache *c, const char *user, const struct push_state *st,
                         const struct push_statecache_ticket *t);

/* user's state may have changed (NULL: everyone's). */
void push_statecache_changed(struct push_statecache *c, const char *user);

/* The LISTEN connection went down (0: drop everything, keep nothing) or is up again (1). */
void push_statecache_listening(struct push_statecache *c, int up);

/* Lookups answered from the cache and lookups that missed, since the start (for tests and
 * status). */
void push_statecache_stats(struct push_statecache *c, uint64_t *hits, uint64_t *misses);

#endif
