/* push_query.c: query-string and cookie parsing */
#include "config.h"

#include "http/push_query.h"

#include <stdlib.h>
#include <string.h>

#include "core/push_util.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes s in place up to its NUL; returns 0, or -1 on a bad escape or a NUL byte. */
static int url_decode(char *s)
{
    char *out = s;

    for (; *s; s++) {
        if (*s == '+') {
            *out++ = ' ';
        } else if (*s == '%') {
            int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -1;
            *out++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
    return 0;
}

enum push_query_err push_query_parse(struct push_query *q, const char *qs)
{
    size_t len = qs ? strlen(qs) : 0;
    char *p;

    q->n = 0;
    if (len > PUSH_QUERY_MAX)
        return PUSH_QUERY_TOO_LONG;
    memcpy(q->buf, qs ? qs : "", len + 1);
    for (p = q->buf; *p;) {
        char *amp = strchr(p, '&');
        char *eq;

        if (amp)
            *amp = '\0';
        if (*p) {
            if (q->n == PUSH_QUERY_PARAMS)
                return PUSH_QUERY_TOO_MANY;
            eq = strchr(p, '=');
            if (eq)
                *eq = '\0';
            if (url_decode(p) < 0 || (eq && url_decode(eq + 1) < 0))
                return PUSH_QUERY_BAD_ENCODING;
            q->key[q->n] = p;
            q->value[q->n] = eq ? eq + 1 : "";
            q->n++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return PUSH_QUERY_OK;
}

const char *push_query_get(const struct push_query *q, const char *key)
{
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->key[i], key) == 0)
            return q->value[i];
    return NULL;
}

int push_query_repeated(const struct push_query *q, const char *key)
{
    int seen = 0;

    for (int i = 0; i < q->n; i++)
        if (strcmp(q->key[i], key) == 0 && ++seen > 1)
            return 1;
    return 0;
}

const char *push_query_strerror(enum push_query_err err)
{
    switch (err) {
    case PUSH_QUERY_OK: return "ok";
    case PUSH_QUERY_TOO_LONG: return "query string longer than 4096 bytes";
    case PUSH_QUERY_TOO_MANY: return "more than 32 query parameters";
    case PUSH_QUERY_BAD_ENCODING: return "bad percent-encoding in the query string";
    }
    return "unknown query error";
}

int push_cookie_get(const char *header, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = header;

    while (p && *p) {
        p += strspn(p, " \t;");
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            const char *v = p + nlen + 1;
            size_t vlen = strcspn(v, ";");
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"')
                v++, vlen -= 2;
            if (vlen >= size)
                return -2;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p = strchr(p, ';');
    }
    return -1;
}

struct push_query *push_query_new(void)
{
    struct push_query *q = xmalloc(sizeof *q);

    q->n = 0;
    return q;
}
