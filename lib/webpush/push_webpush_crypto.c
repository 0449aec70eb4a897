/* push_webpush_crypto.c: RFC 8291 message encryption and RFC 8292 VAPID signatures */
#include "config.h"

#include "webpush/push_webpush_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "core/push_token.h"

#define GROUP "prime256v1"

/* HKDF-SHA-256's two steps (RFC 5869), as RFC 8291 uses them: extract is one HMAC, and every
 * expansion it asks for is at most 32 bytes long, one block: T(1) = HMAC(prk, info || 0x01). */
static int hkdf_extract(const unsigned char *salt, size_t salt_len, const unsigned char *ikm,
                        size_t ikm_len, unsigned char prk[32])
{
    unsigned int n = 32;

    return HMAC(EVP_sha256(), salt, (int)salt_len, ikm, ikm_len, prk, &n) ? 0 : -1;
}

static int hkdf_expand(const unsigned char prk[32], const unsigned char *info, size_t info_len,
                       unsigned char *out, size_t out_len)
{
    unsigned char buf[160], t[32];
    unsigned int n = 32;

    if (info_len + 1 > sizeof buf || out_len > 32)
        return -1;
    memcpy(buf, info, info_len);
    buf[info_len] = 0x01;
    if (!HMAC(EVP_sha256(), prk, 32, buf, info_len + 1, t, &n))
        return -1;
    memcpy(out, t, out_len);
    return 0;
}

/* A P-256 public key from its uncompressed point, checked to be on the curve; NULL if not. */
static EVP_PKEY *public_key(const unsigned char point[PUSH_WEBPUSH_KEY_LEN])
{
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *key = NULL;
    int good = 0;

    if (point[0] != 0x04)
        return NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)GROUP, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point,
                                                  PUSH_WEBPUSH_KEY_LEN);
    params[2] = OSSL_PARAM_construct_end();
    if (!(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)))
        return NULL;
    if (EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        good = check && EVP_PKEY_public_check(check) == 1;
        EVP_PKEY_CTX_free(check);
    }
    EVP_PKEY_CTX_free(ctx);
    if (!good) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

static int public_point(EVP_PKEY *key, unsigned char out[PUSH_WEBPUSH_KEY_LEN])
{
    size_t len = 0;

    return EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, out, PUSH_WEBPUSH_KEY_LEN, &len) == 1
                   && len == PUSH_WEBPUSH_KEY_LEN && out[0] == 0x04
               ? 0
               : -1;
}

int push_webpush_public_b64(EVP_PKEY *key, char out[PUSH_WEBPUSH_KEY_B64 + 1])
{
    unsigned char point[PUSH_WEBPUSH_KEY_LEN];

    if (public_point(key, point) < 0)
        return -1;
    push_b64url_encode(point, sizeof point, out);
    return 0;
}

int push_webpush_keys_parse(const char *p256dh, const char *auth, struct push_webpush_target *t)
{
    EVP_PKEY *key;

    if (!p256dh || !auth || strlen(p256dh) != PUSH_WEBPUSH_KEY_B64 || strlen(auth) != PUSH_WEBPUSH_AUTH_B64
        || push_b64url_decode(p256dh, PUSH_WEBPUSH_KEY_B64, t->p256dh, sizeof t->p256dh) != PUSH_WEBPUSH_KEY_LEN
        || push_b64url_decode(auth, PUSH_WEBPUSH_AUTH_B64, t->auth, sizeof t->auth) != PUSH_WEBPUSH_AUTH_LEN)
        return -1;
    if (!(key = public_key(t->p256dh)))
        return -1;
    EVP_PKEY_free(key);
    return 0;
}

EVP_PKEY *push_webpush_key_from_private(const unsigned char priv[32])
{
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *pub = group ? EC_POINT_new(group) : NULL;
    BIGNUM *d = BN_bin2bn(priv, 32, NULL);
    unsigned char point[PUSH_WEBPUSH_KEY_LEN];
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;

    if (!pub || !d || !bld || EC_POINT_mul(group, pub, d, NULL, NULL, NULL) != 1
        || EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, point, sizeof point, NULL) != sizeof point
        || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, GROUP, 0) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1
        || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) != 1
        || !(params = OSSL_PARAM_BLD_to_param(bld)) || !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL))
        || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    EC_POINT_free(pub);
    EC_GROUP_free(group);
    return key;
}

static EVP_PKEY *new_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", GROUP);
}

/* ECDH between our private key and their public one: the 32-byte x coordinate. */
static int ecdh(EVP_PKEY *ours, EVP_PKEY *theirs, unsigned char secret[32])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ours, NULL);
    size_t len = 32;
    int rc = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, theirs) == 1
                     && EVP_PKEY_derive(ctx, secret, &len) == 1 && len == 32
                 ? 0
                 : -1;

    EVP_PKEY_CTX_free(ctx);
    return rc;
}

long push_webpush_encrypt(const struct push_webpush_target *t, const unsigned char *plain,
                          size_t len, EVP_PKEY *as_key, const unsigned char *salt_in,
                          unsigned char *out)
{
    static const char info_prefix[] = "WebPush: info"; /* and its NUL */
    static const char cek_info[] = "Content-Encoding: aes128gcm";
    static const char nonce_info[] = "Content-Encoding: nonce";
    unsigned char as_public[PUSH_WEBPUSH_KEY_LEN], secret[32], prk_key[32], ikm[32], prk[32];
    unsigned char key_info[sizeof info_prefix + 2 * PUSH_WEBPUSH_KEY_LEN], cek[16], nonce[12];
    unsigned char salt[PUSH_WEBPUSH_SALT_LEN], *p = out;
    EVP_PKEY *ua = NULL, *as = as_key;
    EVP_CIPHER_CTX *cipher = NULL;
    int n, ok = 0;
    long total = -1;

    if (len > PUSH_WEBPUSH_PLAIN_MAX)
        return -1;
    if (salt_in)
        memcpy(salt, salt_in, sizeof salt);
    else if (RAND_bytes(salt, sizeof salt) != 1)
        return -1;
    if (!as && !(as = new_key()))
        return -1;
    if (!(ua = public_key(t->p256dh)) || public_point(as, as_public) < 0 || ecdh(as, ua, secret) < 0)
        goto done;
    /* RFC 8291 section 3.4: IKM from the ECDH secret and the auth secret, bound to both keys */
    memcpy(key_info, info_prefix, sizeof info_prefix);
    memcpy(key_info + sizeof info_prefix, t->p256dh, PUSH_WEBPUSH_KEY_LEN);
    memcpy(key_info + sizeof info_prefix + PUSH_WEBPUSH_KEY_LEN, as_public, PUSH_WEBPUSH_KEY_LEN);
    if (hkdf_extract(t->auth, PUSH_WEBPUSH_AUTH_LEN, secret, sizeof secret, prk_key) < 0
        || hkdf_expand(prk_key, key_info, sizeof key_info, ikm, sizeof ikm) < 0
        /* RFC 8188 section 2.2 and 2.3: the content key and nonce from the salt (one record: the
         * record's sequence number is 0, so the nonce is used as it is) */
        || hkdf_extract(salt, sizeof salt, ikm, sizeof ikm, prk) < 0
        || hkdf_expand(prk, (const unsigned char *)cek_info, sizeof cek_info, cek, sizeof cek) < 0
        || hkdf_expand(prk, (const unsigned char *)nonce_info, sizeof nonce_info, nonce, sizeof nonce) < 0)
        goto done;
    /* the header: salt, rs (big-endian), idlen, keyid (our one-time public key) */
    memcpy(p, salt, sizeof salt);
    p += sizeof salt;
    *p++ = (PUSH_WEBPUSH_RS >> 24) & 0xff;
    *p++ = (PUSH_WEBPUSH_RS >> 16) & 0xff;
    *p++ = (PUSH_WEBPUSH_RS >> 8) & 0xff;
    *p++ = PUSH_WEBPUSH_RS & 0xff;
    *p++ = PUSH_WEBPUSH_KEY_LEN;
    memcpy(p, as_public, PUSH_WEBPUSH_KEY_LEN);
    p += PUSH_WEBPUSH_KEY_LEN;
    /* the one record: the plaintext, then 0x02 (the last record's delimiter, no padding) */
    if (!(cipher = EVP_CIPHER_CTX_new())
        || EVP_EncryptInit_ex(cipher, EVP_aes_128_gcm(), NULL, cek, nonce) != 1
        || (len && EVP_EncryptUpdate(cipher, p, &n, plain, (int)len) != 1))
        goto done;
    p += len ? n : 0;
    if (EVP_EncryptUpdate(cipher, p, &n, (const unsigned char *)"\x02", 1) != 1)
        goto done;
    p += n;
    if (EVP_EncryptFinal_ex(cipher, p, &n) != 1)
        goto done;
    p += n;
    if (EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_GET_TAG, 16, p) != 1)
        goto done;
    p += 16;
    ok = 1;
done:
    if (ok)
        total = p - out;
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(prk_key, sizeof prk_key);
    OPENSSL_cleanse(ikm, sizeof ikm);
    OPENSSL_cleanse(prk, sizeof prk);
    OPENSSL_cleanse(cek, sizeof cek);
    EVP_CIPHER_CTX_free(cipher);
    EVP_PKEY_free(ua);
    if (as != as_key)
        EVP_PKEY_free(as);
    return total;
}

/* --- VAPID */

static int fail(char *err, size_t errlen, const char *path, const char *why)
{
    snprintf(err, errlen, "%s: %s", path, why);
    return -1;
}

static int is_p256(EVP_PKEY *key)
{
    char group[32];
    size_t len;

    return EVP_PKEY_is_a(key, "EC")
           && EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1
           && (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
}

int push_vapid_load(struct push_vapid *v, const char *path, char *err, size_t errlen)
{
    struct stat st;
    FILE *f;

    memset(v, 0, sizeof *v);
    if (!(f = fopen(path, "r")))
        return fail(err, errlen, path, "cannot open it (push-webpush --generate-vapid-keys FILE makes one)");
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
        fclose(f);
        return fail(err, errlen, path, "readable by others than its owner (chmod 600 it)");
    }
    v->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!v->key || !is_p256(v->key) || push_webpush_public_b64(v->key, v->public_b64) < 0) {
        push_vapid_free(v);
        return fail(err, errlen, path, "not a PEM private key of the curve P-256");
    }
    return 0;
}

int push_vapid_generate(const char *path, char pub[PUSH_WEBPUSH_KEY_B64 + 1], char *err,
                        size_t errlen)
{
    EVP_PKEY *key = new_key();
    char made[PUSH_WEBPUSH_KEY_B64 + 1];
    FILE *f = NULL;
    int fd, rc = -1;

    if (!key || push_webpush_public_b64(key, made) < 0) {
        EVP_PKEY_free(key);
        return fail(err, errlen, path, "cannot make a key pair");
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, errno == EEXIST ? "exists already (a new key makes every subscription invalid: remove it first if that is meant)" : strerror(errno));
    } else if (!(f = fdopen(fd, "w"))) {
        close(fd);
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    } else if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0
               || fsync(fileno(f)) != 0) {
        snprintf(err, errlen, "%s: cannot write it", path);
    } else {
        rc = 0;
        memcpy(pub, made, sizeof made);
    }
    if (f)
        fclose(f);
    if (rc < 0 && fd >= 0)
        unlink(path);
    EVP_PKEY_free(key);
    return rc;
}

void push_vapid_free(struct push_vapid *v)
{
    EVP_PKEY_free(v->key);
    v->key = NULL;
}

int push_vapid_header(const struct push_vapid *v, const char *aud, long exp, const char *sub,
                      char *out, size_t cap)
{
    static const char header[] = "{\"typ\":\"JWT\",\"alg\":\"ES256\"}";
    unsigned char der[80], rs[64];
    const unsigned char *q = der;
    char signing[1024];
    size_t der_len = sizeof der, n;
    json_object *claims = json_object_new_object();
    const char *text;
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *sig = NULL;
    const BIGNUM *r, *s;
    int rc = -1;

    json_object_object_add(claims, "aud", json_object_new_string(aud));
    json_object_object_add(claims, "exp", json_object_new_int64(exp));
    json_object_object_add(claims, "sub", json_object_new_string(sub));
    text = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    /* base64url(header) "." base64url(claims): the signing input */
    if ((sizeof header - 1 + 2) / 3 * 4 + 1 + (strlen(text) + 2) / 3 * 4 + 1 > sizeof signing)
        goto done;
    n = push_b64url_encode((const unsigned char *)header, sizeof header - 1, signing);
    signing[n++] = '.';
    n += push_b64url_encode((const unsigned char *)text, strlen(text), signing + n);
    if (!(md = EVP_MD_CTX_new()) || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, v->key) != 1
        || EVP_DigestSign(md, der, &der_len, (const unsigned char *)signing, n) != 1
        || !(sig = d2i_ECDSA_SIG(NULL, &q, (long)der_len)))
        goto done;
    /* JWS wants r and s as two 32-byte big-endian numbers (RFC 7518 section 3.4), not DER */
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32)
        goto done;
    if (n + 1 + 86 + strlen(", k=") + PUSH_WEBPUSH_KEY_B64 + strlen("vapid t=") + 1 > cap)
        goto done;
    rc = 0;
    n = (size_t)snprintf(out, cap, "vapid t=%s.", signing);
    n += push_b64url_encode(rs, sizeof rs, out + n);
    snprintf(out + n, cap - n, ", k=%s", v->public_b64);
done:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    json_object_put(claims);
    return rc;
}
