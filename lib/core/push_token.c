/* push_token.c: signing and verifying identity tokens */
#include "config.h"

#include "core/push_token.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIG_HEX 64

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t push_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < len) out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < len) out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return o;
}

long push_b64url_decode(const char *in, size_t len, unsigned char *out, size_t max)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        const char *d = memchr(b64url, in[i], 64);
        if (!d || in[i] == '\0')
            return -1;
        acc = (acc << 6) | (uint32_t)(d - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= max)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical trailing bits */
        return -1;
    return (long)o;
}

/* Hex HMAC-SHA256 of domain followed by data: tokens have the empty domain (the documented
 * format), tickets PUSH_TICKET_DOMAIN. */
static void sign_hex(const char *secret, size_t secret_len, const char *domain, const char *data,
                     size_t len, char out[SIG_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char input[64 + PUSH_TOKEN_MAX];
    size_t dlen = strlen(domain);

    /* callers pass at most PUSH_TOKEN_MAX bytes of data and a short constant domain */
    if (dlen > 64 || len > PUSH_TOKEN_MAX)
        abort();
    memcpy(input, domain, dlen);
    memcpy(input + dlen, data, len);
    HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)input, dlen + len, md, &mdlen);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[SIG_HEX] = '\0';
}

/* Writes prefix, base64url(user), the n numbers and the signature (over domain and the rest),
 * dot-separated, into buf. Returns its length, or -1. */
static int sign_fields(const char *secret, size_t secret_len, const char *domain,
                       const char *prefix, const char *user, const int64_t *nums, int n_nums,
                       char *buf, size_t size)
{
    char payload[PUSH_TOKEN_MAX];
    char sig[SIG_HEX + 1];
    size_t ulen = strlen(user);
    int n;

    if (!push_user_valid(user, ulen))
        return -1;
    n = snprintf(payload, sizeof payload, "%s", prefix);
    n += (int)push_b64url_encode((const unsigned char *)user, ulen, payload + n);
    for (int i = 0; i < n_nums; i++) {
        if (nums[i] < 0)
            return -1;
        n += snprintf(payload + n, sizeof payload - (size_t)n, ".%" PRId64, nums[i]);
    }
    sign_hex(secret, secret_len, domain, payload, (size_t)n, sig);
    n = snprintf(buf, size, "%s.%s", payload, sig);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

/* Checks the signature of text (over domain and everything before the last dot), then reads
 * the user and n_nums decimal numbers after prefix. Expiry is the caller's to judge. */
static enum push_token_err check_fields(const char *secret, size_t secret_len, const char *domain,
                                        const char *prefix, const char *text,
                                        char user[PUSH_USER_MAX + 1], int64_t *nums, int n_nums)
{
    size_t len = strnlen(text, PUSH_TOKEN_MAX + 1), plen = strlen(prefix);
    const char *dot_user, *p, *dot_sig;
    char expect[SIG_HEX + 1];
    unsigned char name[PUSH_USER_MAX];
    long ulen;

    if (len > PUSH_TOKEN_MAX || len < plen + SIG_HEX || strncmp(text, prefix, plen) != 0)
        return PUSH_TOKEN_MALFORMED;
    dot_sig = text + len - SIG_HEX - 1;
    if (*dot_sig != '.')
        return PUSH_TOKEN_MALFORMED;
    /* authenticity first: nothing in the text is believed before its signature checks out */
    sign_hex(secret, secret_len, domain, text, (size_t)(dot_sig - text), expect);
    if (CRYPTO_memcmp(expect, dot_sig + 1, SIG_HEX) != 0)
        return PUSH_TOKEN_BAD_SIGNATURE;
    dot_user = text + plen - 1;
    /* at least one character of user, then a dot and a digit per number */
    if (dot_sig - dot_user < 2 + 2 * n_nums)
        return PUSH_TOKEN_MALFORMED;
    p = memchr(dot_user + 1, '.', (size_t)(dot_sig - dot_user - 1));
    if (!p)
        return PUSH_TOKEN_MALFORMED;
    ulen = push_b64url_decode(dot_user + 1, (size_t)(p - dot_user - 1), name, sizeof name);
    if (ulen <= 0 || !push_user_valid((const char *)name, (size_t)ulen))
        return PUSH_TOKEN_MALFORMED;
    for (int i = 0; i < n_nums; i++) {
        const char *start = ++p; /* after the dot */
        int64_t v = 0;
        for (; p < dot_sig && *p != '.'; p++) {
            if (*p < '0' || *p > '9' || v > (INT64_MAX - (*p - '0')) / 10)
                return PUSH_TOKEN_MALFORMED;
            v = v * 10 + (*p - '0');
        }
        if (p == start || (i < n_nums - 1 ? p == dot_sig : p != dot_sig))
            return PUSH_TOKEN_MALFORMED;
        nums[i] = v;
    }
    memcpy(user, name, (size_t)ulen);
    user[ulen] = '\0';
    return PUSH_TOKEN_OK;
}

int push_token_sign(const char *secret, size_t secret_len, const char *user, int64_t expires,
                    char *buf, size_t size)
{
    return sign_fields(secret, secret_len, "", "v1.", user, &expires, 1, buf, size);
}

enum push_token_err push_token_verify(const char *secret, size_t secret_len, const char *token,
                                      int64_t now, char user[PUSH_USER_MAX + 1], int64_t *expires)
{
    char name[PUSH_USER_MAX + 1];
    int64_t exp = 0;
    enum push_token_err err = check_fields(secret, secret_len, "", "v1.", token, name, &exp, 1);

    if (err != PUSH_TOKEN_OK)
        return err;
    if (now >= exp)
        return PUSH_TOKEN_EXPIRED;
    memcpy(user, name, strlen(name) + 1);
    if (expires)
        *expires = exp;
    return PUSH_TOKEN_OK;
}

int push_ticket_sign(const char *secret, size_t secret_len, const char *user, int64_t expires,
                     int64_t token_expires, char *buf, size_t size)
{
    const int64_t nums[2] = { expires, token_expires };

    if (token_expires && expires > token_expires)
        return -1;
    return sign_fields(secret, secret_len, PUSH_TICKET_DOMAIN, "t1.", user, nums, 2, buf, size);
}

enum push_token_err push_ticket_verify(const char *secret, size_t secret_len, const char *ticket,
                                       int64_t now, char user[PUSH_USER_MAX + 1],
                                       int64_t *token_expires)
{
    char name[PUSH_USER_MAX + 1];
    int64_t nums[2] = { 0, 0 };
    enum push_token_err err = check_fields(secret, secret_len, PUSH_TICKET_DOMAIN, "t1.", ticket,
                                           name, nums, 2);

    if (err != PUSH_TOKEN_OK)
        return err;
    if (now >= nums[0] || (nums[1] && now >= nums[1]))
        return PUSH_TOKEN_EXPIRED;
    memcpy(user, name, strlen(name) + 1);
    if (token_expires)
        *token_expires = nums[1];
    return PUSH_TOKEN_OK;
}

/* Only a bad signature is worth trying the next secret for: anything else says the same of the
 * text whichever secret signed it. */
enum push_token_err push_token_verify_any(const struct push_secret *secrets, int n,
                                          const char *token, int64_t now,
                                          char user[PUSH_USER_MAX + 1], int64_t *expires)
{
    enum push_token_err err = PUSH_TOKEN_BAD_SIGNATURE;

    for (int i = 0; i < n && err == PUSH_TOKEN_BAD_SIGNATURE; i++)
        if (secrets[i].len)
            err = push_token_verify(secrets[i].key, secrets[i].len, token, now, user, expires);
    return err;
}

enum push_token_err push_ticket_verify_any(const struct push_secret *secrets, int n,
                                           const char *ticket, int64_t now,
                                           char user[PUSH_USER_MAX + 1], int64_t *token_expires)
{
    enum push_token_err err = PUSH_TOKEN_BAD_SIGNATURE;

    for (int i = 0; i < n && err == PUSH_TOKEN_BAD_SIGNATURE; i++)
        if (secrets[i].len)
            err = push_ticket_verify(secrets[i].key, secrets[i].len, ticket, now, user,
                                     token_expires);
    return err;
}

const char *push_token_strerror(enum push_token_err err)
{
    switch (err) {
    case PUSH_TOKEN_OK: return "ok";
    case PUSH_TOKEN_MALFORMED: return "malformed token";
    case PUSH_TOKEN_BAD_SIGNATURE: return "token signature does not match";
    case PUSH_TOKEN_EXPIRED: return "token expired";
    }
    return "unknown token error";
}

int push_token_claimed_user(const char *text, char user[PUSH_USER_MAX + 1])
{
    size_t len = strnlen(text, PUSH_TOKEN_MAX);
    unsigned char name[PUSH_USER_MAX];
    const char *dot;
    long ulen;

    if (len < 3 || (strncmp(text, "v1.", 3) != 0 && strncmp(text, "t1.", 3) != 0)
        || !(dot = memchr(text + 3, '.', len - 3)))
        return -1;
    ulen = push_b64url_decode(text + 3, (size_t)(dot - text - 3), name, sizeof name);
    if (ulen <= 0 || !push_user_valid((const char *)name, (size_t)ulen))
        return -1;
    memcpy(user, name, (size_t)ulen);
    user[ulen] = '\0';
    return 0;
}
