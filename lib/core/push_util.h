/* push_util.h: the bottom layer: allocation that cannot fail, the monotonic clock, eventfd wake-ups,
 * the string hash.
 * Includes nothing of the project's, so that every other module may use it. */
#ifndef PUSH_UTIL_H
#define PUSH_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* malloc, calloc, realloc and strdup that never return NULL: when memory runs out they log
 * "out of memory" and abort (a server that cannot allocate cannot answer either). */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);

/* The locks of a table of slots shared by threads: slot i is guarded by push_stripe(s, i), one of
 * PUSH_STRIPES, so that threads rarely wait on each other and the table needs no lock per slot. */
#define PUSH_STRIPES 64
struct push_stripes {
    pthread_mutex_t lock[PUSH_STRIPES];
};
void push_stripes_init(struct push_stripes *s);
void push_stripes_destroy(struct push_stripes *s);
pthread_mutex_t *push_stripe(struct push_stripes *s, unsigned i);

/* FNV-1a of the NUL-terminated s: the one hash of user names into buckets and slots. */
uint32_t push_hash(const char *s);

/* Milliseconds on CLOCK_MONOTONIC: for deadlines and durations, never for dates. */
long push_now_ms(void);

/* The Unix time expires (a token's expiry) on push_now_ms's clock; 0 when expires is 0 (never). */
long push_expiry_ms(int64_t expires);

/* The CLOCK_MONOTONIC time ms milliseconds from now, as pthread_cond_timedwait wants it (with a
 * condition variable set to CLOCK_MONOTONIC). */
struct timespec push_deadline(long ms);

/* Wakes the thread that polls the eventfd fd: adds 1 to its counter, again when interrupted by a
 * signal. A full counter (EAGAIN) is not an error: the reader is woken already. Other failures
 * are logged; returns 0, or -1 after such a failure (errno set). */
int push_kick(int fd);

#endif
