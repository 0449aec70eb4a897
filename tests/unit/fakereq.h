/* fakereq.h: a push_request for the unit tests: its answer goes to memory, its body comes from a
 * string, and a write or flush can be made to fail */
#ifndef PUSH_UNIT_FAKEREQ_H
#define PUSH_UNIT_FAKEREQ_H

#include <string.h>

#include <check.h>

#include "http/push_request.h"

struct fake {
    char out[256 * 1024];
    size_t out_len;
    int writes, flushes;
    int fail_write;   /* the write call (0-based) that fails; -1: none */
    int fail_flush;
    const char *in;   /* what the client sends */
    size_t in_len, in_pos;
    size_t chunk;     /* most bytes per read; 0: no limit */
    int read_error;   /* read returns -1 once the input is used up */
};

static int fake_write(void *ctx, const char *buf, size_t len)
{
    struct fake *f = ctx;

    if (f->writes++ == f->fail_write)
        return -1;
    ck_assert_uint_le(f->out_len + len, sizeof f->out);
    memcpy(f->out + f->out_len, buf, len);
    f->out_len += len;
    return 0;
}

static int fake_flush(void *ctx)
{
    struct fake *f = ctx;

    f->flushes++;
    return f->fail_flush ? -1 : 0;
}

static long fake_read(void *ctx, char *buf, size_t len)
{
    struct fake *f = ctx;
    size_t n = f->in_len - f->in_pos;

    if (n == 0)
        return f->read_error ? -1 : 0;
    if (n > len)
        n = len;
    if (f->chunk && n > f->chunk)
        n = f->chunk;
    memcpy(buf, f->in + f->in_pos, n);
    f->in_pos += n;
    return (long)n;
}

static const struct push_request_io fake_io = {
    .write = fake_write,
    .flush = fake_flush,
    .read = fake_read,
};

/* Empties f (no failure planted) and points r at it, with no CGI variables. */
static inline void fake_request(struct fake *f, struct push_request *r)
{
    static char *no_env[] = { NULL };

    memset(f, 0, sizeof *f);
    f->fail_write = -1;
    *r = (struct push_request){ .envp = no_env, .io = &fake_io, .io_ctx = f };
}

#endif
