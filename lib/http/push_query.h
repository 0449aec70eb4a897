/* push_query.h: query-string and cookie parsing with stated bounds */
#ifndef PUSH_QUERY_H
#define PUSH_QUERY_H

#include <stddef.h>

#define PUSH_QUERY_MAX 4096   /* longest query string accepted, bytes */
#define PUSH_QUERY_PARAMS 32  /* most parameters accepted */

struct push_query {
    char buf[PUSH_QUERY_MAX + 1]; /* decoded keys and values live here */
    const char *key[PUSH_QUERY_PARAMS];
    const char *value[PUSH_QUERY_PARAMS];
    int n;
};

enum push_query_err {
    PUSH_QUERY_OK,
    PUSH_QUERY_TOO_LONG,
    PUSH_QUERY_TOO_MANY,
    PUSH_QUERY_BAD_ENCODING, /* bad %-escape, or one that decodes to NUL */
};

/* A struct push_query on the heap (it is over 4 KiB: too big for small thread stacks that stay
 * resident for a stream's whole life); aborts when out of memory. Free it with free(). */
struct push_query *push_query_new(void);

/* Parses "a=1&b=x%20y" (NULL or "" give no parameters) into q, decoding %XX and '+'. */
enum push_query_err push_query_parse(struct push_query *q, const char *qs);

/* The first value of key, or NULL. A key without '=' has the value "". */
const char *push_query_get(const struct push_query *q, const char *key);

/* Is key given more than once? */
int push_query_repeated(const struct push_query *q, const char *key);

const char *push_query_strerror(enum push_query_err err);

/* Copies the value of cookie name from a Cookie header into out (size bytes). Returns 0; -1
 * when the header is NULL or the cookie absent; -2 when its value does not fit. */
int push_cookie_get(const char *header, const char *name, char *out, size_t size);

#endif
