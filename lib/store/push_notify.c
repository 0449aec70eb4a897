/* push_notify.c: reading the payloads of NOTIFY pgpush, and opening their seals */
#include "config.h"

#include "store/push_notify.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/push_user.h"

#define IV_LEN 16
#define MAC_LEN 32

static enum push_notify_kind parse_target(const char *target, struct push_notify *out)
{
    if (strncmp(target, "u:", 2) != 0) {
        out->kind = PUSH_NOTIFY_ALL; /* '*', or anything unknown */
        return out->kind;
    }
    if (!push_user_valid(target + 2, strnlen(target + 2, PUSH_USER_MAX + 1))) {
        out->kind = PUSH_NOTIFY_NOBODY;
        return out->kind;
    }
    out->kind = PUSH_NOTIFY_USER;
    out->user = target + 2;
    return out->kind;
}

enum push_notify_kind push_notify_parse(const char *payload, struct push_notify *out)
{
    out->user = NULL;
    out->seal = NULL;
    out->seal_len = 0;
    if (strncmp(payload, "m:", 2) == 0) {
        const char *end = strchr(payload + 2, ':');
        if (end) {
            out->seal = payload + 2;
            out->seal_len = (size_t)(end - out->seal);
            return parse_target(end + 1, out);
        }
        out->kind = PUSH_NOTIFY_ALL; /* no target: everyone, as anything unknown */
        return out->kind;
    }
    if (strcmp(payload, "x") == 0) {
        out->kind = PUSH_NOTIFY_EXPIRY;
        return out->kind;
    }
    return parse_target(payload, out);
}

int push_notify_keys(PGconn *conn, struct push_notify_key *k)
{
    PGresult *res = PQexecParams(conn, "SELECT enc, mac FROM push.wake_key", 0, NULL, NULL, NULL,
                                 NULL, 1 /* binary: the bytes as they are */);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
             && PQgetlength(res, 0, 0) == PUSH_NOTIFY_KEY_LEN
             && PQgetlength(res, 0, 1) == PUSH_NOTIFY_KEY_LEN;

    if (ok) {
        memcpy(k->enc, PQgetvalue(res, 0, 0), PUSH_NOTIFY_KEY_LEN);
        memcpy(k->mac, PQgetvalue(res, 0, 1), PUSH_NOTIFY_KEY_LEN);
    }
    k->set = ok;
    PQclear(res);
    return ok ? 0 : -1;
}

/* Standard base64 (PostgreSQL's encode(..., 'base64'), its newlines taken out) into out: the
 * bytes, or -1 when it is not that. */
static long unbase64(const char *in, size_t len, unsigned char *out, size_t cap)
{
    int pad = 0, n;

    if (len == 0 || len % 4 || len / 4 * 3 > cap)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '=' && i >= len - 2) {
            pad++;
        } else if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                            || c == '+' || c == '/')) {
            return -1;
        }
    }
    n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    return n < 0 ? -1 : n - pad;
}

/* The HMAC and the cipher, fetched once per thread and kept. OpenSSL 3's one-shot HMAC() and
 * EVP_DecryptInit_ex(EVP_aes_256_cbc()) look both up in the provider's tables at every call
 * (locks, hash lookups, property matching): in a profile of push-sse at 1,000 messages/s that
 * lookup, not the AES or the SHA-256, was most of the seal's cost. A thread's contexts are freed
 * when it ends. */
struct opener {
    EVP_MAC_CTX *mac;
    EVP_CIPHER *aes;
    EVP_CIPHER_CTX *cipher;
};

static pthread_key_t opener_key;
static pthread_once_t opener_once = PTHREAD_ONCE_INIT;
static int opener_key_ok;

static void opener_free(void *p)
{
    struct opener *o = p;

    if (!o)
        return;
    EVP_MAC_CTX_free(o->mac);
    EVP_CIPHER_CTX_free(o->cipher);
    EVP_CIPHER_free(o->aes);
    free(o);
}

static void opener_key_make(void)
{
    opener_key_ok = pthread_key_create(&opener_key, opener_free) == 0;
}

/* This thread's opener, or NULL when OpenSSL or memory fails (the seal is then not opened and
 * the stream reads, as for any seal that does not open). */
static struct opener *opener_get(void)
{
    struct opener *o;
    EVP_MAC *hmac;
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                            OSSL_PARAM_construct_end() };

    pthread_once(&opener_once, opener_key_make);
    if (!opener_key_ok)
        return NULL;
    if ((o = pthread_getspecific(opener_key)))
        return o;
    if (!(o = calloc(1, sizeof *o)))
        return NULL;
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    o->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    EVP_MAC_free(hmac); /* the context holds its own reference */
    o->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    o->cipher = EVP_CIPHER_CTX_new();
    if (!o->mac || !o->aes || !o->cipher || EVP_MAC_CTX_set_params(o->mac, params) != 1
        || pthread_setspecific(opener_key, o) != 0) {
        opener_free(o);
        return NULL;
    }
    return o;
}

long push_notify_open(const struct push_notify *n, const struct push_notify_key *k, char *out,
                      size_t cap)
{
    unsigned char raw[PUSH_NOTIFY_OPEN_MAX], md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    long len, ct_len;
    int outl = 0, finl = 0;
    struct opener *o;

    if (!n->seal || !k->set || cap < 1)
        return -1;
    len = unbase64(n->seal, n->seal_len, raw, sizeof raw);
    ct_len = len - IV_LEN - MAC_LEN;
    if (len < 0 || ct_len < 16 || ct_len % 16) /* AES-CBC with padding: whole blocks, at least one */
        return -1;
    if (!(o = opener_get()))
        return -1;
    /* encrypt-then-MAC: the MAC first, over the IV and the ciphertext, in constant time */
    if (EVP_MAC_init(o->mac, k->mac, PUSH_NOTIFY_KEY_LEN, NULL) != 1
        || EVP_MAC_update(o->mac, raw, (size_t)(IV_LEN + ct_len)) != 1
        || EVP_MAC_final(o->mac, md, &mdlen, sizeof md) != 1 || mdlen != MAC_LEN
        || CRYPTO_memcmp(md, raw + IV_LEN + ct_len, MAC_LEN) != 0)
        return -1;
    if ((size_t)ct_len + 16 > cap - 1) /* (OpenSSL may write a block more than it holds back) */
        return -1;
    if (EVP_DecryptInit_ex2(o->cipher, o->aes, k->enc, raw, NULL) != 1
        || EVP_DecryptUpdate(o->cipher, (unsigned char *)out, &outl, raw + IV_LEN, (int)ct_len) != 1
        || EVP_DecryptFinal_ex(o->cipher, (unsigned char *)out + outl, &finl) != 1)
        return -1;
    out[outl + finl] = '\0';
    return outl + finl;
}
