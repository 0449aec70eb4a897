/* test_notify.c: unit tests for lib/store/push_notify: the payloads of NOTIFY pgpush (README "How it
 * works"): "u:<user>" wakes that user, "*" everyone, a name no user can have no one, and anything
 * else everyone (waking too much is safe) */
#include "config.h"

#include "unit.h"

#include "core/push_user.h"
#include "store/push_notify.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
    const char *payload;
    enum push_notify_kind kind;
    const char *user; /* PUSH_NOTIFY_USER: the name read */
} cases[] = {
    /* what the triggers send */
    { "*", PUSH_NOTIFY_ALL, NULL },
    { "x", PUSH_NOTIFY_EXPIRY, NULL },
    { "u:alice", PUSH_NOTIFY_USER, "alice" },
    { "u:Bob Smith", PUSH_NOTIFY_USER, "Bob Smith" },
    { "u:zo\xc3\xab", PUSH_NOTIFY_USER, "zo\xc3\xab" },
    { "u:a/b+#", PUSH_NOTIFY_USER, "a/b+#" },   /* a valid name; MQTT topics are push-mqtt's matter */
    { "u:u:x", PUSH_NOTIFY_USER, "u:x" },       /* only the first "u:" is the prefix */
    { "u:*", PUSH_NOTIFY_USER, "*" },           /* a user named "*", not everyone */
    { "u: ", PUSH_NOTIFY_USER, " " },
    /* "u:" and a name no user can have: no one to wake */
    { "u:", PUSH_NOTIFY_NOBODY, NULL },
    { "u:al\nice", PUSH_NOTIFY_NOBODY, NULL },
    { "u:tab\there", PUSH_NOTIFY_NOBODY, NULL },
    { "u:del\x7f", PUSH_NOTIFY_NOBODY, NULL },
    { "u:\xc2\x85", PUSH_NOTIFY_NOBODY, NULL }, /* C1 control */
    { "u:\xff", PUSH_NOTIFY_NOBODY, NULL },     /* not UTF-8 */
    { "u:\xc3", PUSH_NOTIFY_NOBODY, NULL },     /* cut short */
    { "u:\xc0\xaf", PUSH_NOTIFY_NOBODY, NULL }, /* overlong */
    /* anything else: everyone */
    { "", PUSH_NOTIFY_ALL, NULL },
    { "**", PUSH_NOTIFY_ALL, NULL },
    { "u", PUSH_NOTIFY_ALL, NULL },
    { "U:alice", PUSH_NOTIFY_ALL, NULL },
    { " u:alice", PUSH_NOTIFY_ALL, NULL },
    { "user:alice", PUSH_NOTIFY_ALL, NULL },
    { "k:news", PUSH_NOTIFY_ALL, NULL },
};

START_TEST(payloads)
{
    struct push_notify n;
    enum push_notify_kind kind;

    memset(&n, 0x55, sizeof n);
    kind = push_notify_parse(cases[_i].payload, &n);
    ck_assert_msg(kind == cases[_i].kind && n.kind == kind, "\"%s\": kind %d, wanted %d",
                  cases[_i].payload, (int)kind, (int)cases[_i].kind);
    if (cases[_i].user) {
        ck_assert_ptr_nonnull(n.user);
        ck_assert_str_eq(n.user, cases[_i].user);
        ck_assert_ptr_eq(n.user, cases[_i].payload + 2); /* points into the payload */
    } else {
        ck_assert_ptr_null(n.user);
    }
}
END_TEST

/* The longest name is a user; one byte more is no one. */
START_TEST(name_length)
{
    char payload[2 + PUSH_USER_MAX + 2];
    struct push_notify n;

    memcpy(payload, "u:", 2);
    memset(payload + 2, 'x', PUSH_USER_MAX);
    payload[2 + PUSH_USER_MAX] = '\0';
    ck_assert_int_eq(push_notify_parse(payload, &n), PUSH_NOTIFY_USER);
    ck_assert_uint_eq(strlen(n.user), PUSH_USER_MAX);
    payload[2 + PUSH_USER_MAX] = 'x';
    payload[2 + PUSH_USER_MAX + 1] = '\0';
    ck_assert_int_eq(push_notify_parse(payload, &n), PUSH_NOTIFY_NOBODY);
    ck_assert_ptr_null(n.user);
}
END_TEST

START_TEST(channel)
{
    ck_assert_str_eq(PUSH_NOTIFY_CHANNEL, "pgpush");
    ck_assert_str_eq(PUSH_NOTIFY_LISTEN, "LISTEN pgpush");
}
END_TEST


/* ---- sealed payloads: "m:" seal ":" target (sql/migrations/0005_carry.sql) */

static struct push_notify_key key;

static void make_key(struct push_notify_key *k, unsigned char seed)
{
    for (int i = 0; i < PUSH_NOTIFY_KEY_LEN; i++) {
        k->enc[i] = (unsigned char)(seed + i);
        k->mac[i] = (unsigned char)(seed * 7 + i);
    }
    k->set = 1;
}

/* What the trigger sends for text, sealed with k (as pgcrypto's encrypt_iv and hmac do), into
 * payload. */
static void seal(const struct push_notify_key *k, const char *text, const char *target,
                 char *payload, size_t size)
{
    unsigned char raw[8192], iv[16];
    int len = 0, fin = 0;
    unsigned int mdlen = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    for (int i = 0; i < 16; i++)
        iv[i] = (unsigned char)(i * 13);
    memcpy(raw, iv, 16);
    ck_assert(EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, k->enc, iv) == 1);
    ck_assert(EVP_EncryptUpdate(ctx, raw + 16, &len, (const unsigned char *)text, (int)strlen(text)) == 1);
    ck_assert(EVP_EncryptFinal_ex(ctx, raw + 16 + len, &fin) == 1);
    EVP_CIPHER_CTX_free(ctx);
    HMAC(EVP_sha256(), k->mac, PUSH_NOTIFY_KEY_LEN, raw, (size_t)(16 + len + fin),
         raw + 16 + len + fin, &mdlen);
    ck_assert_uint_eq(mdlen, 32);
    memcpy(payload, "m:", 2);
    int b = EVP_EncodeBlock((unsigned char *)payload + 2, raw, 16 + len + fin + 32);
    ck_assert_uint_lt((size_t)b + 3 + strlen(target), size);
    payload[2 + b] = ':';
    strcpy(payload + 3 + b, target);
}

START_TEST(a_seal_opens_with_its_key_only)
{
    static const char *const texts[] = { "{}", "0123456789abcde", "0123456789abcdef",
                                         "{\"id\": \"7\", \"title\": \"\xc3\xa9 \\\"q\\\"\"}" };
    char payload[8192], out[PUSH_NOTIFY_OPEN_MAX];
    struct push_notify n;
    struct push_notify_key other;

    make_key(&key, 1);
    make_key(&other, 2);
    for (int i = 0; i < N(texts); i++) {
        seal(&key, texts[i], "u:alice", payload, sizeof payload);
        ck_assert_int_eq(push_notify_parse(payload, &n), PUSH_NOTIFY_USER);
        ck_assert_str_eq(n.user, "alice");
        ck_assert_ptr_eq(n.seal, payload + 2);
        ck_assert_int_eq(push_notify_open(&n, &key, out, sizeof out), (long)strlen(texts[i]));
        ck_assert_str_eq(out, texts[i]);
        ck_assert_int_eq(push_notify_open(&n, &other, out, sizeof out), -1); /* another key */
        other.set = 0;
        ck_assert_int_eq(push_notify_open(&n, &other, out, sizeof out), -1); /* no key read */
        other.set = 1;
        ck_assert_int_eq(push_notify_open(&n, &key, out, strlen(texts[i])), -1); /* no room */
    }
    seal(&key, "{}", "*", payload, sizeof payload);
    ck_assert_int_eq(push_notify_parse(payload, &n), PUSH_NOTIFY_ALL);
    ck_assert_int_eq(push_notify_open(&n, &key, out, sizeof out), 2);
}
END_TEST

/* Every byte of the seal changed, one at a time (the IV, the ciphertext, the MAC), and every
 * length cut short: none opens. */
START_TEST(an_altered_seal_never_opens)
{
    char payload[8192], bad[8192], out[PUSH_NOTIFY_OPEN_MAX];
    struct push_notify n;
    size_t end;

    make_key(&key, 3);
    seal(&key, "{\"id\": \"1\", \"title\": \"a message of some length, two blocks at least\"}",
         "u:alice", payload, sizeof payload);
    end = (size_t)(strchr(payload + 2, ':') - payload);
    for (size_t i = 2; i < end; i++) {
        strcpy(bad, payload);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        push_notify_parse(bad, &n);
        ck_assert_msg(push_notify_open(&n, &key, out, sizeof out) == -1, "opened with byte %zu changed", i);
    }
    for (size_t cut = 2; cut < end; cut++) {
        memcpy(bad, payload, cut);
        strcpy(bad + cut, payload + end);
        push_notify_parse(bad, &n);
        ck_assert_msg(push_notify_open(&n, &key, out, sizeof out) == -1, "opened cut at %zu", cut);
    }
    /* not base64, no seal, no target */
    push_notify_parse("m:!!!!:u:alice", &n);
    ck_assert_int_eq(push_notify_open(&n, &key, out, sizeof out), -1);
    push_notify_parse("u:alice", &n);
    ck_assert_ptr_null(n.seal);
    ck_assert_int_eq(push_notify_open(&n, &key, out, sizeof out), -1);
    ck_assert_int_eq(push_notify_parse("m:QUJD", &n), PUSH_NOTIFY_ALL);
    ck_assert_int_eq(push_notify_parse("m:QUJD:u:", &n), PUSH_NOTIFY_NOBODY);
}
END_TEST

static Suite *notify_suite(void)
{
    Suite *s = suite_create("notify");
    TCase *t = tcase_create("payloads");

    tcase_add_loop_test(t, payloads, 0, N(cases));
    tcase_add_test(t, name_length);
    tcase_add_test(t, channel);
    tcase_add_test(t, a_seal_opens_with_its_key_only);
    tcase_add_test(t, an_altered_seal_never_opens);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(notify_suite)
