/* push_answercache.h: push-poll's last full answers kept in the process, served while the user's state is unchanged */
#ifndef PUSH_ANSWERCACHE_H
#define PUSH_ANSWERCACHE_H

#include <stddef.h>

#include "store/push_store.h"

/* An answer (the body of a 200) is a function of the user, the request's parameters and the
 * user's state as push_store_state reads it: the ETag is made of the same, and a 304 already rests
 * on it. So an answer read in one snapshot with state st is what a read would return for as long
 * as the user's state is st; states do not come back (heads and versions only grow, and a
 * deletion moves the content version). push-poll serves a kept answer only when the state cache
 * (kept true by its LISTEN connection) holds st for the user: never a state it has not proven.
 *
 * Fixed slots (a user hashes to one; a newer answer replaces), each answer at most
 * PUSH_ANSWER_MAX bytes (larger ones are not kept), so memory stays under
 * slots * (PUSH_ANSWER_MAX + PUSH_USER_MAX + about 300) bytes. */
#define PUSH_ANSWER_MAX 16384

struct push_answercache;

/* slots > 0; never fails (aborts when out of memory). */
struct push_answercache *push_answercache_new(unsigned slots);
void push_answercache_free(struct push_answercache *c);

/* 1 and *body (allocated: the caller frees) and *len when the answer to user's request key
 * (its parameters, canonical) read with state st is kept; else 0. */
int push_answercache_get(struct push_answercache *c, const char *user, const char *key,
                         const struct push_state *st, char **body, size_t *len);

/* Keeps body (len bytes) as the answer to user's request key read with state st. */
void push_answercache_put(struct push_answercache *c, const char *user, const char *key,
                          const struct push_state *st, const char *body, size_t len);

/* Answers served from the cache and lookups that found none, since the start. */
void push_answercache_stats(struct push_answercache *c, unsigned long *hits, unsigned long *misses);

#endif
