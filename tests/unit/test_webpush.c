/* test_webpush.c: unit tests for lib/webpush: RFC 8291's worked example to the byte, the VAPID
 * JWT's shape and signature, the endpoint and subscription rules, and the payload's cutting rule */
#include "config.h"

#include "unit.h"

#include "core/push_token.h"
#include "webpush/push_webpush_config.h"
#include "webpush/push_webpush_crypto.h"
#include "webpush/push_webpush_payload.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

/* RFC 8291 section 5 and Appendix A */
#define RFC_PLAIN "When I grow up, I want to be a watermelon"
#define RFC_UA_PUBLIC "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define RFC_AUTH "BTBZMqHH6r4Tts7J_aSIgg"
#define RFC_AS_PRIVATE "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define RFC_AS_PUBLIC "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define RFC_SALT "DGv6ra1nlYgDCS1FRnbzlw"
#define RFC_BODY "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"

START_TEST(rfc8291_example_to_the_byte)
{
    struct push_webpush_target t;
    unsigned char priv[32], salt[16], out[sizeof RFC_PLAIN + PUSH_WEBPUSH_OVERHEAD];
    char b64[300], pub[PUSH_WEBPUSH_KEY_B64 + 1];
    EVP_PKEY *as;
    long n;

    ck_assert_int_eq(push_webpush_keys_parse(RFC_UA_PUBLIC, RFC_AUTH, &t), 0);
    ck_assert_int_eq(push_b64url_decode(RFC_AS_PRIVATE, strlen(RFC_AS_PRIVATE), priv, sizeof priv), 32);
    ck_assert_int_eq(push_b64url_decode(RFC_SALT, strlen(RFC_SALT), salt, sizeof salt), 16);
    ck_assert_ptr_nonnull(as = push_webpush_key_from_private(priv));
    ck_assert_int_eq(push_webpush_public_b64(as, pub), 0);
    ck_assert_str_eq(pub, RFC_AS_PUBLIC);
    n = push_webpush_encrypt(&t, (const unsigned char *)RFC_PLAIN, strlen(RFC_PLAIN), as, salt, out);
    ck_assert_int_eq(n, (long)strlen(RFC_PLAIN) + PUSH_WEBPUSH_OVERHEAD);
    push_b64url_encode(out, (size_t)n, b64);
    ck_assert_str_eq(b64, RFC_BODY);
    EVP_PKEY_free(as);
}
END_TEST

START_TEST(fresh_keys_and_salt_every_time)
{
    struct push_webpush_target t;
    unsigned char a[64 + PUSH_WEBPUSH_OVERHEAD], b[64 + PUSH_WEBPUSH_OVERHEAD];

    ck_assert_int_eq(push_webpush_keys_parse(RFC_UA_PUBLIC, RFC_AUTH, &t), 0);
    ck_assert_int_eq(push_webpush_encrypt(&t, (const unsigned char *)"x", 1, NULL, NULL, a), 1 + PUSH_WEBPUSH_OVERHEAD);
    ck_assert_int_eq(push_webpush_encrypt(&t, (const unsigned char *)"x", 1, NULL, NULL, b), 1 + PUSH_WEBPUSH_OVERHEAD);
    ck_assert_int_ne(memcmp(a, b, 16), 0);            /* salt */
    ck_assert_int_ne(memcmp(a + 21, b + 21, 65), 0);  /* the one-time key */
    ck_assert_int_eq(a[16] << 24 | a[17] << 16 | a[18] << 8 | a[19], PUSH_WEBPUSH_RS);
    ck_assert_int_eq(a[20], 65);
}
END_TEST

START_TEST(plaintext_bound)
{
    struct push_webpush_target t;
    static unsigned char plain[PUSH_WEBPUSH_PLAIN_MAX + 1], out[PUSH_WEBPUSH_BODY_MAX + 1];

    ck_assert_int_eq(push_webpush_keys_parse(RFC_UA_PUBLIC, RFC_AUTH, &t), 0);
    ck_assert_int_eq(push_webpush_encrypt(&t, plain, PUSH_WEBPUSH_PLAIN_MAX, NULL, NULL, out), PUSH_WEBPUSH_BODY_MAX);
    ck_assert_int_eq(push_webpush_encrypt(&t, plain, PUSH_WEBPUSH_PLAIN_MAX + 1, NULL, NULL, out), -1);
}
END_TEST

START_TEST(keys_rules)
{
    struct push_webpush_target t;
    char off[] = RFC_UA_PUBLIC;

    ck_assert_int_eq(push_webpush_keys_parse(RFC_UA_PUBLIC, RFC_AUTH, &t), 0);
    off[50] = off[50] == 'A' ? 'B' : 'A'; /* another y: almost surely off the curve */
    ck_assert_int_eq(push_webpush_keys_parse(off, RFC_AUTH, &t), -1);
    ck_assert_int_eq(push_webpush_keys_parse(RFC_UA_PUBLIC "A", RFC_AUTH, &t), -1);
    ck_assert_int_eq(push_webpush_keys_parse(RFC_UA_PUBLIC, RFC_AUTH "A", &t), -1);
    ck_assert_int_eq(push_webpush_keys_parse(RFC_UA_PUBLIC, "BTBZMqHH6r4Tts7J/aSIgg", &t), -1);
    ck_assert_int_eq(push_webpush_keys_parse(RFC_AS_PRIVATE RFC_AS_PRIVATE "ab", RFC_AUTH, &t), -1);
    ck_assert_int_eq(push_webpush_keys_parse(NULL, RFC_AUTH, &t), -1);
}
END_TEST

/* Verifies a JWS ES256 signature (r||s) over data with the P-256 public key point: 1 good, 0 not. */
static int verify_es256(const unsigned char point[65], const unsigned char *data, size_t len,
                        const unsigned char rs[64])
{
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *sig = ECDSA_SIG_new();
    unsigned char *der = NULL;
    int der_len, rc;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, 65);
    params[2] = OSSL_PARAM_construct_end();
    ck_assert_int_eq(EVP_PKEY_fromdata_init(ctx), 1);
    ck_assert_int_eq(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
    ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
    der_len = i2d_ECDSA_SIG(sig, &der);
    ck_assert_int_gt(der_len, 0);
    ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    rc = EVP_DigestVerify(md, der, (size_t)der_len, data, len) == 1;
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* The JWT: header and claims as RFC 8292 says, signed by the key that k names (checked with
 * OpenSSL's ECDSA_do_verify on the raw r||s, apart from the DER path the signer took). */
START_TEST(vapid_header_verifies)
{
    char path[] = "/tmp/test_webpush_XXXXXX", pub[PUSH_WEBPUSH_KEY_B64 + 1], err[300], hdr[1200];
    unsigned char sig[64], point[65];
    char json[600];
    struct push_vapid v;
    const char *t, *dot1, *dot2, *comma;
    int fd = mkstemp(path);
    long n;

    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(path);
    ck_assert_int_eq(push_vapid_generate(path, pub, err, sizeof err), 0);
    ck_assert_int_eq(push_vapid_generate(path, pub, err, sizeof err), -1); /* never overwritten */
    ck_assert_int_eq(push_vapid_load(&v, path, err, sizeof err), 0);
    ck_assert_str_eq(v.public_b64, pub);
    ck_assert_int_eq(push_vapid_header(&v, "https://push.example.net:8443", 2000000000, "mailto:ops@example.org",
                                       hdr, sizeof hdr), 0);
    ck_assert(strncmp(hdr, "vapid t=", 8) == 0);
    t = hdr + 8;
    dot1 = strchr(t, '.');
    dot2 = strchr(dot1 + 1, '.');
    comma = strstr(hdr, ", k=");
    ck_assert_ptr_nonnull(comma);
    ck_assert_str_eq(comma + 4, pub);
    n = push_b64url_decode(t, (size_t)(dot1 - t), (unsigned char *)json, sizeof json - 1);
    json[n] = '\0';
    ck_assert_str_eq(json, "{\"typ\":\"JWT\",\"alg\":\"ES256\"}");
    n = push_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), (unsigned char *)json, sizeof json - 1);
    json[n] = '\0';
    ck_assert_str_eq(json, "{\"aud\":\"https://push.example.net:8443\",\"exp\":2000000000,\"sub\":\"mailto:ops@example.org\"}");
    ck_assert_int_eq(push_b64url_decode(dot2 + 1, (size_t)(comma - dot2 - 1), sig, sizeof sig), 64);
    ck_assert_int_eq(push_b64url_decode(pub, strlen(pub), point, sizeof point), 65);
    ck_assert_int_eq(verify_es256(point, (const unsigned char *)t, (size_t)(dot2 - t), sig), 1);
    sig[10] ^= 1;
    ck_assert_int_eq(verify_es256(point, (const unsigned char *)t, (size_t)(dot2 - t), sig), 0);
    push_vapid_free(&v);
    chmod(path, 0644);
    ck_assert_int_eq(push_vapid_load(&v, path, err, sizeof err), -1); /* readable by others */
    ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
    unlink(path);
}
END_TEST

static struct push_webpush_config cfg(const char *hosts, int allow_http)
{
    struct push_webpush_config c;
    char env_hosts[1200], env_http[40];
    char *env[] = { env_hosts, env_http, NULL };
    char err[200];

    snprintf(env_hosts, sizeof env_hosts, "PUSH_WEBPUSH_HOSTS=%s", hosts);
    snprintf(env_http, sizeof env_http, "PUSH_WEBPUSH_ALLOW_HTTP=%d", allow_http);
    ck_assert_int_eq(push_webpush_config_load(&c, env, err, sizeof err), 0);
    return c;
}

static const struct {
    const char *url;
    int allow_http;
    const char *origin; /* NULL: refused */
} endpoint_cases[] = {
    { "https://fcm.googleapis.com/fcm/send/abc:def", 0, "https://fcm.googleapis.com" },
    { "https://FCM.googleapis.com/fcm/send/x", 0, "https://fcm.googleapis.com" },
    { "https://updates.push.services.mozilla.com/wpush/v2/gAAA", 0, "https://updates.push.services.mozilla.com" },
    { "https://db5p.notify.windows.com/w/?token=AwYAAAD", 0, "https://db5p.notify.windows.com" },
    { "https://web.push.apple.com/QGuQyavXut", 0, "https://web.push.apple.com" },
    { "https://fcm.googleapis.com:443/x", 0, "https://fcm.googleapis.com" },
    { "https://fcm.googleapis.com:0443/x", 0, "https://fcm.googleapis.com" },
    { "https://fcm.googleapis.com:8443/x", 0, NULL },         /* another port than https's */
    { "https://fcm.googleapis.com:1/x", 0, NULL },
    { "http://fcm.googleapis.com/fcm/send/x", 0, NULL },      /* not https */
    { "http://fcm.googleapis.com/fcm/send/x", 1, NULL },      /* http only on loopback */
    { "https://evil.example/fcm.googleapis.com/", 0, NULL },  /* another host */
    { "https://fcm.googleapis.com.evil.example/x", 0, NULL },
    { "https://notify.windows.com/x", 0, NULL },              /* .domain: subdomains only */
    { "https://user:pw@fcm.googleapis.com/x", 0, NULL },
    { "https://fcm.googleapis.com@evil.example/x", 0, NULL },
    { "https://fcm.googleapis.com", 0, NULL },                /* no path */
    { "https://fcm.googleapis.com:0/x", 0, NULL },
    { "https://fcm.googleapis.com:65536/x", 0, NULL },
    { "https://fcm.googleapis.com:/x", 0, NULL },
    { "https://fcm.googleapis.com/a b", 0, NULL },
    { "https://fcm.googleapis.com/a\"b", 0, NULL },
    { "https://fcm.googleapis.com/a#frag", 0, NULL },
    { "https://fcm.googleapis.com/a\\b", 0, NULL },
    { "https://[::1]/x", 0, NULL },
    { "https://10.0.0.1/x", 0, NULL },
    { "javascript:alert(1)//fcm.googleapis.com/", 0, NULL },
    { "", 0, NULL },
};

START_TEST(endpoint_rules)
{
    struct push_webpush_config c = cfg(PUSH_WEBPUSH_HOSTS_DEFAULT, endpoint_cases[_i].allow_http);
    char origin[PUSH_WEBPUSH_ORIGIN_MAX + 1] = "";
    int ok = push_webpush_endpoint_ok(&c, endpoint_cases[_i].url, origin);

    ck_assert_msg(ok == (endpoint_cases[_i].origin != NULL), "%s: %d", endpoint_cases[_i].url, ok);
    if (ok)
        ck_assert_str_eq(origin, endpoint_cases[_i].origin);
}
END_TEST

START_TEST(endpoint_loopback_for_tests)
{
    struct push_webpush_config on = cfg("127.0.0.1", 1), off = cfg("127.0.0.1", 0);
    char origin[PUSH_WEBPUSH_ORIGIN_MAX + 1];
    char longest[PUSH_WEBPUSH_ENDPOINT_MAX + 2];

    ck_assert_int_eq(push_webpush_endpoint_ok(&on, "http://127.0.0.1:9000/push/s1", origin), 1);
    ck_assert_str_eq(origin, "http://127.0.0.1:9000");
    ck_assert_int_eq(push_webpush_endpoint_ok(&off, "http://127.0.0.1:9000/push/s1", origin), 0);
    ck_assert_int_eq(push_webpush_endpoint_ok(&on, "https://127.0.0.1:9000/push/s1", origin), 1);
    ck_assert_int_eq(push_webpush_endpoint_ok(&on, "https://127.0.0.2:9000/push/s1", origin), 0);
    {   /* one spelling for one push target */
        struct push_webpush_config d = cfg(PUSH_WEBPUSH_HOSTS_DEFAULT, 0);
        char normal[PUSH_WEBPUSH_ENDPOINT_MAX + 1];
        ck_assert_int_eq(push_webpush_endpoint_normal(&d, "https://FCM.GoogleAPIs.com:0443/fcm/send/AbC", normal,
                                                      sizeof normal, NULL), 1);
        ck_assert_str_eq(normal, "https://fcm.googleapis.com/fcm/send/AbC");
        ck_assert_int_eq(push_webpush_endpoint_normal(&d, "https://fcm.googleapis.com/fcm/send/AbC", normal, 20, NULL), 0);
    }
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memcpy(longest, "https://127.0.0.1/", 18);
    ck_assert_int_eq(push_webpush_endpoint_ok(&on, longest, origin), 0);      /* 1025 bytes */
    longest[PUSH_WEBPUSH_ENDPOINT_MAX] = '\0';
    ck_assert_int_eq(push_webpush_endpoint_ok(&on, longest, origin), 1);      /* 1024 */
}
END_TEST

START_TEST(settings_refused)
{
    struct push_webpush_config c;
    char err[200];
    char *bad[][2] = {
        { "PUSH_WEBPUSH_HOSTS=fcm.googleapis.com,,x", NULL },
        { "PUSH_WEBPUSH_HOSTS=a b", NULL },
        { "PUSH_WEBPUSH_HOSTS=*", NULL },           /* no "any host": the allowlist is the defence */
        { "PUSH_WEBPUSH_URGENCY=alert=urgent", NULL },
        { "PUSH_WEBPUSH_URGENCY=Alert=high", NULL },
        { "PUSH_WEBPUSH_SUBJECT=ops@example.org", NULL },
        { "PUSH_WEBPUSH_SUBJECT=mailto:a\"b@example.org", NULL },
        { "PUSH_WEBPUSH_PAYLOAD_MAX=4000", NULL },
        { "PUSH_WEBPUSH_TTL=-1", NULL },
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(push_webpush_config_load(&c, bad[i], err, sizeof err) == -1, "%s accepted", bad[i][0]);
}
END_TEST

START_TEST(urgency_by_kind)
{
    struct push_webpush_config c;
    char err[200];
    char *env[] = { "PUSH_WEBPUSH_URGENCY=alert=high,digest=very-low,default=low", NULL };
    char *none[] = { NULL };

    ck_assert_int_eq(push_webpush_config_load(&c, env, err, sizeof err), 0);
    ck_assert_str_eq(push_webpush_urgency(&c, "alert"), "high");
    ck_assert_str_eq(push_webpush_urgency(&c, "digest"), "very-low");
    ck_assert_str_eq(push_webpush_urgency(&c, "notice"), "low");
    ck_assert_str_eq(push_webpush_urgency(&c, NULL), "low");
    ck_assert_str_eq(push_webpush_urgency(&c, "aler"), "low");
    ck_assert_int_eq(push_webpush_config_load(&c, none, err, sizeof err), 0);
    ck_assert_str_eq(push_webpush_urgency(&c, "alert"), "normal");
}
END_TEST

START_TEST(subscription_shapes)
{
    struct push_webpush_config c = cfg("fcm.googleapis.com", 0);
    struct push_webpush_subscription s;
    const struct {
        const char *json;
        enum push_webpush_sub_err want;
    } cases[] = {
        { "{\"endpoint\":\"https://fcm.googleapis.com/fcm/send/x\",\"expirationTime\":null,"
          "\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "\"}}", PUSH_WEBPUSH_SUB_OK },
        { "{\"endpoint\":\"https://evil.example/x\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "\"}}",
          PUSH_WEBPUSH_SUB_ENDPOINT },
        { "{\"endpoint\":\"https://fcm.googleapis.com/x\",\"keys\":{\"p256dh\":\"" RFC_AS_PRIVATE "\",\"auth\":\"" RFC_AUTH "\"}}",
          PUSH_WEBPUSH_SUB_BAD },
        { "{\"endpoint\":\"https://fcm.googleapis.com/x\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\"}}", PUSH_WEBPUSH_SUB_BAD },
        { "{\"endpoint\":\"https://fcm.googleapis.com/x\\u0000y\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "\"}}",
          PUSH_WEBPUSH_SUB_BAD },
        { "{\"endpoint\":42,\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "\"}}", PUSH_WEBPUSH_SUB_BAD },
        { "{\"endpoint\":\"https://fcm.googleapis.com/x\",\"keys\":[]}", PUSH_WEBPUSH_SUB_BAD },
        { "[]", PUSH_WEBPUSH_SUB_BAD },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *o = json_tokener_parse(cases[i].json);
        ck_assert_msg(push_webpush_subscription_parse(&c, o, &s) == cases[i].want, "case %zu", i);
        json_object_put(o);
    }
    ck_assert_int_eq(push_webpush_subscription_parse(&c, NULL, &s), PUSH_WEBPUSH_SUB_BAD);
}
END_TEST

static json_object *message(const char *title, const char *body, const char *data)
{
    json_object *m = json_object_new_object();

    json_object_object_add(m, "id", json_object_new_string("42"));
    json_object_object_add(m, "cursor", json_object_new_string("2a-0-0badcafe"));
    json_object_object_add(m, "kind", json_object_new_string("comment"));
    json_object_object_add(m, "title", json_object_new_string(title));
    json_object_object_add(m, "body", json_object_new_string(body));
    json_object_object_add(m, "data", data ? json_tokener_parse(data) : NULL);
    json_object_object_add(m, "link", json_object_new_string("https://example.org/p/42"));
    return m;
}

static json_object *unread(void)
{
    return json_tokener_parse("{\"total\":7,\"by_kind\":{\"comment\":7}}");
}

/* The cutting rule (push_webpush_payload.h), step by step. */
START_TEST(payload_cut_rule)
{
    static char big[20000];
    size_t len;
    char *t;
    json_object *o, *m, *v;

    t = push_webpush_payload(message("Hi", "short", "{\"a\":1}"), unread(), 3993, &len);
    ck_assert_str_eq(t, "{\"v\":1,\"type\":\"message\",\"message\":{\"id\":\"42\",\"cursor\":\"2a-0-0badcafe\","
                        "\"kind\":\"comment\",\"title\":\"Hi\",\"body\":\"short\",\"data\":{\"a\":1},"
                        "\"link\":\"https://example.org/p/42\"},\"unread\":{\"total\":7,\"by_kind\":{\"comment\":7}}}");
    ck_assert_uint_eq(len, strlen(t));
    free(t);
    /* 2: data goes first */
    memset(big, 'd', 3000);
    big[3000] = 0;
    {
        static char data[3100];
        memcpy(data, "{\"x\":\"", 6);
        memcpy(data + 6, big, 3000);
        memcpy(data + 3006, "\"}", 3);
        t = push_webpush_payload(message("Hi", "short", data), unread(), 1000, &len);
    }
    o = json_tokener_parse(t);
    ck_assert(json_object_object_get_ex(o, "message", &m));
    ck_assert(json_object_object_get_ex(m, "data", &v) && v == NULL);
    ck_assert(json_object_object_get_ex(m, "truncated", &v) && json_object_get_boolean(v));
    ck_assert(json_object_object_get_ex(m, "body", &v));
    ck_assert_str_eq(json_object_get_string(v), "short");
    json_object_put(o);
    free(t);
    /* 3: the body cut at a character's boundary, escapes and all, to fit exactly the limit's side */
    for (int i = 0; i < 3000; i++) /* "é" (2 bytes) and a quote, escaped */
        memcpy(big + i * 3, i % 2 ? "\xc3\xa9\"" : "ab\"", 3);
    big[9000] = 0;
    for (size_t max = 256; max <= 3993; max += 371) {
        t = push_webpush_payload(message("Title", big, NULL), unread(), max, &len);
        ck_assert_uint_le(len, max);
        ck_assert_ptr_nonnull(o = json_tokener_parse(t)); /* valid JSON, valid UTF-8 */
        ck_assert(json_object_object_get_ex(o, "message", &m));
        ck_assert(json_object_object_get_ex(m, "id", &v));
        ck_assert_str_eq(json_object_get_string(v), "42");
        if (json_object_object_get_ex(m, "body", &v) && v) /* a prefix of the body */
            ck_assert(strncmp(json_object_get_string(v), big, strlen(json_object_get_string(v))) == 0);
        ck_assert(json_object_object_get_ex(o, "unread", &v));
        json_object_put(o);
        free(t);
    }
    /* 6: nothing else left to cut: the id and the total */
    memset(big, 'u', 1000);
    big[1000] = 0;
    {
        json_object *u = json_object_new_object();
        json_object_object_add(u, "total", json_object_new_int(3));
        json_object_object_add(u, "by_kind", json_object_new_object());
        json_object_object_add(json_object_object_get(u, "by_kind"), big, json_object_new_int(3));
        t = push_webpush_payload(message("T", "B", NULL), u, 256, &len);
    }
    ck_assert_str_eq(t, "{\"v\":1,\"type\":\"message\",\"message\":{\"id\":\"42\",\"truncated\":true},\"unread\":{\"total\":3}}");
    free(t);
}
END_TEST

static Suite *webpush_suite(void)
{
    Suite *s = suite_create("webpush");
    TCase *crypto = tcase_create("crypto"), *rules = tcase_create("rules"), *payload = tcase_create("payload");

    tcase_add_test(crypto, rfc8291_example_to_the_byte);
    tcase_add_test(crypto, fresh_keys_and_salt_every_time);
    tcase_add_test(crypto, plaintext_bound);
    tcase_add_test(crypto, keys_rules);
    tcase_add_test(crypto, vapid_header_verifies);
    suite_add_tcase(s, crypto);
    tcase_add_loop_test(rules, endpoint_rules, 0, sizeof endpoint_cases / sizeof endpoint_cases[0]);
    tcase_add_test(rules, endpoint_loopback_for_tests);
    tcase_add_test(rules, settings_refused);
    tcase_add_test(rules, urgency_by_kind);
    tcase_add_test(rules, subscription_shapes);
    suite_add_tcase(s, rules);
    tcase_add_test(payload, payload_cut_rule);
    suite_add_tcase(s, payload);
    return s;
}

UNIT_MAIN(webpush_suite)
