/* push_upgrade.c: parsing and checking the WebSocket upgrade request */
#include "config.h"

#include "http/push_upgrade.h"

#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

size_t push_upgrade_head_end(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i + 1;
    return 0;
}

static char *trim(char *s)
{
    size_t n;

    s += strspn(s, " \t");
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Does the comma-separated list hold token (ignoring case)? */
static int list_has(const char *list, const char *token)
{
    size_t tlen = strlen(token);

    for (const char *s = list; *s;) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, ",");
        size_t m = n;
        while (m > 0 && (s[m - 1] == ' ' || s[m - 1] == '\t'))
            m--;
        if (m == tlen && strncasecmp(s, token, tlen) == 0)
            return 1;
        s += n;
    }
    return 0;
}

/* Stores value into *slot; a header given twice is refused. */
static int set_once(const char **slot, const char *value)
{
    if (*slot)
        return -1;
    *slot = value;
    return 0;
}

static int key_valid(const char *key)
{
    size_t n = strlen(key);

    /* 16 bytes in base64: 22 characters and "==" */
    return n == 24 && key[22] == '=' && key[23] == '='
           && strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") == 22;
}

/* Does buf[0, len) hold a CR or LF that is not part of a CRLF? A bare LF ends a line for some
 * servers and not for us (RFC 9112 2.2): what one reads as two headers the other reads as one. */
static int bare_cr_lf(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((buf[i] == '\r' && (i + 1 == len || buf[i + 1] != '\n'))
            || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
            return 1;
    return 0;
}

enum push_upgrade_err push_upgrade_parse(char *buf, size_t len, const char *user_header,
                                         struct push_upgrade *u)
{
    const char *upgrade = NULL, *connection = NULL, *version = NULL;
    char *line, *next, *sp, *target;
    int is_get;

    memset(u, 0, sizeof *u);
    if (len < 4 || memchr(buf, '\0', len) || bare_cr_lf(buf, len))
        return PUSH_UPGRADE_MALFORMED;
    buf[len - 2] = '\0'; /* the blank line */
    /* the request line: METHOD SP target SP HTTP/1.1 */
    if (!(next = strstr(buf, "\r\n")))
        return PUSH_UPGRADE_MALFORMED;
    *next = '\0';
    next += 2;
    if (!(sp = strchr(buf, ' ')))
        return PUSH_UPGRADE_MALFORMED;
    *sp = '\0';
    is_get = strcmp(buf, "GET") == 0;
    target = sp + 1;
    if (!(sp = strchr(target, ' ')) || strcmp(sp + 1, "HTTP/1.1") != 0 || target[0] != '/')
        return PUSH_UPGRADE_MALFORMED;
    *sp = '\0';
    u->path = target;
    u->query = "";
    if ((sp = strchr(target, '?'))) {
        *sp = '\0';
        u->query = sp + 1;
    }
    for (line = next; *line; line = next) {
        char *colon, *name, *value;
        const char **slot = NULL;
        if (!(next = strstr(line, "\r\n")))
            next = line + strlen(line);
        else
            *next = '\0', next += 2;
        /* obsolete line folding and names with spaces are refused: no guessing at ambiguity */
        if (*line == ' ' || *line == '\t' || !(colon = strchr(line, ':')) || colon == line)
            return PUSH_UPGRADE_MALFORMED;
        *colon = '\0';
        name = line;
        if (strcspn(name, " \t") != strlen(name))
            return PUSH_UPGRADE_MALFORMED;
        value = trim(colon + 1);
        if (strcasecmp(name, "Host") == 0) slot = &u->host;
        else if (strcasecmp(name, "Origin") == 0) slot = &u->origin;
        else if (strcasecmp(name, "Sec-WebSocket-Key") == 0) slot = &u->key;
        else if (strcasecmp(name, "Sec-WebSocket-Version") == 0) slot = &version;
        else if (strcasecmp(name, "Upgrade") == 0) slot = &upgrade;
        else if (strcasecmp(name, "Connection") == 0) slot = &connection;
        else if (strcasecmp(name, "Authorization") == 0) slot = &u->authorization;
        else if (strcasecmp(name, "Cookie") == 0) slot = &u->cookie;
        else if (strcasecmp(name, "X-Forwarded-Proto") == 0) slot = &u->proto;
        else if (user_header && *user_header && strcasecmp(name, user_header) == 0) slot = &u->user;
        if (slot && set_once(slot, value) < 0)
            return slot == &u->user ? PUSH_UPGRADE_IDENTITY : PUSH_UPGRADE_MALFORMED;
    }
    if (u->user && strcasecmp(user_header, "Forwarded") == 0) {
        char *user, *proto;
        if (push_upgrade_forwarded((char *)u->user, &user, &proto) < 0)
            return PUSH_UPGRADE_IDENTITY;
        u->user = user;
        u->proto = proto; /* the proxy's word, not a header the client may have added */
    }
    if (!is_get)
        return PUSH_UPGRADE_METHOD;
    if (!upgrade || !connection || !list_has(upgrade, "websocket") || !list_has(connection, "upgrade"))
        return PUSH_UPGRADE_NOT_WEBSOCKET;
    if (!version || strcmp(version, "13") != 0)
        return PUSH_UPGRADE_VERSION;
    if (!u->key || !key_valid(u->key))
        return PUSH_UPGRADE_BAD_KEY;
    return PUSH_UPGRADE_OK;
}

/* RFC 7230 tchar */
static int is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Parses a quoted-string whose opening quote is at *p, decoding it in place; *p moves past the
 * closing quote. -1 when it is not closed, or holds a control character. */
static int quoted_string(char **p, char **value)
{
    char *s = *p + 1, *out = s;

    *value = s;
    for (; *s != '"'; s++) {
        if (*s == '\\')
            s++;
        if (*s == '\0' || ((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return -1;
        *out++ = *s;
    }
    *p = s + 1;
    *out = '\0';
    return 0;
}

#define FORWARDED_PARAMS_MAX 16 /* parameters in the one element; a proxy writes four or five */

int push_upgrade_forwarded(char *value, char **user, char **proto)
{
    const char *names[FORWARDED_PARAMS_MAX];
    size_t nnames = 0;
    char *p = value;

    *user = *proto = NULL;
    for (;;) {
        char *name, *v;
        size_t n;

        p += strspn(p, " \t;");
        if (!*p)
            return 0;
        for (name = p; is_tchar((unsigned char)*p); p++)
            ;
        n = (size_t)(p - name);
        if (n == 0 || *p != '=')
            return -1; /* a comma (a second element) lands here too */
        *p++ = '\0';
        char *vend = NULL; /* where a token value ends, NUL-terminated once its delimiter is read */
        if (*p == '"') {
            if (quoted_string(&p, &v) < 0)
                return -1;
        } else {
            for (v = p; is_tchar((unsigned char)*p); p++)
                ;
            if (p == v)
                return -1;
            vend = p;
        }
        p += strspn(p, " \t");
        if (*p != ';' && *p != '\0')
            return -1;
        if (*p)
            p++;
        if (vend)
            *vend = '\0';
        /* RFC 7239 4: each parameter at most once per element, ours and extensions alike */
        for (size_t i = 0; i < nnames; i++)
            if (strcasecmp(name, names[i]) == 0)
                return -1;
        if (nnames == FORWARDED_PARAMS_MAX)
            return -1;
        names[nnames++] = name;
        if (strcasecmp(name, "remote_user") == 0)
            *user = v;
        else if (strcasecmp(name, "proto") == 0)
            *proto = v;
    }
}

const char *push_upgrade_strerror(enum push_upgrade_err err)
{
    switch (err) {
    case PUSH_UPGRADE_OK: return "ok";
    case PUSH_UPGRADE_MALFORMED: return "the request is not a well-formed HTTP/1.1 request";
    case PUSH_UPGRADE_METHOD: return "use GET with a WebSocket upgrade";
    case PUSH_UPGRADE_NOT_WEBSOCKET: return "this is a WebSocket endpoint: send Upgrade: websocket";
    case PUSH_UPGRADE_VERSION: return "only WebSocket version 13 is supported";
    case PUSH_UPGRADE_BAD_KEY: return "Sec-WebSocket-Key must be 16 bytes in base64";
    case PUSH_UPGRADE_IDENTITY:
        return "the proxy's user header is repeated or not one well-formed element: refused";
    }
    return "bad request";
}

void push_upgrade_accept(const char *key, char out[PUSH_UPGRADE_ACCEPT_LEN + 1])
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    unsigned char text[64 + sizeof WS_GUID];
    size_t klen = strnlen(key, 64);

    memcpy(text, key, klen);
    memcpy(text + klen, WS_GUID, sizeof WS_GUID - 1);
    SHA1(text, klen + sizeof WS_GUID - 1, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}
