/* push_cursor.c: cursor text form, user tags */
#include "config.h"

#include "core/push_cursor.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char hexdigits[] = "0123456789abcdef";

void push_cursor_tag(const char *user, char tag[PUSH_CURSOR_TAG_LEN + 1])
{
    /* not a secret: a keyed hash only so the tag means nothing outside pgpush */
    static const char domain[] = "pgpush cursor tag";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    HMAC(EVP_sha256(), domain, (int)sizeof domain - 1, (const unsigned char *)user, strlen(user),
         md, &mdlen);
    for (int i = 0; i < PUSH_CURSOR_TAG_LEN / 2; i++) {
        tag[2 * i] = hexdigits[md[i] >> 4];
        tag[2 * i + 1] = hexdigits[md[i] & 15];
    }
    tag[PUSH_CURSOR_TAG_LEN] = '\0';
}

void push_cursor_format(const struct push_cursor *c, const char *tag, char buf[PUSH_CURSOR_MAX])
{
    snprintf(buf, PUSH_CURSOR_MAX, "%llx-%llx-%.8s", (unsigned long long)c->personal,
             (unsigned long long)c->broadcast, tag);
}

/* Parses 1 to 16 lowercase hex digits without leading zeros ending at stop; returns the end,
 * or NULL when malformed or above INT64_MAX. */
static const char *parse_hex(const char *s, char stop, int64_t *out)
{
    uint64_t v = 0;
    const char *p = s;

    for (; *p && *p != stop; p++) {
        const char *d = strchr(hexdigits, *p);
        if (!d || p - s >= 16)
            return NULL;
        v = v * 16 + (uint64_t)(d - hexdigits);
    }
    if (p == s || *p != stop || (p - s > 1 && *s == '0') || v > INT64_MAX)
        return NULL;
    *out = (int64_t)v;
    return p;
}

enum push_cursor_err push_cursor_parse(const char *text, const char *tag, struct push_cursor *c)
{
    struct push_cursor tmp;
    const char *p;

    if (strlen(text) >= PUSH_CURSOR_MAX)
        return PUSH_CURSOR_MALFORMED;
    if (!(p = parse_hex(text, '-', &tmp.personal)) || !(p = parse_hex(p + 1, '-', &tmp.broadcast)))
        return PUSH_CURSOR_MALFORMED;
    p++;
    if (strlen(p) != PUSH_CURSOR_TAG_LEN || strspn(p, hexdigits) != PUSH_CURSOR_TAG_LEN)
        return PUSH_CURSOR_MALFORMED;
    if (memcmp(p, tag, PUSH_CURSOR_TAG_LEN) != 0)
        return PUSH_CURSOR_WRONG_USER;
    *c = tmp;
    return PUSH_CURSOR_OK;
}

const char *push_cursor_strerror(enum push_cursor_err err)
{
    switch (err) {
    case PUSH_CURSOR_OK: return "ok";
    case PUSH_CURSOR_MALFORMED: return "not a valid cursor";
    case PUSH_CURSOR_WRONG_USER: return "cursor belongs to another user";
    }
    return "unknown cursor error";
}
