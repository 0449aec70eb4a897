/* push_util.c: allocation that cannot fail, the monotonic clock, eventfd wake-ups */
#include "config.h"

#include "core/push_util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/push_log.h"

static void *enough(void *p)
{
    if (!p) {
        push_log_error("out of memory");
        abort();
    }
    return p;
}

void *xmalloc(size_t size)
{
    return enough(malloc(size ? size : 1));
}

void *xcalloc(size_t n, size_t size)
{
    return enough(calloc(n ? n : 1, size ? size : 1));
}

void *xrealloc(void *p, size_t size)
{
    return enough(realloc(p, size ? size : 1));
}

char *xstrdup(const char *s)
{
    return enough(strdup(s));
}

void push_stripes_init(struct push_stripes *s)
{
    for (int i = 0; i < PUSH_STRIPES; i++)
        pthread_mutex_init(&s->lock[i], NULL);
}

void push_stripes_destroy(struct push_stripes *s)
{
    for (int i = 0; i < PUSH_STRIPES; i++)
        pthread_mutex_destroy(&s->lock[i]);
}

pthread_mutex_t *push_stripe(struct push_stripes *s, unsigned i)
{
    return &s->lock[i % PUSH_STRIPES];
}

uint32_t push_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

long push_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

long push_expiry_ms(int64_t expires)
{
    struct timespec ts;
    long at;

    if (!expires)
        return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    at = push_now_ms() + (long)(expires - ts.tv_sec) * 1000L - ts.tv_nsec / 1000000L;
    return at > 0 ? at : 1;
}

struct timespec push_deadline(long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int push_kick(int fd)
{
    uint64_t one = 1;

    while (write(fd, &one, sizeof one) < 0) {
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return 0;
        push_log_error("eventfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}
