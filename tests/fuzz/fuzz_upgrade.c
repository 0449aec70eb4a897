/* fuzz_upgrade.c: the WebSocket upgrade request and the trusted headers. The first byte picks the
 * header push-ws trusts (none, X-Remote-User, Forwarded); the rest is the request head.
 * Properties: the head's end is the first blank line; a Forwarded value is accepted only when it
 * is one element (no comma outside quotes), its quotes are closed and no parameter is repeated,
 * and the user it yields holds no control character but a tab (a quoted name may hold '"', ',' or ';',
 * escaped: they are the name's own); a trusted header
 * that appears twice never yields a user; every field points inside the head. */
#include "config.h" /* defines _GNU_SOURCE (memmem) */
#include "fuzz.h"
#include "http/push_upgrade.h"

/* An independent reading of RFC 7239's syntax: one element, quotes closed, no parameter twice. */
static int one_element(const char *v)
{
    int quoted = 0, n = 0;
    const char *name[64];
    size_t nlen[64];

    for (const char *p = v; *p; p++) {
        if (quoted) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                quoted = 0;
        } else if (*p == '"') {
            quoted = 1;
        } else if (*p == ',') {
            return 0;
        } else if (*p == '=' && n < 64) { /* the parameter name before it */
            const char *s = p;
            while (s > v && s[-1] != ';' && s[-1] != ' ' && s[-1] != '\t')
                s--;
            for (int j = 0; j < n; j++)
                if (nlen[j] == (size_t)(p - s) && strncasecmp(name[j], s, nlen[j]) == 0)
                    return 0;
            name[n] = s;
            nlen[n++] = (size_t)(p - s);
        }
    }
    return !quoted;
}

/* no control character but HTAB, which a quoted-string may carry (RFC 9110 qdtext); push_auth
 * then refuses such a name as it refuses any invalid user name */
static int clean_name(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

/* how many header lines of the head are named name (case-insensitive) */
static int lines_named(const char *head, size_t len, const char *name)
{
    size_t n = strlen(name);
    int count = 0;

    for (size_t i = 0; i + n + 1 < len; i++)
        if ((i == 0 || head[i - 1] == '\n') && strncasecmp(head + i, name, n) == 0 && head[i + n] == ':')
            count++;
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *trusted[] = { NULL, "X-Remote-User", "Forwarded" };
    const char *header;
    struct push_upgrade u;
    char *head, *copy;
    size_t len, end;

    if (size < 1)
        return 0;
    header = trusted[data[0] % 3];
    len = size - 1;
    head = malloc(len + 1);
    copy = malloc(len + 1);
    if (!head || !copy)
        abort();
    memcpy(head, data + 1, len);
    head[len] = '\0';
    memcpy(copy, head, len + 1);
    end = push_upgrade_head_end(head, len);
    if (end) {
        PROPERTY(end >= 4 && end <= len && memcmp(head + end - 4, "\r\n\r\n", 4) == 0,
                 "the head's end is not after a blank line");
        const char *first = memmem(copy, len, "\r\n\r\n", 4);
        PROPERTY(first && (size_t)(first - copy) + 4 == end, "not the first blank line");
        enum push_upgrade_err err = push_upgrade_parse(head, end, header, &u);
        if (err == PUSH_UPGRADE_OK) {
            const char *fields[] = { u.path, u.query, u.host, u.origin, u.key, u.authorization,
                                     u.cookie, u.user, u.proto };
            for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
                PROPERTY(!fields[i] || (fields[i] >= head && fields[i] < head + end)
                             || (fields[i] == u.query && !*u.query), /* "" when none */
                         "field %zu points outside the head", i);
            if (header && u.user)
                PROPERTY(lines_named(copy, end, header) == 1, "%s given %d times yields a user",
                         header, lines_named(copy, end, header));
            if (u.user && header && strcmp(header, "Forwarded") == 0)
                PROPERTY(clean_name(u.user), "Forwarded yields the user \"%s\"", u.user);
        }
    }
    /* the Forwarded parser alone, on the whole input */
    char *user = NULL, *proto = NULL;
    memcpy(head, copy, len + 1);
    if (push_upgrade_forwarded(head, &user, &proto) == 0) {
        PROPERTY(one_element(copy), "accepted as one element: %s", copy);
        PROPERTY(!user || clean_name(user), "remote_user \"%s\" from %s", user, copy);
    }
    free(head);
    free(copy);
    return 0;
}
