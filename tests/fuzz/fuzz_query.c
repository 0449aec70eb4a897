/* fuzz_query.c: query strings and the Cookie header. Properties: any value survives being encoded
 * into a query string and decoded again, between any other parameters; a cookie's value is found
 * whole among other cookies, and nothing past its ';' leaks into it; arbitrary input never yields
 * a value longer than the query. */
#include "config.h"
#include "fuzz.h"
#include "http/push_query.h"

static size_t encode(const char *v, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *part[3];
    char *buf = fuzz_parts(data, size, part, 3);
    struct push_query *q = push_query_new();
    size_t qs_size = 3 * size + 64, hdr_size = size + 64; /* every byte encoded as %XX, and the rest */
    char *qs = malloc(qs_size), *hdr = malloc(hdr_size), out[256];
    const char *v;

    if (!qs || !hdr)
        abort();
    /* arbitrary text: whatever comes out is no longer than what went in */
    if (push_query_parse(q, part[0]) == PUSH_QUERY_OK && (v = push_query_get(q, "token")))
        PROPERTY(strlen(v) <= strlen(part[0]), "a value longer than its query");
    /* part 1 as a value, encoded between other parameters */
    size_t n = (size_t)snprintf(qs, qs_size, "a=1&token=");
    n += encode(part[1], qs + n);
    snprintf(qs + n, qs_size - n, "&b=2");
    if (push_query_parse(q, qs) == PUSH_QUERY_OK) {
        v = push_query_get(q, "token");
        PROPERTY(v && strcmp(v, part[1]) == 0, "\"%s\" came back as \"%s\"", part[1], v ? v : "(none)");
        PROPERTY(strcmp(push_query_get(q, "b"), "2") == 0, "the parameter after it was lost");
    } else {
        PROPERTY(strlen(qs) > PUSH_QUERY_MAX, "a well-formed query of %zu bytes was refused", strlen(qs));
    }
    /* part 2 as a cookie value (cookie-octets only: no ';', ',', space, quote, backslash, control) */
    int octets = 1;
    for (const unsigned char *p = (const unsigned char *)part[2]; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == ';' || *p == ',' || *p == '"' || *p == '\\')
            octets = 0;
    if (octets) {
        snprintf(hdr, hdr_size, "a=b; pgpush_token=%s; c=d", part[2]);
        int rc = push_cookie_get(hdr, "pgpush_token", out, sizeof out);
        if (strlen(part[2]) < sizeof out)
            PROPERTY(rc == 0 && strcmp(out, part[2]) == 0, "cookie \"%s\" came back as \"%s\"",
                     part[2], rc == 0 ? out : "(none)");
        else
            PROPERTY(rc == -2, "a cookie too long for its buffer was not refused");
    }
    /* arbitrary Cookie header: a value found holds no ';' */
    if (push_cookie_get(part[0], "pgpush_token", out, sizeof out) == 0)
        PROPERTY(!strchr(out, ';'), "a cookie value with ';' in it: %s", out);
    free(qs);
    free(hdr);
    free(q);
    free(buf);
    return 0;
}
