/* test_token.c: unit tests for lib/core/push_token: token format, signing, verification, user names */
#include "config.h"

#include "unit.h"

#include "core/push_token.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SECRET "0123456789abcdef0123456789abcdef"
#define SECRET_LEN (sizeof SECRET - 1)
#define EXPIRY INT64_C(2000000000)

/* Lowercase hex HMAC-SHA256 of data (len bytes) keyed with secret, computed independently of
 * lib/ so the tests pin the documented format. */
static void hmac_hex(const char *secret, const char *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret),
                               (const unsigned char *)data, len, md, &mdlen));
    ck_assert_uint_eq(mdlen, 32);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* out = payload "." hex HMAC(payload): a token signed by hand, whatever the payload holds. */
static void sign_by_hand(const char *secret, const char *payload, char *out, size_t size)
{
    char sig[65];
    int n;

    hmac_hex(secret, payload, strlen(payload), sig);
    n = snprintf(out, size, "%s.%s", payload, sig);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_lt((size_t)n, size);
}

/* Unpadded base64url of len bytes, via OpenSSL's standard base64. */
static void b64url(const void *in, size_t len, char *out, size_t size)
{
    int n;

    ck_assert_uint_ge(size, (len + 2) / 3 * 4 + 1);
    n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++) {
        if (*p == '+') *p = '-';
        else if (*p == '/') *p = '_';
    }
}

/* A hand-signed token for user bytes (len) and expiry text. */
static void token_for_bytes(const void *user, size_t len, const char *expiry, char *out,
                            size_t size)
{
    char enc[1024], payload[1200];

    b64url(user, len, enc, sizeof enc);
    snprintf(payload, sizeof payload, "v1.%s.%s", enc, expiry);
    sign_by_hand(SECRET, payload, out, size);
}

static int sign(const char *user, int64_t expires, char *buf, size_t size)
{
    return push_token_sign(SECRET, SECRET_LEN, user, expires, buf, size);
}

static enum push_token_err verify(const char *token, int64_t now, char user[PUSH_USER_MAX + 1],
                                  int64_t *expires)
{
    return push_token_verify(SECRET, SECRET_LEN, token, now, user, expires);
}

/* ---- format */

START_TEST(sign_matches_documented_format)
{
    const char *payload = "v1.YWxpY2U.2000000000";
    char sig[65], expect[256], got[256];
    int n;

    hmac_hex(SECRET, payload, strlen(payload), sig);
    snprintf(expect, sizeof expect, "%s.%s", payload, sig);
    n = sign("alice", EXPIRY, got, sizeof got);
    ck_assert_int_eq(n, (int)strlen(expect));
    ck_assert_str_eq(got, expect);
}
END_TEST

START_TEST(hand_signed_token_of_documented_format_verifies)
{
    char tok[256], user[PUSH_USER_MAX + 1];
    int64_t exp = 0;

    token_for_bytes("zo\xc3\xab", 4, "2000000000", tok, sizeof tok);
    ck_assert_int_eq(verify(tok, EXPIRY - 1, user, &exp), PUSH_TOKEN_OK);
    ck_assert_str_eq(user, "zo\xc3\xab");
    ck_assert_int_eq(exp, EXPIRY);
}
END_TEST

/* ---- round trips */

static const char *const round_trip_users[] = {
    "alice",
    "zo\xc3\xab",                         /* zoë */
    "first.last",
    "a.b.c.",
    "mail:alice",
    "alice smith",
    " ",
    "alice@example.com",
    "\xe6\x97\xa5\xe6\x9c\xac",           /* 日本 */
    "\xf0\x9f\x98\x80 smile",             /* U+1F600 */
    "a",
    "ab",
    "abc",
    "abcd",                                /* all base64 tail lengths */
    "-_+/=",
    "\xf4\x8f\xbf\xbf",                   /* U+10FFFF */
};

START_TEST(sign_verify_round_trip)
{
    const char *name = round_trip_users[_i];
    char tok[PUSH_TOKEN_MAX + 1], user[PUSH_USER_MAX + 1];
    int64_t exp = 0;
    int n = sign(name, EXPIRY, tok, sizeof tok);

    ck_assert_msg(n > 0, "sign refused \"%s\"", name);
    ck_assert_int_eq(n, (int)strlen(tok));
    ck_assert_int_eq(verify(tok, EXPIRY - 100, user, &exp), PUSH_TOKEN_OK);
    ck_assert_str_eq(user, name);
    ck_assert_int_eq(exp, EXPIRY);
}
END_TEST

START_TEST(sign_verify_round_trip_longest_user)
{
    char name[PUSH_USER_MAX + 1], tok[PUSH_TOKEN_MAX + 1], user[PUSH_USER_MAX + 1];

    memset(name, 'x', PUSH_USER_MAX);
    name[PUSH_USER_MAX] = '\0';
    ck_assert_int_gt(sign(name, EXPIRY, tok, sizeof tok), 0);
    ck_assert_int_eq(verify(tok, 0, user, NULL), PUSH_TOKEN_OK);
    ck_assert_str_eq(user, name);

    /* longest name in 4-byte characters: 32 of U+1F600 */
    for (int i = 0; i < PUSH_USER_MAX; i += 4)
        memcpy(name + i, "\xf0\x9f\x98\x80", 4);
    ck_assert_int_gt(sign(name, EXPIRY, tok, sizeof tok), 0);
    ck_assert_int_eq(verify(tok, 0, user, NULL), PUSH_TOKEN_OK);
    ck_assert_str_eq(user, name);
}
END_TEST

/* Whatever push_token_sign agrees to sign must verify before its expiry. */
static const int64_t round_trip_expiries[] = {
    1, 2000000000, INT64_C(999999999999999999), INT64_C(1000000000000000000), INT64_MAX,
};

START_TEST(signed_token_verifies_for_any_expiry_sign_accepts)
{
    int64_t expires = round_trip_expiries[_i], exp = 0;
    char tok[PUSH_TOKEN_MAX + 1], user[PUSH_USER_MAX + 1];

    if (sign("alice", expires, tok, sizeof tok) < 0)
        return; /* refusing is fine too; signing a token that never verifies is not */
    ck_assert_msg(verify(tok, expires - 1, user, &exp) == PUSH_TOKEN_OK,
                  "token for expiry %lld was signed but does not verify: %s", (long long)expires,
                  push_token_strerror(verify(tok, expires - 1, user, &exp)));
    ck_assert_int_eq(exp, expires);
}
END_TEST

/* ---- expiry */

START_TEST(token_good_before_expiry_expired_at_and_after)
{
    char tok[256], user[PUSH_USER_MAX + 1];

    ck_assert_int_gt(sign("alice", EXPIRY, tok, sizeof tok), 0);
    ck_assert_int_eq(verify(tok, 0, user, NULL), PUSH_TOKEN_OK);
    ck_assert_int_eq(verify(tok, EXPIRY - 1, user, NULL), PUSH_TOKEN_OK);
    ck_assert_int_eq(verify(tok, EXPIRY, user, NULL), PUSH_TOKEN_EXPIRED);
    ck_assert_int_eq(verify(tok, EXPIRY + 1, user, NULL), PUSH_TOKEN_EXPIRED);
    ck_assert_int_eq(verify(tok, INT64_MAX, user, NULL), PUSH_TOKEN_EXPIRED);
}
END_TEST

START_TEST(expired_token_with_bad_signature_is_bad_signature)
{
    /* the signature is checked before the expiry is believed */
    char tok[256], user[PUSH_USER_MAX + 1];

    ck_assert_int_gt(push_token_sign("another secret, 32 bytes long...", 32, "alice", 10, tok,
                                     sizeof tok), 0);
    ck_assert_int_eq(verify(tok, 1000, user, NULL), PUSH_TOKEN_BAD_SIGNATURE);
}
END_TEST

/* ---- signatures */

START_TEST(wrong_secret_is_bad_signature)
{
    static const char *const others[] = {
        "0123456789abcdef0123456789abcdeF", /* one byte differs */
        "0123456789abcdef0123456789abcde",  /* a prefix */
        "0123456789abcdef0123456789abcdef0", /* an extension */
        "completely different secret here",
    };
    char tok[256], user[PUSH_USER_MAX + 1];

    ck_assert_int_gt(sign("alice", EXPIRY, tok, sizeof tok), 0);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        ck_assert_int_eq(push_token_verify(others[i], strlen(others[i]), tok, 0, user, NULL),
                         PUSH_TOKEN_BAD_SIGNATURE);
}
END_TEST

START_TEST(every_single_character_change_is_refused)
{
    char tok[256], bad[256], user[PUSH_USER_MAX + 1];
    size_t len;

    ck_assert_int_gt(sign("zo\xc3\xab.k", EXPIRY, tok, sizeof tok), 0);
    len = strlen(tok);
    for (size_t i = 0; i < len; i++) {
        for (int c = 1; c < 256; c++) {
            enum push_token_err err;

            if (c == (unsigned char)tok[i])
                continue;
            memcpy(bad, tok, len + 1);
            bad[i] = (char)c;
            err = verify(bad, 0, user, NULL);
            ck_assert_msg(err == PUSH_TOKEN_BAD_SIGNATURE || err == PUSH_TOKEN_MALFORMED,
                          "position %zu changed to 0x%02x: %s", i, c, push_token_strerror(err));
        }
    }
}
END_TEST

START_TEST(uppercase_signature_is_refused)
{
    char tok[256], user[PUSH_USER_MAX + 1];
    size_t len;

    ck_assert_int_gt(sign("alice", EXPIRY, tok, sizeof tok), 0);
    len = strlen(tok);
    for (size_t i = len - 64; i < len; i++)
        if (tok[i] >= 'a' && tok[i] <= 'f')
            tok[i] = (char)(tok[i] - 'a' + 'A');
    ck_assert_int_eq(verify(tok, 0, user, NULL), PUSH_TOKEN_BAD_SIGNATURE);
}
END_TEST

START_TEST(every_truncation_is_refused)
{
    char tok[256], cut[256], user[PUSH_USER_MAX + 1];
    size_t len;

    ck_assert_int_gt(sign("alice", EXPIRY, tok, sizeof tok), 0);
    len = strlen(tok);
    for (size_t n = 0; n < len; n++) {
        enum push_token_err err;

        memcpy(cut, tok, n);
        cut[n] = '\0';
        err = verify(cut, 0, user, NULL);
        ck_assert_msg(err == PUSH_TOKEN_MALFORMED || err == PUSH_TOKEN_BAD_SIGNATURE,
                      "first %zu bytes: %s", n, push_token_strerror(err));
    }
    /* and the same with the front cut off */
    for (size_t n = 1; n < len; n++)
        ck_assert_int_ne(verify(tok + n, 0, user, NULL), PUSH_TOKEN_OK);
}
END_TEST

START_TEST(extra_characters_are_refused)
{
    char tok[256], longer[300], user[PUSH_USER_MAX + 1];

    ck_assert_int_gt(sign("alice", EXPIRY, tok, sizeof tok), 0);
    snprintf(longer, sizeof longer, "%s0", tok);
    ck_assert_int_ne(verify(longer, 0, user, NULL), PUSH_TOKEN_OK);
    snprintf(longer, sizeof longer, "%s.", tok);
    ck_assert_int_ne(verify(longer, 0, user, NULL), PUSH_TOKEN_OK);
    snprintf(longer, sizeof longer, " %s", tok);
    ck_assert_int_ne(verify(longer, 0, user, NULL), PUSH_TOKEN_OK);
}
END_TEST

/* ---- malformed */

START_TEST(overlong_token_is_malformed)
{
    static char big[4096];
    char user[PUSH_USER_MAX + 1], name[400];
    size_t want = PUSH_TOKEN_MAX + 1;

    /* a validly signed token one byte too long: 3 + b64 + 1 + 10 + 1 + 64 = 513 */
    memset(name, 'x', sizeof name);
    for (size_t ulen = 1; ulen < sizeof name; ulen++) {
        char enc[1024];

        b64url(name, ulen, enc, sizeof enc);
        if (3 + strlen(enc) + 1 + 10 + 1 + 64 == want) {
            token_for_bytes(name, ulen, "2000000000", big, sizeof big);
            break;
        }
    }
    ck_assert_uint_eq(strlen(big), want);
    ck_assert_int_eq(verify(big, 0, user, NULL), PUSH_TOKEN_MALFORMED);

    /* a very long string */
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "v1.", 3);
    ck_assert_int_eq(verify(big, 0, user, NULL), PUSH_TOKEN_MALFORMED);
}
END_TEST

START_TEST(missing_or_wrong_version_prefix_is_malformed)
{
    static const char *const payloads[] = {
        "YWxpY2U.2000000000",
        "v2.YWxpY2U.2000000000",
        "V1.YWxpY2U.2000000000",
        "v1YWxpY2U.2000000000",
        "x.v1.YWxpY2U.2000000000",
        ".v1.YWxpY2U.2000000000",
    };
    char tok[256], user[PUSH_USER_MAX + 1];

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        sign_by_hand(SECRET, payloads[i], tok, sizeof tok);
        ck_assert_msg(verify(tok, 0, user, NULL) == PUSH_TOKEN_MALFORMED, "%s", payloads[i]);
    }
    ck_assert_int_eq(verify("", 0, user, NULL), PUSH_TOKEN_MALFORMED);
    ck_assert_int_eq(verify("v1.", 0, user, NULL), PUSH_TOKEN_MALFORMED);
}
END_TEST

START_TEST(bad_expiry_is_malformed)
{
    static const char *const payloads[] = {
        "v1.YWxpY2U.20000x0000",
        "v1.YWxpY2U.-1",
        "v1.YWxpY2U.+2000000000",
        "v1.YWxpY2U. 2000000000",
        "v1.YWxpY2U.2000000000 ",
        "v1.YWxpY2U.0x77359400",
        "v1.YWxpY2U.2e9",
        "v1.YWxpY2U.",
        "v1.YWxpY2U",
        "v1.YWxpY2U.2000.0000",
        "v1.YWxpY2U.99999999999999999999999", /* would overflow int64 */
    };
    char tok[256], user[PUSH_USER_MAX + 1];

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        sign_by_hand(SECRET, payloads[i], tok, sizeof tok);
        ck_assert_msg(verify(tok, 0, user, NULL) == PUSH_TOKEN_MALFORMED, "%s: %s", payloads[i],
                      push_token_strerror(verify(tok, 0, user, NULL)));
    }
}
END_TEST

START_TEST(signed_token_with_invalid_user_is_malformed)
{
    static const struct { const char *bytes; size_t len; } users[] = {
        { "", 0 },
        { "a\x01" "b", 3 },
        { "a\x7f", 2 },
        { "\x1b[31m", 5 },
        { "a\nb", 3 },
        { "a\0b", 3 },
        { "\xc2\x85", 2 },
        { "\xc0\xaf", 2 },
        { "\xed\xa0\x80", 3 },
        { "\xe2\x82", 2 },
        { "\xf4\x90\x80\x80", 4 },
        { "\xff", 1 },
    };
    char tok[512], user[PUSH_USER_MAX + 1], longname[PUSH_USER_MAX + 1];

    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        token_for_bytes(users[i].bytes, users[i].len, "2000000000", tok, sizeof tok);
        ck_assert_msg(verify(tok, 0, user, NULL) == PUSH_TOKEN_MALFORMED, "user #%zu: %s", i,
                      push_token_strerror(verify(tok, 0, user, NULL)));
    }
    memset(longname, 'x', sizeof longname); /* PUSH_USER_MAX + 1 bytes */
    token_for_bytes(longname, sizeof longname, "2000000000", tok, sizeof tok);
    ck_assert_int_eq(verify(tok, 0, user, NULL), PUSH_TOKEN_MALFORMED);
}
END_TEST

START_TEST(signed_token_with_bad_base64_is_malformed)
{
    static const char *const payloads[] = {
        "v1.YWxpY2U=.2000000000", /* padding */
        "v1.YWxpY2V.2000000000",  /* non-canonical trailing bits */
        "v1.YWxpY.2000000000",    /* length 1 mod 4 */
        "v1.YW+pY2U.2000000000",  /* standard, not url, alphabet */
        "v1.YW/pY2U.2000000000",
        "v1.YW pY2U.2000000000",
        "v1.YW%70Y2U.2000000000",
    };
    char tok[256], user[PUSH_USER_MAX + 1];

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        sign_by_hand(SECRET, payloads[i], tok, sizeof tok);
        ck_assert_msg(verify(tok, 0, user, NULL) == PUSH_TOKEN_MALFORMED, "%s", payloads[i]);
    }
}
END_TEST

START_TEST(signed_bare_prefix_is_malformed)
{
    /* "v1." followed directly by a valid signature of "v1": the shortest string the length
     * check lets through, with no user and no expiry */
    char tok[128], sig[65], user[PUSH_USER_MAX + 1];

    hmac_hex(SECRET, "v1", 2, sig);
    snprintf(tok, sizeof tok, "v1.%s", sig);
    ck_assert_uint_eq(strlen(tok), 67);
    ck_assert_int_eq(verify(tok, 0, user, NULL), PUSH_TOKEN_MALFORMED);
}
END_TEST

START_TEST(signed_token_without_user_field_is_malformed)
{
    char tok[256], user[PUSH_USER_MAX + 1];

    sign_by_hand(SECRET, "v1.", tok, sizeof tok);     /* "v1.." + sig */
    ck_assert_int_eq(verify(tok, 0, user, NULL), PUSH_TOKEN_MALFORMED);
    sign_by_hand(SECRET, "v1.2000000000", tok, sizeof tok);
    ck_assert_int_eq(verify(tok, 0, user, NULL), PUSH_TOKEN_MALFORMED);
    sign_by_hand(SECRET, "v1..2000000000", tok, sizeof tok);
    ck_assert_int_eq(verify(tok, 0, user, NULL), PUSH_TOKEN_MALFORMED);
}
END_TEST

/* ---- signing refusals */

START_TEST(sign_refuses_invalid_users)
{
    static const char *const bad[] = { "", "a\x01", "a\x7f", "\xc2\x85", "\xc0\xaf",
                                       "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80", "a\tb" };
    char tok[PUSH_TOKEN_MAX + 1], longname[PUSH_USER_MAX + 2];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(sign(bad[i], EXPIRY, tok, sizeof tok) == -1, "user #%zu", i);
    memset(longname, 'x', PUSH_USER_MAX + 1);
    longname[PUSH_USER_MAX + 1] = '\0';
    ck_assert_int_eq(sign(longname, EXPIRY, tok, sizeof tok), -1);
}
END_TEST

START_TEST(sign_refuses_small_buffer)
{
    char tok[256], small[256];
    int n = sign("alice", EXPIRY, tok, sizeof tok);

    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(sign("alice", EXPIRY, small, (size_t)n), -1);      /* no room for NUL */
    ck_assert_int_eq(sign("alice", EXPIRY, small, 10), -1);
    ck_assert_int_eq(sign("alice", EXPIRY, small, 0), -1);
    ck_assert_int_eq(sign("alice", EXPIRY, small, (size_t)n + 1), n);   /* exactly enough */
    ck_assert_str_eq(small, tok);
}
END_TEST

/* ---- push_user_valid */

#define U(s, ok) { s, sizeof(s) - 1, ok, #s }
static const struct {
    const char *s;
    size_t len;
    int ok;
    const char *what;
} user_cases[] = {
    U("", 0),
    U("a", 1),
    U("alice smith", 1),
    U("first.last:x", 1),
    U("a\x01", 0),
    U("\x1f", 0),
    U("a\tb", 0),
    U("a\nb", 0),
    U("a\x7f", 0),
    U("a\0b", 0),                  /* embedded NUL */
    U("\xc2\x80", 0),              /* U+0080, C1 */
    U("\xc2\x85", 0),              /* U+0085 NEL, C1 */
    U("\xc2\x9f", 0),              /* U+009F, C1 */
    U("\xc2\xa0", 1),              /* U+00A0 */
    U("zo\xc3\xab", 1),            /* 2 bytes */
    U("\xdf\xbf", 1),              /* U+07FF */
    U("\xe0\xa0\x80", 1),          /* U+0800 */
    U("\xe2\x82\xac", 1),          /* 3 bytes: euro sign */
    U("\xed\x9f\xbf", 1),          /* U+D7FF */
    U("\xee\x80\x80", 1),          /* U+E000 */
    U("\xef\xbf\xbd", 1),          /* U+FFFD */
    U("\xf0\x90\x80\x80", 1),      /* U+10000 */
    U("\xf0\x9f\x98\x80", 1),      /* 4 bytes: U+1F600 */
    U("\xf4\x8f\xbf\xbf", 1),      /* U+10FFFF */
    U("\xc0\xaf", 0),              /* overlong '/' */
    U("\xc1\xbf", 0),              /* overlong */
    U("\xe0\x80\xaf", 0),          /* overlong 3 bytes */
    U("\xe0\x9f\xbf", 0),          /* overlong U+07FF */
    U("\xf0\x80\x80\xaf", 0),      /* overlong 4 bytes */
    U("\xf0\x8f\xbf\xbf", 0),      /* overlong U+FFFF */
    U("\xed\xa0\x80", 0),          /* U+D800 surrogate */
    U("\xed\xbf\xbf", 0),          /* U+DFFF surrogate */
    U("\xf4\x90\x80\x80", 0),      /* U+110000 */
    U("\xf5\x80\x80\x80", 0),
    U("\xf8\x88\x80\x80\x80", 0),  /* 5-byte form */
    U("\xe2\x82", 0),              /* truncated */
    U("a\xe2\x82", 0),
    U("\xf0\x9f\x98", 0),
    U("\xc3", 0),
    U("\x80", 0),                  /* lone continuation */
    U("a\xbf" "b", 0),
    U("\xc3\x28", 0),              /* bad continuation */
    U("\xe2\x28\xac", 0),
    U("\xf0\x9f\x28\x80", 0),
    U("\xfe", 0),
    U("\xff", 0),
};

START_TEST(user_valid_table)
{
    ck_assert_msg(push_user_valid(user_cases[_i].s, user_cases[_i].len) == user_cases[_i].ok,
                  "push_user_valid(%s) should be %d", user_cases[_i].what, user_cases[_i].ok);
}
END_TEST

START_TEST(user_valid_length_limits)
{
    char name[PUSH_USER_MAX + 2];

    memset(name, 'x', sizeof name);
    ck_assert_int_eq(push_user_valid(name, PUSH_USER_MAX), 1);
    ck_assert_int_eq(push_user_valid(name, PUSH_USER_MAX + 1), 0);
    ck_assert_int_eq(push_user_valid(name, 0), 0);
    /* only len bytes are looked at */
    ck_assert_int_eq(push_user_valid("ab\x01", 2), 1);
    ck_assert_int_eq(push_user_valid("zo\xc3\xab", 3), 0); /* the cut splits a character */
}
END_TEST

START_TEST(strerror_distinct_and_nonempty)
{
    const enum push_token_err errs[] = { PUSH_TOKEN_OK, PUSH_TOKEN_MALFORMED,
                                         PUSH_TOKEN_BAD_SIGNATURE, PUSH_TOKEN_EXPIRED };

    for (size_t i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(push_token_strerror(errs[i]));
        ck_assert_uint_gt(strlen(push_token_strerror(errs[i])), 0);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(push_token_strerror(errs[i]), push_token_strerror(errs[j]));
    }
}
END_TEST

/* ---- stream tickets */

static int sign_ticket(const char *user, int64_t expires, int64_t token_expires, char *buf,
                       size_t size)
{
    return push_ticket_sign(SECRET, SECRET_LEN, user, expires, token_expires, buf, size);
}

static enum push_token_err verify_ticket(const char *ticket, int64_t now, int64_t *token_expires)
{
    char user[PUSH_USER_MAX + 1];

    return push_ticket_verify(SECRET, SECRET_LEN, ticket, now, user, token_expires);
}

/* A ticket signed by hand: HMAC over the domain string, then the payload. */
static void ticket_by_hand(const char *payload, char *out, size_t size)
{
    char data[600], sig[65];

    snprintf(data, sizeof data, "%s%s", PUSH_TICKET_DOMAIN, payload);
    hmac_hex(SECRET, data, strlen(data), sig);
    snprintf(out, size, "%s.%s", payload, sig);
}

START_TEST(ticket_matches_documented_format)
{
    char expect[256], got[256];

    ck_assert_str_eq(PUSH_TICKET_DOMAIN, "pgpush stream ticket\n");
    ticket_by_hand("t1.YWxpY2U.1999999960.2000000000", expect, sizeof expect);
    ck_assert_int_eq(sign_ticket("alice", EXPIRY - 40, EXPIRY, got, sizeof got), (int)strlen(expect));
    ck_assert_str_eq(got, expect);
}
END_TEST

START_TEST(ticket_carries_the_token_expiry)
{
    char t[PUSH_TOKEN_MAX + 1], user[PUSH_USER_MAX + 1];
    int64_t texp = -1;

    ck_assert_int_gt(sign_ticket("zo\xc3\xab", EXPIRY - 60, EXPIRY, t, sizeof t), 0);
    ck_assert_int_eq(push_ticket_verify(SECRET, SECRET_LEN, t, EXPIRY - 61, user, &texp), PUSH_TOKEN_OK);
    ck_assert_str_eq(user, "zo\xc3\xab");
    ck_assert_int_eq(texp, EXPIRY);
    /* minted for REMOTE_USER: no token expiry */
    ck_assert_int_gt(sign_ticket("alice", EXPIRY, 0, t, sizeof t), 0);
    ck_assert_int_eq(verify_ticket(t, EXPIRY - 1, &texp), PUSH_TOKEN_OK);
    ck_assert_int_eq(texp, 0);
    ck_assert_int_eq(verify_ticket(t, EXPIRY - 1, NULL), PUSH_TOKEN_OK);
}
END_TEST

START_TEST(ticket_good_before_expiry_expired_at_and_after)
{
    char t[PUSH_TOKEN_MAX + 1];

    ck_assert_int_gt(sign_ticket("alice", EXPIRY - 60, EXPIRY, t, sizeof t), 0);
    ck_assert_int_eq(verify_ticket(t, EXPIRY - 61, NULL), PUSH_TOKEN_OK);
    ck_assert_int_eq(verify_ticket(t, EXPIRY - 60, NULL), PUSH_TOKEN_EXPIRED);
    ck_assert_int_eq(verify_ticket(t, EXPIRY + 1000, NULL), PUSH_TOKEN_EXPIRED);
}
END_TEST

START_TEST(ticket_past_its_token_expiry_is_expired)
{
    char t[PUSH_TOKEN_MAX + 1];

    /* sign refuses a ticket outliving its token; one signed by hand is refused at the token's */
    ck_assert_int_eq(sign_ticket("alice", EXPIRY + 1, EXPIRY, t, sizeof t), -1);
    ticket_by_hand("t1.YWxpY2U.2000000060.2000000000", t, sizeof t);
    ck_assert_int_eq(verify_ticket(t, EXPIRY - 1, NULL), PUSH_TOKEN_OK);
    ck_assert_int_eq(verify_ticket(t, EXPIRY, NULL), PUSH_TOKEN_EXPIRED);
}
END_TEST

START_TEST(ticket_is_never_a_token)
{
    char t[PUSH_TOKEN_MAX + 1], user[PUSH_USER_MAX + 1], forged[256];

    ck_assert_int_gt(sign_ticket("alice", EXPIRY - 60, EXPIRY, t, sizeof t), 0);
    ck_assert_int_ne(verify(t, EXPIRY - 61, user, NULL), PUSH_TOKEN_OK);
    /* the ticket's own signature on a token's payload: the domains differ */
    ticket_by_hand("v1.YWxpY2U.2000000000", forged, sizeof forged);
    ck_assert_int_eq(verify(forged, EXPIRY - 61, user, NULL), PUSH_TOKEN_BAD_SIGNATURE);
}
END_TEST

START_TEST(token_is_never_a_ticket)
{
    char tok[PUSH_TOKEN_MAX + 1], forged[256];

    ck_assert_int_gt(sign("alice", EXPIRY, tok, sizeof tok), 0);
    ck_assert_int_eq(verify_ticket(tok, EXPIRY - 61, NULL), PUSH_TOKEN_MALFORMED);
    /* a token's signature (no domain) over a ticket's payload */
    sign_by_hand(SECRET, "t1.YWxpY2U.1999999960.2000000000", forged, sizeof forged);
    ck_assert_int_eq(verify_ticket(forged, EXPIRY - 61, NULL), PUSH_TOKEN_BAD_SIGNATURE);
}
END_TEST

START_TEST(ticket_tampered_or_foreign_is_refused)
{
    char t[PUSH_TOKEN_MAX + 1], copy[PUSH_TOKEN_MAX + 1], user[PUSH_USER_MAX + 1];
    size_t len;

    ck_assert_int_gt(sign_ticket("alice", EXPIRY - 60, EXPIRY, t, sizeof t), 0);
    len = strlen(t);
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, t, len + 1);
        copy[i] = copy[i] == '1' ? '2' : '1';
        ck_assert_int_ne(verify_ticket(copy, EXPIRY - 61, NULL), PUSH_TOKEN_OK);
        memcpy(copy, t, len + 1);
        copy[i] = '\0';
        ck_assert_int_ne(verify_ticket(copy, EXPIRY - 61, NULL), PUSH_TOKEN_OK);
    }
    ck_assert_int_eq(push_ticket_verify("another secret of 32 bytes......", 32, t, EXPIRY - 61,
                                        user, NULL),
                     PUSH_TOKEN_BAD_SIGNATURE);
    ticket_by_hand("t1.YWxpY2U.1999999960", copy, sizeof copy); /* no token expiry */
    ck_assert_int_eq(verify_ticket(copy, EXPIRY - 61, NULL), PUSH_TOKEN_MALFORMED);
    ticket_by_hand("t1.YWxpY2U.1999999960.2000000000.5", copy, sizeof copy);
    ck_assert_int_eq(verify_ticket(copy, EXPIRY - 61, NULL), PUSH_TOKEN_MALFORMED);
    ticket_by_hand("t1.YWxpY2U..2000000000", copy, sizeof copy);
    ck_assert_int_eq(verify_ticket(copy, EXPIRY - 61, NULL), PUSH_TOKEN_MALFORMED);
}
END_TEST

/* ---- the user a refused token claims, for the log */

START_TEST(claimed_user_is_decoded_not_verified)
{
    char t[PUSH_TOKEN_MAX + 1], user[PUSH_USER_MAX + 1];

    ck_assert_int_gt(push_token_sign("another secret of 32 bytes......", 32, "zo\xc3\xab", 1, t,
                                     sizeof t), 0);
    ck_assert_int_eq(push_token_claimed_user(t, user), 0); /* foreign and expired: still named */
    ck_assert_str_eq(user, "zo\xc3\xab");
    ck_assert_int_gt(sign_ticket("alice", EXPIRY - 60, EXPIRY, t, sizeof t), 0);
    ck_assert_int_eq(push_token_claimed_user(t, user), 0);
    ck_assert_str_eq(user, "alice");
    ck_assert_int_eq(push_token_claimed_user("v1.Ym9i.garbage", user), 0);
    ck_assert_str_eq(user, "bob");
}
END_TEST

START_TEST(claimed_user_only_a_valid_name)
{
    static const char *const texts[] = {
        "", "v1.", "v1.Ym9i", "x1.Ym9i.1", "garbage", "v1..1", "v1.Y.1", "v1.Ym9i!.1",
        "v1.AQ.1",      /* a control character */
        "v1.Ym9.1",     /* non-canonical trailing bits */
    };
    char user[PUSH_USER_MAX + 1] = "untouched";

    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        ck_assert_msg(push_token_claimed_user(texts[i], user) == -1, "[%s]", texts[i]);
    ck_assert_str_eq(user, "untouched");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

START_TEST(verify_any_takes_either_secret)
{
    static const char old[] = "the-old-secret-0123456789";
    const struct push_secret both[2] = { { SECRET, SECRET_LEN }, { old, sizeof old - 1 } };
    const struct push_secret current_only[2] = { { SECRET, SECRET_LEN }, { old, 0 } };
    char tok[PUSH_TOKEN_MAX + 1], tkt[PUSH_TOKEN_MAX + 1], user[PUSH_USER_MAX + 1];
    int64_t exp = 0;

    ck_assert_int_gt(push_token_sign(old, sizeof old - 1, "alice", 2000, tok, sizeof tok), 0);
    ck_assert_int_gt(push_ticket_sign(old, sizeof old - 1, "bob", 1500, 2000, tkt, sizeof tkt), 0);
    ck_assert_int_eq(push_token_verify_any(both, 2, tok, 1000, user, &exp), PUSH_TOKEN_OK);
    ck_assert_str_eq(user, "alice");
    ck_assert_int_eq(exp, 2000);
    ck_assert_int_eq(push_ticket_verify_any(both, 2, tkt, 1000, user, &exp), PUSH_TOKEN_OK);
    ck_assert_str_eq(user, "bob");
    /* without the previous one, or with only one of the two looked at: refused as forged */
    ck_assert_int_eq(push_token_verify_any(current_only, 2, tok, 1000, user, NULL),
                     PUSH_TOKEN_BAD_SIGNATURE);
    ck_assert_int_eq(push_token_verify_any(both, 1, tok, 1000, user, NULL), PUSH_TOKEN_BAD_SIGNATURE);
    ck_assert_int_eq(push_ticket_verify_any(current_only, 2, tkt, 1000, user, NULL),
                     PUSH_TOKEN_BAD_SIGNATURE);
    /* expiry and kind hold whichever secret signed it */
    ck_assert_int_eq(push_token_verify_any(both, 2, tok, 2000, user, NULL), PUSH_TOKEN_EXPIRED);
    ck_assert_int_eq(push_token_verify_any(both, 2, tkt, 1000, user, NULL), PUSH_TOKEN_MALFORMED);
    ck_assert_int_eq(push_ticket_verify_any(both, 2, tok, 1000, user, NULL), PUSH_TOKEN_MALFORMED);
    /* the current one still signs and verifies */
    ck_assert_int_gt(sign("carol", 2000, tok, sizeof tok), 0);
    ck_assert_int_eq(push_token_verify_any(both, 2, tok, 1000, user, NULL), PUSH_TOKEN_OK);
    ck_assert_str_eq(user, "carol");
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *format = tcase_create("format");
    TCase *verify_tc = tcase_create("verify");
    TCase *malformed = tcase_create("malformed");
    TCase *signing = tcase_create("sign");
    TCase *users = tcase_create("user_valid");
    TCase *tickets = tcase_create("tickets");

    tcase_add_test(format, sign_matches_documented_format);
    tcase_add_test(format, verify_any_takes_either_secret);
    tcase_add_test(format, hand_signed_token_of_documented_format_verifies);
    tcase_add_loop_test(format, sign_verify_round_trip, 0, N(round_trip_users));
    tcase_add_test(format, sign_verify_round_trip_longest_user);
    tcase_add_loop_test(format, signed_token_verifies_for_any_expiry_sign_accepts, 0,
                        N(round_trip_expiries));
    suite_add_tcase(s, format);

    tcase_add_test(verify_tc, token_good_before_expiry_expired_at_and_after);
    tcase_add_test(verify_tc, expired_token_with_bad_signature_is_bad_signature);
    tcase_add_test(verify_tc, wrong_secret_is_bad_signature);
    tcase_add_test(verify_tc, every_single_character_change_is_refused);
    tcase_add_test(verify_tc, uppercase_signature_is_refused);
    tcase_add_test(verify_tc, every_truncation_is_refused);
    tcase_add_test(verify_tc, extra_characters_are_refused);
    tcase_set_timeout(verify_tc, 60);
    suite_add_tcase(s, verify_tc);

    tcase_add_test(malformed, overlong_token_is_malformed);
    tcase_add_test(malformed, missing_or_wrong_version_prefix_is_malformed);
    tcase_add_test(malformed, bad_expiry_is_malformed);
    tcase_add_test(malformed, signed_token_with_invalid_user_is_malformed);
    tcase_add_test(malformed, signed_token_with_bad_base64_is_malformed);
    tcase_add_test(malformed, signed_bare_prefix_is_malformed);
    tcase_add_test(malformed, signed_token_without_user_field_is_malformed);
    suite_add_tcase(s, malformed);

    tcase_add_test(signing, sign_refuses_invalid_users);
    tcase_add_test(signing, sign_refuses_small_buffer);
    tcase_add_test(signing, strerror_distinct_and_nonempty);
    suite_add_tcase(s, signing);

    tcase_add_loop_test(users, user_valid_table, 0, N(user_cases));
    tcase_add_test(users, user_valid_length_limits);
    suite_add_tcase(s, users);

    tcase_add_test(tickets, ticket_matches_documented_format);
    tcase_add_test(tickets, ticket_carries_the_token_expiry);
    tcase_add_test(tickets, ticket_good_before_expiry_expired_at_and_after);
    tcase_add_test(tickets, ticket_past_its_token_expiry_is_expired);
    tcase_add_test(tickets, ticket_is_never_a_token);
    tcase_add_test(tickets, claimed_user_is_decoded_not_verified);
    tcase_add_test(tickets, claimed_user_only_a_valid_name);
    tcase_add_test(tickets, token_is_never_a_ticket);
    tcase_add_test(tickets, ticket_tampered_or_foreign_is_refused);
    suite_add_tcase(s, tickets);
    return s;
}

UNIT_MAIN(token_suite)
