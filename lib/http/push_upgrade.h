/* push_upgrade.h: the HTTP/1.1 WebSocket upgrade request: a bounded head, its checks, the accept key */
#ifndef PUSH_UPGRADE_H
#define PUSH_UPGRADE_H

#include <stddef.h>

#define PUSH_UPGRADE_HEAD_MAX 8192 /* bytes of request line and headers; more is refused (431) */
#define PUSH_UPGRADE_ACCEPT_LEN 28 /* base64 of a SHA-1 */

/* What push-ws reads from the request; the pointers point into the parsed buffer, NULL when a
 * header is absent. */
struct push_upgrade {
    const char *path;   /* without the query */
    const char *query;  /* after '?', "" when none */
    const char *host, *origin, *key, *authorization, *cookie;
    const char *user;   /* the value of the trusted user header, when one is configured */
    const char *proto;  /* the scheme the client used, as the proxy says (X-Forwarded-Proto, or
                         * proto= of a trusted Forwarded); NULL when it does not say */
};

enum push_upgrade_err {
    PUSH_UPGRADE_OK,
    PUSH_UPGRADE_MALFORMED,     /* not an HTTP/1.1 request head, or a header given twice (400) */
    PUSH_UPGRADE_METHOD,        /* not GET (405) */
    PUSH_UPGRADE_NOT_WEBSOCKET, /* no "Upgrade: websocket" with "Connection: upgrade" (426) */
    PUSH_UPGRADE_VERSION,       /* Sec-WebSocket-Version is not 13 (426) */
    PUSH_UPGRADE_BAD_KEY,       /* Sec-WebSocket-Key is not 16 bytes in base64 (400) */
    PUSH_UPGRADE_IDENTITY,      /* the trusted user header is repeated, or (Forwarded) not exactly
                                 * one well-formed element: the client's own reached us (403) */
};

/* The length of the head in buf[0, len) up to and including its blank line, or 0 while the
 * blank line has not come yet. */
size_t push_upgrade_head_end(const char *buf, size_t len);

/* Parses the head (len bytes from push_upgrade_head_end) in place: fields are NUL-terminated in
 * buf. user_header names the header trusted to carry the user (NULL or "": none): the web server
 * must set it, replacing whatever the client sent. It may appear once. "Forwarded" means the
 * remote_user parameter of that header (push_upgrade_forwarded), which lighttpd's proxy.forwarded
 * writes; the shipped lighttpd configurations first remove the client's own Forwarded header. */
enum push_upgrade_err push_upgrade_parse(char *buf, size_t len, const char *user_header,
                                         struct push_upgrade *u);

/* Reads a Forwarded header value (RFC 7239) that the proxy wrote afresh, decoding it in place:
 * 0 with *user and *proto (the remote_user and proto parameters, NULL when absent), or -1 when
 * the value is not exactly one well-formed element. Refused: a second element (a comma outside
 * quotes: the client's own header was not cleared, and which element is whose is a guess), an
 * unclosed quote, a parameter given twice, a control character, anything but token=value pairs.
 * An attacker who can add to the header can then only cause a refusal, never pick a name. */
int push_upgrade_forwarded(char *value, char **user, char **proto);

/* A short English sentence for err. */
const char *push_upgrade_strerror(enum push_upgrade_err err);

/* The Sec-WebSocket-Accept value for key (RFC 6455 4.2.2) into out, NUL-terminated. */
void push_upgrade_accept(const char *key, char out[PUSH_UPGRADE_ACCEPT_LEN + 1]);

#endif
