/* push_webpush_crypto.h: Web Push's cryptography, with OpenSSL: the message encryption of RFC 8291
 * (the aes128gcm content coding of RFC 8188, one record) and the VAPID signature of RFC 8292 (an
 * ES256 JWT). No I/O but the key file's. */
#ifndef PUSH_WEBPUSH_CRYPTO_H
#define PUSH_WEBPUSH_CRYPTO_H

#include <stddef.h>

#include <openssl/evp.h>

#define PUSH_WEBPUSH_KEY_LEN 65     /* a P-256 public key, an uncompressed point */
#define PUSH_WEBPUSH_KEY_B64 87     /* ... in unpadded base64url */
#define PUSH_WEBPUSH_AUTH_LEN 16    /* the subscription's authentication secret */
#define PUSH_WEBPUSH_AUTH_B64 22
#define PUSH_WEBPUSH_SALT_LEN 16
#define PUSH_WEBPUSH_HEADER_LEN 86  /* salt, record size (4), key id length (1), key id (65) */
#define PUSH_WEBPUSH_OVERHEAD 103   /* the header, the padding delimiter (1), the GCM tag (16) */
#define PUSH_WEBPUSH_RS 4096        /* the record size written in the header */
#define PUSH_WEBPUSH_BODY_MAX 4096  /* what every push service must take (RFC 8030 section 7.2) */
#define PUSH_WEBPUSH_PLAIN_MAX (PUSH_WEBPUSH_BODY_MAX - PUSH_WEBPUSH_OVERHEAD) /* 3993 bytes */

/* A subscription's keys (the browser's PushSubscription.keys), decoded. */
struct push_webpush_target {
    unsigned char p256dh[PUSH_WEBPUSH_KEY_LEN];
    unsigned char auth[PUSH_WEBPUSH_AUTH_LEN];
};

/* Reads a subscription's keys (unpadded base64url, as browsers give them) into t: 0, or -1 when
 * either is malformed, of the wrong length, or p256dh is not a point of P-256. */
int push_webpush_keys_parse(const char *p256dh, const char *auth, struct push_webpush_target *t);

/* Encrypts len bytes of plain (at most PUSH_WEBPUSH_PLAIN_MAX) for t into out, which has room
 * for len + PUSH_WEBPUSH_OVERHEAD bytes: the body to POST with "Content-Encoding: aes128gcm".
 * Returns its length, or -1. as_key and salt are the sender's one-time key pair and salt; NULL:
 * fresh ones (as every send must; the tests give RFC 8291's to get its example's bytes). */
long push_webpush_encrypt(const struct push_webpush_target *t, const unsigned char *plain,
                          size_t len, EVP_PKEY *as_key, const unsigned char *salt,
                          unsigned char *out);

/* A P-256 key pair from its 32-byte private scalar (the tests' fixed keys); NULL on failure. */
EVP_PKEY *push_webpush_key_from_private(const unsigned char priv[32]);

/* key's public point, uncompressed, in unpadded base64url (out: PUSH_WEBPUSH_KEY_B64 + 1). */
int push_webpush_public_b64(EVP_PKEY *key, char out[PUSH_WEBPUSH_KEY_B64 + 1]);

/* The VAPID key pair (push-webpush's PUSH_WEBPUSH_VAPID_KEY file). */
struct push_vapid {
    EVP_PKEY *key;
    char public_b64[PUSH_WEBPUSH_KEY_B64 + 1]; /* the applicationServerKey browsers subscribe with */
};

/* Reads a PEM private key file (PKCS#8 or SEC1) of a P-256 key into v: 0, or -1 with a one-line
 * reason in err (no such file, readable by others than its owner, not a P-256 private key). */
int push_vapid_load(struct push_vapid *v, const char *path, char *err, size_t errlen);

/* Makes a new P-256 key pair and writes its private key to path (PKCS#8 PEM, mode 0600, a file
 * that must not exist yet). 0 with the public key in pub, or -1 with a reason in err. */
int push_vapid_generate(const char *path, char pub[PUSH_WEBPUSH_KEY_B64 + 1], char *err,
                        size_t errlen);

void push_vapid_free(struct push_vapid *v);

/* The Authorization header's value, "vapid t=JWT, k=KEY" (RFC 8292 section 3): a JWT signed
 * with ES256 whose claims are aud (the push service's origin, "https://host[:port]"), exp (Unix
 * seconds) and sub (a mailto: or https: contact). 0, or -1 when it does not fit in cap. */
int push_vapid_header(const struct push_vapid *v, const char *aud, long exp, const char *sub,
                      char *out, size_t cap);

#endif
