/* test_upgrade.c: unit tests for lib/http/push_upgrade: the upgrade request head, the accept key, origins */
#include "config.h"

#include "unit.h"

#include "http/push_upgrade.h"

#include <stdio.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define GOOD_HEADERS                                                                             \
    "Host: example.com\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"             \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

/* Parses text as a whole head. */
static enum push_upgrade_err parse(const char *text, const char *user_header, struct push_upgrade *u,
                                   char *buf, size_t size)
{
    size_t len = strlen(text);

    ck_assert_uint_lt(len, size);
    memcpy(buf, text, len + 1);
    ck_assert_uint_eq(push_upgrade_head_end(buf, len), len);
    return push_upgrade_parse(buf, len, user_header, u);
}

START_TEST(accept_key_of_rfc6455)
{
    char out[PUSH_UPGRADE_ACCEPT_LEN + 1];

    push_upgrade_accept("dGhlIHNhbXBsZSBub25jZQ==", out);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(head_end_waits_for_the_blank_line)
{
    ck_assert_uint_eq(push_upgrade_head_end("GET / HTTP/1.1\r\nHost: x\r\n", 26), 0);
    ck_assert_uint_eq(push_upgrade_head_end("GET / HTTP/1.1\r\n\r\nextra", 23), 18);
    ck_assert_uint_eq(push_upgrade_head_end("", 0), 0);
}
END_TEST

START_TEST(a_good_request)
{
    char buf[1024];
    struct push_upgrade u;

    ck_assert_int_eq(parse("GET /cgi-bin/push-ws?since=1-2-abcdef01&token=t HTTP/1.1\r\n" GOOD_HEADERS
                           "Origin: https://example.com\r\nX-Remote-User: alice\r\n"
                           "Authorization: Bearer abc\r\nCookie: a=b\r\n\r\n",
                           "X-Remote-User", &u, buf, sizeof buf),
                     PUSH_UPGRADE_OK);
    ck_assert_str_eq(u.path, "/cgi-bin/push-ws");
    ck_assert_str_eq(u.query, "since=1-2-abcdef01&token=t");
    ck_assert_str_eq(u.host, "example.com");
    ck_assert_str_eq(u.origin, "https://example.com");
    ck_assert_str_eq(u.key, "dGhlIHNhbXBsZSBub25jZQ==");
    ck_assert_str_eq(u.user, "alice");
    ck_assert_str_eq(u.authorization, "Bearer abc");
    ck_assert_str_eq(u.cookie, "a=b");
}
END_TEST

START_TEST(the_user_header_is_read_only_when_trusted)
{
    char buf[1024];
    struct push_upgrade u;

    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" GOOD_HEADERS "X-Remote-User: mallory\r\n\r\n", NULL,
                           &u, buf, sizeof buf),
                     PUSH_UPGRADE_OK);
    ck_assert_ptr_null(u.user);
    ck_assert_ptr_null(u.origin);
    ck_assert_str_eq(u.query, "");
}
END_TEST

static const struct {
    const char *head;
    enum push_upgrade_err want;
} bad[] = {
    { "POST / HTTP/1.1\r\n" GOOD_HEADERS "\r\n", PUSH_UPGRADE_METHOD },
    { "GET / HTTP/1.0\r\n" GOOD_HEADERS "\r\n", PUSH_UPGRADE_MALFORMED },
    { "GET x HTTP/1.1\r\n" GOOD_HEADERS "\r\n", PUSH_UPGRADE_MALFORMED },
    { "GET / HTTP/1.1\r\nHost: a\r\n\r\n", PUSH_UPGRADE_NOT_WEBSOCKET },
    { "GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n", PUSH_UPGRADE_NOT_WEBSOCKET },
    { "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n", PUSH_UPGRADE_NOT_WEBSOCKET },
    { "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", PUSH_UPGRADE_VERSION },
    { "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: short\r\n\r\n", PUSH_UPGRADE_BAD_KEY },
    { "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
      PUSH_UPGRADE_BAD_KEY },
    { "GET / HTTP/1.1\r\n" GOOD_HEADERS "Host: evil.com\r\n\r\n", PUSH_UPGRADE_MALFORMED },
    { "GET / HTTP/1.1\r\n" GOOD_HEADERS "Origin: a\r\nOrigin: b\r\n\r\n", PUSH_UPGRADE_MALFORMED },
    { "GET / HTTP/1.1\r\n" GOOD_HEADERS " folded\r\n\r\n", PUSH_UPGRADE_MALFORMED },
    { "GET / HTTP/1.1\r\n" GOOD_HEADERS "No colon\r\n\r\n", PUSH_UPGRADE_MALFORMED },
    { "GET / HTTP/1.1\r\n" GOOD_HEADERS "Bad name: x\r\n\r\n", PUSH_UPGRADE_MALFORMED },
    { "GET /\r\n\r\n", PUSH_UPGRADE_MALFORMED },
};

START_TEST(bad_requests_are_refused)
{
    char buf[1024];
    struct push_upgrade u;

    ck_assert_int_eq(parse(bad[_i].head, "X-Remote-User", &u, buf, sizeof buf), bad[_i].want);
    ck_assert_str_ne(push_upgrade_strerror(bad[_i].want), "");
}
END_TEST

START_TEST(a_repeated_trusted_user_header_is_refused)
{
    char buf[1024];
    struct push_upgrade u;

    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" GOOD_HEADERS "X-Remote-User: a\r\nx-remote-user: b\r\n\r\n",
                           "X-Remote-User", &u, buf, sizeof buf),
                     PUSH_UPGRADE_IDENTITY);
}
END_TEST

START_TEST(a_nul_byte_is_refused)
{
    char buf[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    struct push_upgrade u;

    ck_assert_int_eq(push_upgrade_parse(buf, sizeof buf - 1, NULL, &u), PUSH_UPGRADE_MALFORMED);
}
END_TEST

START_TEST(bare_cr_or_lf_is_malformed)
{
    static const char *heads[] = {
        "GET / HTTP/1.1\r\nHost: h\r\nX-Remote-User: bob\nx-remote-user: alice\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\rX-Remote-User: alice\r\n\r\n",
        "GET / HTTP/1.1\nHost: h\r\n\r\n",
    };
    struct push_upgrade u;
    char buf[256];

    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        snprintf(buf, sizeof buf, "%s", heads[i]);
        ck_assert_int_eq(push_upgrade_parse(buf, strlen(buf), "X-Remote-User", &u),
                         PUSH_UPGRADE_MALFORMED);
    }
}
END_TEST

static const struct {
    const char *value, *want; /* want: the user; "-" when refused */
} forwarded[] = {
    { "for=127.0.0.1;proto=http;remote_user=\"alice\"", "alice" },
    { "for=127.0.0.1;REMOTE_USER=plain", "plain" },
    { "for=127.0.0.1;remote_user=\"a, b\"", "a, b" },
    { "for=127.0.0.1;remote_user=\"c\\\"d\"", "c\"d" },
    { " for=127.0.0.1 ; remote_user=bob ", "bob" },
    { "for=127.0.0.1;proto=http", NULL },
    { "for=127.0.0.1;remote_user=\"\"", "" },
    { "", NULL },
    /* a second element: the client's own header was not cleared; whose is which is a guess */
    { "for=1.2.3.4;remote_user=\"mallory\", for=127.0.0.1;proto=http", "-" },
    { "remote_user=\"mallory\", for=127.0.0.1;remote_user=\"bob\"", "-" },
    { "for=\"a,b\";remote_user=\"x\", for=127.0.0.1;remote_user=\"c\"", "-" },
    { "for=127.0.0.1, ", "-" },
    /* ... also when the two together would read as one well-formed element: the client's ends
     * with ';', the proxy appends ", its own" */
    { "remote_user=mallory;, for=127.0.0.1;proto=http", "-" },
    { "remote_user=mallory;,for=127.0.0.1", "-" },
    { ", remote_user=mallory", "-" },
    /* the attack that worked: an open quote swallows the proxy's element */
    { "remote_user=alice;x=\", for=127.0.0.1;remote_user=\"bob\"", "-" },
    { "remote_user=alice;x=\"", "-" },
    { "for=127.0.0.1;remote_user=\"alice", "-" },
    { "for=127.0.0.1;remote_user=\"alice\\", "-" },
    /* a parameter twice, in any case */
    { "remote_user=alice;remote_user=bob", "-" },
    { "remote_user=alice;Remote_User=bob", "-" },
    { "proto=https;proto=http;remote_user=bob", "-" },
    /* an extension parameter too (found by tests/fuzz/fuzz_upgrade) */
    { "ext=1;remote_user=bob;EXT=2", "-" },
    { "a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9;j=10;k=11;l=12;m=13;n=14;o=15;remote_user=bob", "bob" },
    { "a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9;j=10;k=11;l=12;m=13;n=14;o=15;p=16;remote_user=bob", "-" },
    /* not token=value */
    { "remote_user", "-" },
    { "remote_user=", "-" },
    { "=alice", "-" },
    { "remote user=alice", "-" },
    { "remote_user=al ice", "-" },
    { "remote_user=\"al\x01ice\"", "-" },
    { "remote_user=alice\"x\"", "-" },
};

START_TEST(forwarded_is_one_well_formed_element)
{
    char buf[256], *user, *proto;
    int rc;

    snprintf(buf, sizeof buf, "%s", forwarded[_i].value);
    rc = push_upgrade_forwarded(buf, &user, &proto);
    if (forwarded[_i].want && strcmp(forwarded[_i].want, "-") == 0) {
        ck_assert_msg(rc == -1, "accepted: %s", forwarded[_i].value);
    } else {
        ck_assert_msg(rc == 0, "refused: %s", forwarded[_i].value);
        if (forwarded[_i].want)
            ck_assert_str_eq(user, forwarded[_i].want);
        else
            ck_assert_ptr_null(user);
    }
}
END_TEST

START_TEST(forwarded_as_the_trusted_header)
{
    char buf[1024];
    struct push_upgrade u;

    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" GOOD_HEADERS
                           "Forwarded: for=127.0.0.1;proto=https;remote_user=\"alice\"\r\n\r\n",
                           "Forwarded", &u, buf, sizeof buf),
                     PUSH_UPGRADE_OK);
    ck_assert_str_eq(u.user, "alice");
    ck_assert_str_eq(u.proto, "https");
    /* the client's element before the proxy's: refused, not guessed */
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" GOOD_HEADERS
                           "Forwarded: for=1.1.1.1;remote_user=\"eve\", for=127.0.0.1;remote_user=\"alice\"\r\n\r\n",
                           "Forwarded", &u, buf, sizeof buf),
                     PUSH_UPGRADE_IDENTITY);
    /* two header lines, in any spelling */
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" GOOD_HEADERS
                           "forwarded: remote_user=eve\r\nForwarded: for=127.0.0.1;remote_user=\"alice\"\r\n\r\n",
                           "Forwarded", &u, buf, sizeof buf),
                     PUSH_UPGRADE_IDENTITY);
    /* X-Forwarded-Proto is not the proxy's word when Forwarded is trusted */
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" GOOD_HEADERS "X-Forwarded-Proto: https\r\n"
                           "Forwarded: for=127.0.0.1;proto=http\r\n\r\n",
                           "Forwarded", &u, buf, sizeof buf),
                     PUSH_UPGRADE_OK);
    ck_assert_ptr_null(u.user);
    ck_assert_str_eq(u.proto, "http");
}
END_TEST

START_TEST(a_folded_trusted_header_is_refused)
{
    char buf[1024];
    struct push_upgrade u;

    ck_assert_int_eq(parse("GET / HTTP/1.1\r\n" GOOD_HEADERS "X-Remote-User: bob\r\n alice\r\n\r\n",
                           "X-Remote-User", &u, buf, sizeof buf),
                     PUSH_UPGRADE_MALFORMED);
}
END_TEST

static Suite *upgrade_suite(void)
{
    Suite *s = suite_create("push_upgrade");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, accept_key_of_rfc6455);
    tcase_add_test(tc, head_end_waits_for_the_blank_line);
    tcase_add_test(tc, a_good_request);
    tcase_add_test(tc, bare_cr_or_lf_is_malformed);
    tcase_add_test(tc, the_user_header_is_read_only_when_trusted);
    tcase_add_loop_test(tc, bad_requests_are_refused, 0, N(bad));
    tcase_add_test(tc, a_repeated_trusted_user_header_is_refused);
    tcase_add_test(tc, a_nul_byte_is_refused);
    tcase_add_loop_test(tc, forwarded_is_one_well_formed_element, 0, N(forwarded));
    tcase_add_test(tc, forwarded_as_the_trusted_header);
    tcase_add_test(tc, a_folded_trusted_header_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(upgrade_suite)
