/* test_auth.c: unit tests for lib/http/push_auth: who a request is from, and in which order */
#include "config.h"

#include "unit.h"

#include "http/push_auth.h"

#include <stdio.h>
#include <string.h>

#define SECRET "0123456789abcdef0123456789abcdef"
#define NOW INT64_C(1700000000)

static struct push_config cfg;
static struct push_query q;
static struct push_identity id;

/* Configuration from "NAME=value" strings. */
#define CONFIG(...) configure((char *const[]){ __VA_ARGS__, NULL })
/* Identifies a request with query string qs and CGI variables. */
#define IDENTIFY(qs, ...) identify(qs, (char *const[]){ __VA_ARGS__, NULL })

static void configure(char *const *envp)
{
    char err[256] = "";

    ck_assert_msg(push_config_load(&cfg, envp, err, sizeof err) == 0, "%s", err);
}

static enum push_auth_err identify(const char *qs, char *const *envp)
{
    ck_assert_int_eq(push_query_parse(&q, qs), PUSH_QUERY_OK);
    memset(&id, 0x5a, sizeof id);
    return push_auth_identify(&cfg, envp, &q, NOW, &id);
}

static void make_token(const char *secret, const char *user, int64_t expires, char *buf,
                       size_t size)
{
    ck_assert_int_gt(push_token_sign(secret, strlen(secret), user, expires, buf, size), 0);
}

static char good[PUSH_TOKEN_MAX + 1];     /* alice, valid */
static char bob[PUSH_TOKEN_MAX + 1];      /* bob, valid */
static char expired[PUSH_TOKEN_MAX + 1];  /* alice, expired at NOW */
static char foreign[PUSH_TOKEN_MAX + 1];  /* alice, signed with another secret */
static char tampered[PUSH_TOKEN_MAX + 1]; /* alice's, one signature digit changed */

static void setup(void)
{
    CONFIG("PUSH_TOKEN_SECRET=" SECRET);
    make_token(SECRET, "alice", NOW + 3600, good, sizeof good);
    make_token(SECRET, "bob", NOW + 3600, bob, sizeof bob);
    make_token(SECRET, "alice", NOW, expired, sizeof expired);
    make_token("another secret of 32 bytes......", "alice", NOW + 3600, foreign, sizeof foreign);
    memcpy(tampered, good, sizeof good);
    tampered[strlen(tampered) - 1] = tampered[strlen(tampered) - 1] == '0' ? '1' : '0';
}

static void assert_user(const char *user, enum push_auth_source source)
{
    ck_assert_str_eq(id.user, user);
    ck_assert_int_eq(id.source, source);
}

/* ---- REMOTE_USER */

START_TEST(remote_user_wins_over_token_and_demo_user)
{
    char qs[700];

    CONFIG("PUSH_TOKEN_SECRET=" SECRET, "PUSH_DEMO=1");
    snprintf(qs, sizeof qs, "token=%s&user=carol", bob);
    ck_assert_int_eq(IDENTIFY(qs, "REMOTE_USER=alice"), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_REMOTE_USER);
}
END_TEST

START_TEST(remote_user_wins_over_bad_token)
{
    char qs[700];

    snprintf(qs, sizeof qs, "token=%s", tampered);
    ck_assert_int_eq(IDENTIFY(qs, "REMOTE_USER=zo\xc3\xab"), PUSH_AUTH_OK);
    assert_user("zo\xc3\xab", PUSH_AUTH_REMOTE_USER);
}
END_TEST

START_TEST(remote_user_without_secret)
{
    CONFIG("PUSH_DEMO=0");
    ck_assert_int_eq(IDENTIFY(NULL, "REMOTE_USER=alice smith"), PUSH_AUTH_OK);
    assert_user("alice smith", PUSH_AUTH_REMOTE_USER);
}
END_TEST

START_TEST(empty_remote_user_is_absent)
{
    char auth[700];

    ck_assert_int_eq(IDENTIFY(NULL, "REMOTE_USER="), PUSH_AUTH_MISSING);
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", good);
    ck_assert_int_eq(IDENTIFY(NULL, "REMOTE_USER=", auth), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_TOKEN);
}
END_TEST

START_TEST(invalid_remote_user_is_bad_user)
{
    static const char *const bad[] = { "REMOTE_USER=a\x01", "REMOTE_USER=a\x7f" "b",
                                       "REMOTE_USER=\xc2\x85", "REMOTE_USER=\xc0\xaf",
                                       "REMOTE_USER=a\nb", "REMOTE_USER=\xff" };
    char longname[PUSH_USER_MAX + 20];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(IDENTIFY(NULL, (char *)bad[i]) == PUSH_AUTH_BAD_USER, "#%zu", i);
    memset(longname, 'x', sizeof longname);
    memcpy(longname, "REMOTE_USER=", 12);
    longname[12 + PUSH_USER_MAX + 1] = '\0';
    ck_assert_int_eq(IDENTIFY(NULL, longname), PUSH_AUTH_BAD_USER);
    longname[12 + PUSH_USER_MAX] = '\0';
    ck_assert_int_eq(IDENTIFY(NULL, longname), PUSH_AUTH_OK);
    ck_assert_uint_eq(strlen(id.user), PUSH_USER_MAX);
}
END_TEST

START_TEST(repeated_remote_user_is_refused)
{
    char auth[700];

    /* nginx: fastcgi_params' REMOTE_USER $remote_user (the client's, unchecked) plus a second
     * REMOTE_USER line: which one the server checked cannot be known */
    ck_assert_int_eq(IDENTIFY(NULL, "REMOTE_USER=alice", "REMOTE_USER=bob"), PUSH_AUTH_AMBIGUOUS);
    ck_assert_int_eq(IDENTIFY(NULL, "REMOTE_USER=alice", "REMOTE_USER="), PUSH_AUTH_AMBIGUOUS);
    ck_assert_int_eq(IDENTIFY(NULL, "REMOTE_USER=", "REMOTE_USER=alice"), PUSH_AUTH_AMBIGUOUS);
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", good);
    ck_assert_int_eq(IDENTIFY(NULL, "REMOTE_USER=alice", auth, "REMOTE_USER=alice"), PUSH_AUTH_AMBIGUOUS);
    ck_assert_int_eq(push_auth_status(PUSH_AUTH_AMBIGUOUS), 403);
    ck_assert_str_eq(push_auth_code(PUSH_AUTH_AMBIGUOUS), "identity_ambiguous");
    /* names that only look alike are other variables */
    ck_assert_int_eq(IDENTIFY(NULL, "REMOTE_USERX=alice", "HTTP_REMOTE_USER=alice", "REMOTE_USER=bob"),
                     PUSH_AUTH_OK);
    assert_user("bob", PUSH_AUTH_REMOTE_USER);
    ck_assert_int_eq(IDENTIFY("REMOTE_USER=alice&remote_user=alice", "HTTP_X_REMOTE_USER=alice"),
                     PUSH_AUTH_MISSING);
}
END_TEST

/* ---- tokens */

START_TEST(token_in_query)
{
    char qs[700];

    snprintf(qs, sizeof qs, "limit=5&token=%s", good);
    ck_assert_int_eq(IDENTIFY(qs, "HTTP_HOST=example.com"), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_TOKEN);
}
END_TEST

START_TEST(token_in_authorization_header)
{
    char auth[700];

    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", good);
    ck_assert_int_eq(IDENTIFY("limit=5", auth), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_TOKEN);
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer   %s", bob);
    ck_assert_int_eq(IDENTIFY(NULL, auth), PUSH_AUTH_OK);
    assert_user("bob", PUSH_AUTH_TOKEN);
}
END_TEST

START_TEST(authorization_scheme_is_case_insensitive)
{
    /* RFC 9110, 11.1: the authentication scheme is a case-insensitive token */
    char auth[700];

    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=bearer %s", good);
    ck_assert_int_eq(IDENTIFY(NULL, auth), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_TOKEN);
}
END_TEST

START_TEST(other_authorization_schemes_are_ignored)
{
    ck_assert_int_eq(IDENTIFY(NULL, "HTTP_AUTHORIZATION=Basic YWxpY2U6cHc="), PUSH_AUTH_MISSING);
    ck_assert_int_eq(IDENTIFY(NULL, "HTTP_AUTHORIZATION=Bearer"), PUSH_AUTH_MISSING);
}
END_TEST

START_TEST(token_in_default_cookie)
{
    char cookie[800];

    snprintf(cookie, sizeof cookie, "HTTP_COOKIE=theme=dark; pgpush_token=%s; lang=en", good);
    ck_assert_int_eq(IDENTIFY(NULL, cookie), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_TOKEN);
}
END_TEST

START_TEST(token_in_configured_cookie)
{
    char cookie[800];

    CONFIG("PUSH_TOKEN_SECRET=" SECRET, "PUSH_TOKEN_COOKIE=site_push");
    snprintf(cookie, sizeof cookie, "HTTP_COOKIE=site_push=\"%s\"", bob);
    ck_assert_int_eq(IDENTIFY(NULL, cookie), PUSH_AUTH_OK);
    assert_user("bob", PUSH_AUTH_TOKEN);
    /* the default name means nothing once another is configured */
    snprintf(cookie, sizeof cookie, "HTTP_COOKIE=pgpush_token=%s", bob);
    ck_assert_int_eq(IDENTIFY(NULL, cookie), PUSH_AUTH_MISSING);
    /* nor does a name that merely starts with the configured one */
    snprintf(cookie, sizeof cookie, "HTTP_COOKIE=site_push2=%s", bob);
    ck_assert_int_eq(IDENTIFY(NULL, cookie), PUSH_AUTH_MISSING);
}
END_TEST

START_TEST(query_token_comes_before_header_and_cookie)
{
    char qs[700], auth[700], cookie[700];

    snprintf(qs, sizeof qs, "token=%s", good);
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", bob);
    snprintf(cookie, sizeof cookie, "HTTP_COOKIE=pgpush_token=%s", bob);
    ck_assert_int_eq(IDENTIFY(qs, auth, cookie), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_TOKEN);
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", good);
    ck_assert_int_eq(IDENTIFY(NULL, cookie, auth), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_TOKEN);
}
END_TEST

/* each bad token, through each of the three ways in */
START_TEST(bad_tokens_are_refused_whichever_way_they_come)
{
    const char *tokens[] = { tampered, foreign, "garbage", "v1.YWxpY2U.9999999999.00" };
    char qs[700], auth[700], cookie[700];

    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        snprintf(qs, sizeof qs, "token=%s", tokens[i]);
        snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", tokens[i]);
        snprintf(cookie, sizeof cookie, "HTTP_COOKIE=pgpush_token=%s", tokens[i]);
        ck_assert_msg(IDENTIFY(qs, "X=1") == PUSH_AUTH_BAD_TOKEN, "query #%zu", i);
        ck_assert_msg(IDENTIFY(NULL, auth) == PUSH_AUTH_BAD_TOKEN, "header #%zu", i);
        ck_assert_msg(IDENTIFY(NULL, cookie) == PUSH_AUTH_BAD_TOKEN, "cookie #%zu", i);
    }
}
END_TEST

START_TEST(expired_token)
{
    char qs[700], auth[700], cookie[700];

    snprintf(qs, sizeof qs, "token=%s", expired);
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", expired);
    snprintf(cookie, sizeof cookie, "HTTP_COOKIE=pgpush_token=%s", expired);
    ck_assert_int_eq(IDENTIFY(qs, "X=1"), PUSH_AUTH_EXPIRED);
    ck_assert_int_eq(IDENTIFY(NULL, auth), PUSH_AUTH_EXPIRED);
    ck_assert_int_eq(IDENTIFY(NULL, cookie), PUSH_AUTH_EXPIRED);
}
END_TEST

START_TEST(token_without_configured_secret)
{
    char qs[700], auth[700], cookie[700];

    CONFIG("PUSH_DEMO=1");
    snprintf(qs, sizeof qs, "token=%s&user=bob", good);
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", good);
    snprintf(cookie, sizeof cookie, "HTTP_COOKIE=pgpush_token=%s", good);
    ck_assert_int_eq(IDENTIFY(qs, "X=1"), PUSH_AUTH_NO_SECRET);
    ck_assert_int_eq(IDENTIFY("user=bob", auth), PUSH_AUTH_NO_SECRET);
    ck_assert_int_eq(IDENTIFY("user=bob", cookie), PUSH_AUTH_NO_SECRET);
}
END_TEST

START_TEST(overlong_tokens_are_bad_tokens)
{
    /* longer than PUSH_TOKEN_MAX: present, so an error, whichever way it comes */
    static char qs[1200], auth[1200], cookie[1200];
    char big[PUSH_TOKEN_MAX + 100];

    CONFIG("PUSH_TOKEN_SECRET=" SECRET, "PUSH_DEMO=1");
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "v1.", 3);
    snprintf(qs, sizeof qs, "user=bob&token=%s", big);
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", big);
    snprintf(cookie, sizeof cookie, "HTTP_COOKIE=pgpush_token=%s", big);
    ck_assert_int_eq(IDENTIFY(qs, "X=1"), PUSH_AUTH_BAD_TOKEN);
    ck_assert_int_eq(IDENTIFY("user=bob", auth), PUSH_AUTH_BAD_TOKEN);
    ck_assert_int_eq(IDENTIFY("user=bob", cookie), PUSH_AUTH_BAD_TOKEN);
}
END_TEST

/* ---- nothing, and demo mode */

START_TEST(nothing_is_missing)
{
    char *const empty[] = { NULL };

    ck_assert_int_eq(IDENTIFY(NULL, "HTTP_HOST=example.com"), PUSH_AUTH_MISSING);
    ck_assert_int_eq(IDENTIFY("", "HTTP_COOKIE=a=1; b=2"), PUSH_AUTH_MISSING);
    ck_assert_int_eq(identify("limit=5", empty), PUSH_AUTH_MISSING);
}
END_TEST

START_TEST(demo_user_needs_demo_mode)
{
    ck_assert_int_eq(IDENTIFY("user=bob", "X=1"), PUSH_AUTH_MISSING);
    CONFIG("PUSH_DEMO=0");
    ck_assert_int_eq(IDENTIFY("user=bob", "X=1"), PUSH_AUTH_MISSING);
}
END_TEST

START_TEST(demo_user_in_demo_mode)
{
    CONFIG("PUSH_DEMO=1");
    ck_assert_int_eq(IDENTIFY("user=bob", "X=1"), PUSH_AUTH_OK);
    assert_user("bob", PUSH_AUTH_DEMO);
    ck_assert_int_eq(IDENTIFY("user=zo%C3%AB+k", "X=1"), PUSH_AUTH_OK);
    assert_user("zo\xc3\xab k", PUSH_AUTH_DEMO);
    CONFIG("PUSH_DEMO=1", "PUSH_TOKEN_SECRET=" SECRET);
    ck_assert_int_eq(IDENTIFY("user=bob", "X=1"), PUSH_AUTH_OK);
    assert_user("bob", PUSH_AUTH_DEMO);
}
END_TEST

START_TEST(demo_user_must_be_valid)
{
    CONFIG("PUSH_DEMO=1");
    ck_assert_int_eq(IDENTIFY("user=a%01b", "X=1"), PUSH_AUTH_BAD_USER);
    ck_assert_int_eq(IDENTIFY("user=%C0%AF", "X=1"), PUSH_AUTH_BAD_USER);
    ck_assert_int_eq(IDENTIFY("user=%C2%85", "X=1"), PUSH_AUTH_BAD_USER);
    ck_assert_int_eq(IDENTIFY("user=", "X=1"), PUSH_AUTH_BAD_USER);
    ck_assert_int_eq(IDENTIFY("user", "X=1"), PUSH_AUTH_BAD_USER);
}
END_TEST

START_TEST(token_beats_demo_user)
{
    char qs[700], auth[700];

    CONFIG("PUSH_DEMO=1", "PUSH_TOKEN_SECRET=" SECRET);
    snprintf(qs, sizeof qs, "user=bob&token=%s", tampered);
    ck_assert_int_eq(IDENTIFY(qs, "X=1"), PUSH_AUTH_BAD_TOKEN);
    snprintf(auth, sizeof auth, "HTTP_AUTHORIZATION=Bearer %s", foreign);
    ck_assert_int_eq(IDENTIFY("user=bob", auth), PUSH_AUTH_BAD_TOKEN);
    snprintf(qs, sizeof qs, "user=bob&token=%s", expired);
    ck_assert_int_eq(IDENTIFY(qs, "X=1"), PUSH_AUTH_EXPIRED);
    snprintf(qs, sizeof qs, "user=bob&token=%s", good);
    ck_assert_int_eq(IDENTIFY(qs, "X=1"), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_TOKEN);
}
END_TEST

START_TEST(strerror_every_value)
{
    const enum push_auth_err errs[] = { PUSH_AUTH_OK, PUSH_AUTH_MISSING, PUSH_AUTH_BAD_TOKEN,
                                        PUSH_AUTH_EXPIRED, PUSH_AUTH_NO_SECRET,
                                        PUSH_AUTH_BAD_USER };
    const size_t n = sizeof errs / sizeof errs[0];

    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(push_auth_strerror(errs[i]));
        ck_assert_uint_gt(strlen(push_auth_strerror(errs[i])), 0);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(push_auth_strerror(errs[i]), push_auth_strerror(errs[j]));
    }
}
END_TEST


/* ---- what a refusal logs: the precise reason, and whom a refused token claims */

START_TEST(refusal_reason_and_claimed_user)
{
    static const struct {
        const char *qs;
        enum push_auth_err err;
        const char *reason, *claimed;
    } cases[] = {
        { "token=garbage", PUSH_AUTH_BAD_TOKEN, "malformed token", "" },
        { "token=v1.Ym9i.1.00", PUSH_AUTH_BAD_TOKEN, "malformed token", "bob" },
        { "token=@tampered", PUSH_AUTH_BAD_TOKEN, "bad token signature", "alice" },
        { "token=@foreign", PUSH_AUTH_BAD_TOKEN, "bad token signature", "alice" },
        { "token=@expired", PUSH_AUTH_EXPIRED, "token expired", "alice" },
        { "ticket=@tampered", PUSH_AUTH_BAD_TOKEN, "malformed stream ticket", "alice" },
        { "", PUSH_AUTH_MISSING, "no credentials", "" },
    };
    char qs[700];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *v = strchr(cases[i].qs, '@');
        if (v)
            snprintf(qs, sizeof qs, "%.*s%s", (int)(v - cases[i].qs), cases[i].qs,
                     strcmp(v, "@tampered") == 0 ? tampered
                     : strcmp(v, "@foreign") == 0 ? foreign : expired);
        else
            snprintf(qs, sizeof qs, "%s", cases[i].qs);
        ck_assert_int_eq(push_query_parse(&q, qs), PUSH_QUERY_OK);
        memset(&id, 0x5a, sizeof id);
        ck_assert_int_eq(push_auth_identify_stream(&cfg, (char *const[]){ NULL }, &q, NOW, &id),
                         cases[i].err);
        ck_assert_msg(strncmp(push_auth_reason(cases[i].err, &id), cases[i].reason,
                              strlen(cases[i].reason)) == 0,
                      "%s: reason [%s]", cases[i].qs, push_auth_reason(cases[i].err, &id));
        ck_assert_str_eq(id.claimed, cases[i].claimed);
    }
    ck_assert_int_eq(IDENTIFY(NULL, "REMOTE_USER=bad\001name"), PUSH_AUTH_BAD_USER);
    ck_assert_str_eq(push_auth_reason(PUSH_AUTH_BAD_USER, &id), "REMOTE_USER is not a valid user name");
    ck_assert_str_eq(id.claimed, "");
}
END_TEST

/* ---- stream tickets */

START_TEST(ticket_only_where_streams_are_opened)
{
    char ticket[PUSH_TOKEN_MAX + 1], qs[700];

    ck_assert_int_gt(push_ticket_sign(SECRET, strlen(SECRET), "alice", NOW + 60, NOW + 3600, ticket,
                                      sizeof ticket), 0);
    snprintf(qs, sizeof qs, "ticket=%s", ticket);
    ck_assert_int_eq(IDENTIFY(qs, "X=1"), PUSH_AUTH_MISSING); /* push_auth_identify: never */
    ck_assert_int_eq(push_query_parse(&q, qs), PUSH_QUERY_OK);
    ck_assert_int_eq(push_auth_identify_stream(&cfg, (char *const[]){ NULL }, &q, NOW, &id), PUSH_AUTH_OK);
    assert_user("alice", PUSH_AUTH_TICKET);
    ck_assert_int_eq(id.expires, NOW + 3600); /* the token's expiry, for the stream to end at */
    ck_assert_int_eq(push_auth_identify_stream(&cfg, (char *const[]){ NULL }, &q, NOW + 60, &id),
                     PUSH_AUTH_EXPIRED);
    snprintf(qs, sizeof qs, "ticket=%s", good); /* a token is not a ticket */
    ck_assert_int_eq(push_query_parse(&q, qs), PUSH_QUERY_OK);
    ck_assert_int_eq(push_auth_identify_stream(&cfg, (char *const[]){ NULL }, &q, NOW, &id),
                     PUSH_AUTH_BAD_TOKEN);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *remote = tcase_create("remote_user");
    TCase *token = tcase_create("token");
    TCase *demo = tcase_create("demo");

    tcase_add_checked_fixture(remote, setup, NULL);
    tcase_add_test(remote, remote_user_wins_over_token_and_demo_user);
    tcase_add_test(remote, remote_user_wins_over_bad_token);
    tcase_add_test(remote, remote_user_without_secret);
    tcase_add_test(remote, empty_remote_user_is_absent);
    tcase_add_test(remote, invalid_remote_user_is_bad_user);
    tcase_add_test(remote, repeated_remote_user_is_refused);
    suite_add_tcase(s, remote);

    tcase_add_checked_fixture(token, setup, NULL);
    tcase_add_test(token, token_in_query);
    tcase_add_test(token, token_in_authorization_header);
    tcase_add_test(token, authorization_scheme_is_case_insensitive);
    tcase_add_test(token, other_authorization_schemes_are_ignored);
    tcase_add_test(token, token_in_default_cookie);
    tcase_add_test(token, token_in_configured_cookie);
    tcase_add_test(token, query_token_comes_before_header_and_cookie);
    tcase_add_test(token, bad_tokens_are_refused_whichever_way_they_come);
    tcase_add_test(token, expired_token);
    tcase_add_test(token, token_without_configured_secret);
    tcase_add_test(token, overlong_tokens_are_bad_tokens);
    tcase_add_test(token, ticket_only_where_streams_are_opened);
    suite_add_tcase(s, token);

    tcase_add_checked_fixture(demo, setup, NULL);
    tcase_add_test(demo, nothing_is_missing);
    tcase_add_test(demo, demo_user_needs_demo_mode);
    tcase_add_test(demo, demo_user_in_demo_mode);
    tcase_add_test(demo, demo_user_must_be_valid);
    tcase_add_test(demo, token_beats_demo_user);
    tcase_add_test(demo, strerror_every_value);
    tcase_add_test(demo, refusal_reason_and_claimed_user);
    suite_add_tcase(s, demo);
    return s;
}

UNIT_MAIN(auth_suite)
