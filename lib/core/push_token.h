/* push_token.h: signed, expiring identity tokens (HMAC-SHA256) that a site's backend mints */
#ifndef PUSH_TOKEN_H
#define PUSH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/push_user.h"

/* Format (README, "Signed tokens"):
 *
 *     v1.<base64url(user), no padding>.<expiry, decimal Unix seconds>.<hex HMAC-SHA256>
 *
 * where the HMAC is keyed with the server secret and taken over everything before the last
 * dot. The token is good while now < expiry. */
#define PUSH_TOKEN_MAX 512  /* longest token accepted, NUL excluded */
#define PUSH_SECRET_MIN 16   /* bytes: shorter token secrets are refused */
#define PUSH_SECRET_MAX 256

enum push_token_err {
    PUSH_TOKEN_OK,
    PUSH_TOKEN_MALFORMED,     /* not a token of this format */
    PUSH_TOKEN_BAD_SIGNATURE, /* tampered, or signed with another secret */
    PUSH_TOKEN_EXPIRED,
};

/* Writes the token for user, good until expires, into buf. Returns its length, or -1 when
 * user is not a valid name (push_user_valid) or buf is too small. */
int push_token_sign(const char *secret, size_t secret_len, const char *user, int64_t expires,
                    char *buf, size_t size);

/* Checks token against secret at time now; on PUSH_TOKEN_OK writes the user (NUL-terminated)
 * into user (PUSH_USER_MAX + 1 bytes) and the expiry into *expires (may be NULL). The
 * signature is compared in constant time, and checked before anything else is believed. */
enum push_token_err push_token_verify(const char *secret, size_t secret_len, const char *token,
                                      int64_t now, char user[PUSH_USER_MAX + 1], int64_t *expires);

const char *push_token_strerror(enum push_token_err err);

/* One secret a token may be signed with; len 0: none. */
struct push_secret {
    const char *key;
    size_t len;
};

/* push_token_verify with each of the n secrets in turn (the current one first; during a
 * rotation the previous one, README "Rotating the token secret"): PUSH_TOKEN_OK with the first
 * that signed it. A secret of length 0 is skipped. Every signature is compared in constant time;
 * a token malformed or expired under one secret is the same under any. */
enum push_token_err push_token_verify_any(const struct push_secret *secrets, int n,
                                          const char *token, int64_t now,
                                          char user[PUSH_USER_MAX + 1], int64_t *expires);

/* push_ticket_verify the same way. */
enum push_token_err push_ticket_verify_any(const struct push_secret *secrets, int n,
                                           const char *ticket, int64_t now,
                                           char user[PUSH_USER_MAX + 1], int64_t *token_expires);

/* The user a token or a stream ticket names, decoded from its text and NOT verified: for saying in
 * the log whom a refused one claimed to be, never for identifying anyone. Returns 0 with the name
 * in user when text begins "v1." or "t1.", then the base64url of a valid user name (push_user_valid)
 * and a dot; -1 otherwise. Reads at most PUSH_TOKEN_MAX bytes of text. */
int push_token_claimed_user(const char *text, char user[PUSH_USER_MAX + 1]);

/* Stream tickets (README, "Stream tickets"): what push-poll hands a page that holds a token, for
 * opening one stream where a browser cannot send headers (EventSource, the iframe, WebSocket),
 * so that the long-lived token never appears in a URL:
 *
 *     t1.<base64url(user)>.<ticket expiry>.<token expiry, 0: none>.<hex HMAC-SHA256>
 *
 * The HMAC is keyed with the same secret but taken over PUSH_TICKET_DOMAIN followed by
 * everything before the last dot, so a ticket is never a valid token, nor a token a ticket,
 * whatever their text. A ticket opens a stream while now < its expiry (and the token's); the
 * stream it opens ends at the token's expiry. */
#define PUSH_TICKET_DOMAIN "pgpush stream ticket\n"

/* Writes a ticket for user, good until expires, for a token good until token_expires (0: the
 * identity does not expire, as REMOTE_USER's). Returns its length, or -1 when user is not valid,
 * expires is after a nonzero token_expires, or buf is too small. */
int push_ticket_sign(const char *secret, size_t secret_len, const char *user, int64_t expires,
                     int64_t token_expires, char *buf, size_t size);

/* Checks ticket as push_token_verify checks a token; on PUSH_TOKEN_OK *token_expires (may be
 * NULL) is the expiry of the token it was minted from (0: none). */
enum push_token_err push_ticket_verify(const char *secret, size_t secret_len, const char *ticket,
                                       int64_t now, char user[PUSH_USER_MAX + 1],
                                       int64_t *token_expires);

/* Unpadded base64url (RFC 4648 section 5), the tokens' and Web Push's (keys, the VAPID JWT):
 * encode writes 4 * len / 3 rounded up characters and a NUL into out and returns their count;
 * decode returns the length, or -1 when in is not canonical unpadded base64url or holds more than
 * max bytes. */
size_t push_b64url_encode(const unsigned char *in, size_t len, char *out);
long push_b64url_decode(const char *in, size_t len, unsigned char *out, size_t max);

#endif
