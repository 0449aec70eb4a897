/* push_auth.h: who is asking: REMOTE_USER from the web server, a signed token, or demo mode */
#ifndef PUSH_AUTH_H
#define PUSH_AUTH_H

#include <stdint.h>

#include "core/push_config.h"
#include "core/push_token.h"
#include "http/push_query.h"

enum push_auth_source {
    PUSH_AUTH_REMOTE_USER, /* the web server authenticated the user */
    PUSH_AUTH_TOKEN,       /* a token signed with our secret */
    PUSH_AUTH_DEMO,        /* ?user= in demo mode: anyone can claim any name */
    PUSH_AUTH_TICKET,      /* a stream ticket (?ticket=, push_auth_identify_stream only) */
};

enum push_auth_err {
    PUSH_AUTH_OK,
    PUSH_AUTH_MISSING,    /* nothing says who this is */
    PUSH_AUTH_BAD_TOKEN,  /* malformed, tampered or signed with another secret */
    PUSH_AUTH_EXPIRED,
    PUSH_AUTH_NO_SECRET,  /* a token came but PUSH_TOKEN_SECRET is not configured */
    PUSH_AUTH_BAD_USER,   /* the name given is not a valid user name */
    PUSH_AUTH_AMBIGUOUS,  /* the web server passed REMOTE_USER more than once: a misconfigured
                           * server (e.g. nginx's fastcgi_params plus a second REMOTE_USER line),
                           * where the first value may be the client's own: refused */
};

struct push_identity {
    char user[PUSH_USER_MAX + 1];
    enum push_auth_source source;
    int64_t expires; /* a token's expiry (Unix seconds), also through a ticket minted from a
                      * token; 0 when the identity does not expire */
    /* When identifying fails, for the log only (push_auth_log_refusal): source says whether a
     * token or a ticket was refused, refused why, and claimed the user its text names, decoded
     * but never verified ("": none). Never believed. */
    enum push_token_err refused;
    char claimed[PUSH_USER_MAX + 1];
};

/* Finds the user of a request, in this order: REMOTE_USER (which only the web server can set,
 * and must set at most once); a token from ?token=, an
 * "Authorization: Bearer" header or the token cookie; in demo mode only, ?user=. A token that
 * is present but bad is an error even when demo mode would allow ?user=. */
enum push_auth_err push_auth_identify(const struct push_config *cfg, char *const *envp,
                                      const struct push_query *q, int64_t now,
                                      struct push_identity *id);

/* push_auth_identify, where a stream ticket (push_ticket_sign) in ?ticket= counts as a token:
 * for the requests that open a stream from a browser that cannot send headers (EventSource,
 * the iframe, WebSocket). A ticket that is present but bad is an error, as a token is. */
enum push_auth_err push_auth_identify_stream(const struct push_config *cfg, char *const *envp,
                                             const struct push_query *q, int64_t now,
                                             struct push_identity *id);

/* A short English sentence for err, fit for an error response. */
const char *push_auth_strerror(enum push_auth_err err);

/* Why identifying failed, for the log: finer than push_auth_strerror ("malformed token", "token
 * signature does not match", "stream ticket expired", ...), from err and what the failed
 * push_auth_identify left in id. */
const char *push_auth_reason(enum push_auth_err err, const struct push_identity *id);

/* Logs a refusal, once, in one line: what was refused ("a request", "an upgrade"), the answer's
 * status and code, push_auth_reason, the user a refused token or ticket claims (decoded, not
 * verified), and remote, the client's address (NULL: unknown). At info, since any client can
 * cause it; at warning for PUSH_AUTH_AMBIGUOUS, a web server to fix. Never the token or ticket,
 * nor any part of it. */
void push_auth_log_refusal(enum push_auth_err err, const struct push_identity *id, const char *what,
                           const char *remote);

/* The HTTP status (401, or 403 for PUSH_AUTH_AMBIGUOUS) and the JSON error code of err: the one
 * mapping every program answers with. */
int push_auth_status(enum push_auth_err err);
const char *push_auth_code(enum push_auth_err err);

#endif
