/* test_query.c: unit tests for lib/http/push_query: query-string parsing and decoding, cookies */
#include "config.h"

#include "unit.h"

#include "http/push_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct push_query q;

/* ---- parsing */

START_TEST(parse_basic_pairs_and_decoding)
{
    ck_assert_int_eq(push_query_parse(&q, "a=1&b=x%20y+z"), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 2);
    ck_assert_str_eq(q.key[0], "a");
    ck_assert_str_eq(q.value[0], "1");
    ck_assert_str_eq(q.key[1], "b");
    ck_assert_str_eq(q.value[1], "x y z");
    ck_assert_str_eq(push_query_get(&q, "a"), "1");
    ck_assert_str_eq(push_query_get(&q, "b"), "x y z");
    ck_assert_ptr_null(push_query_get(&q, "c"));
    ck_assert_ptr_null(push_query_get(&q, "A"));
    ck_assert_ptr_null(push_query_get(&q, ""));
}
END_TEST

START_TEST(parse_empty_and_null_give_no_parameters)
{
    q.n = 99;
    ck_assert_int_eq(push_query_parse(&q, ""), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 0);
    ck_assert_ptr_null(push_query_get(&q, "a"));
    q.n = 99;
    ck_assert_int_eq(push_query_parse(&q, NULL), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 0);
    ck_assert_ptr_null(push_query_get(&q, ""));
    ck_assert_int_eq(push_query_parse(&q, "&&&"), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 0);
}
END_TEST

START_TEST(parse_skips_empty_segments)
{
    ck_assert_int_eq(push_query_parse(&q, "&&a=1&"), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 1);
    ck_assert_str_eq(push_query_get(&q, "a"), "1");
    ck_assert_int_eq(push_query_parse(&q, "a=1&&&b=2"), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 2);
    ck_assert_str_eq(push_query_get(&q, "b"), "2");
}
END_TEST

START_TEST(key_without_equals_has_empty_value)
{
    ck_assert_int_eq(push_query_parse(&q, "flag&a=1&other"), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 3);
    ck_assert_str_eq(push_query_get(&q, "flag"), "");
    ck_assert_str_eq(push_query_get(&q, "other"), "");
    ck_assert_str_eq(push_query_get(&q, "a"), "1");
    ck_assert_int_eq(push_query_parse(&q, "empty="), PUSH_QUERY_OK);
    ck_assert_str_eq(push_query_get(&q, "empty"), "");
    ck_assert_int_eq(push_query_parse(&q, "=v"), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 1);
    ck_assert_str_eq(push_query_get(&q, ""), "v");
}
END_TEST

static const struct {
    const char *qs, *key, *value;
} decode_cases[] = {
    { "k=%41%42%43", "k", "ABC" },
    { "k=%7e%7E", "k", "~~" },
    { "k=%2B+%2b", "k", "+ +" },
    { "k=a%3Db", "k", "a=b" },        /* encoded '=' stays in the value */
    { "k=a%26b", "k", "a&b" },        /* encoded '&' does not split */
    { "k=a=b", "k", "a=b" },          /* only the first '=' splits */
    { "k%3D1=v", "k=1", "v" },        /* keys are decoded too */
    { "my+key=v", "my key", "v" },
    { "k=%C3%AB", "k", "\xc3\xab" },  /* bytes, not characters */
    { "k=%ff", "k", "\xff" },
    { "k=%01", "k", "\x01" },
    { "k=100%25", "k", "100%" },
    { "k=%2525", "k", "%25" },        /* decoded once only */
    { "k=++", "k", "  " },
    { "k=%0A", "k", "\n" },
};

START_TEST(parse_decodes)
{
    ck_assert_msg(push_query_parse(&q, decode_cases[_i].qs) == PUSH_QUERY_OK, "%s",
                  decode_cases[_i].qs);
    ck_assert_int_eq(q.n, 1);
    ck_assert_ptr_nonnull(push_query_get(&q, decode_cases[_i].key));
    ck_assert_str_eq(push_query_get(&q, decode_cases[_i].key), decode_cases[_i].value);
}
END_TEST

START_TEST(first_value_wins_and_repeats_are_seen)
{
    ck_assert_int_eq(push_query_parse(&q, "a=1&b=2&a=3&c&c"), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 5);
    ck_assert_str_eq(push_query_get(&q, "a"), "1");
    ck_assert_int_eq(push_query_repeated(&q, "a"), 1);
    ck_assert_int_eq(push_query_repeated(&q, "b"), 0);
    ck_assert_int_eq(push_query_repeated(&q, "c"), 1);
    ck_assert_int_eq(push_query_repeated(&q, "d"), 0);
    /* the same key spelled differently is the same key once decoded */
    ck_assert_int_eq(push_query_parse(&q, "a=1&%61=2"), PUSH_QUERY_OK);
    ck_assert_str_eq(push_query_get(&q, "a"), "1");
    ck_assert_int_eq(push_query_repeated(&q, "a"), 1);
}
END_TEST

START_TEST(parse_does_not_modify_input)
{
    char qs[] = "a=x%20y&b=1";

    ck_assert_int_eq(push_query_parse(&q, qs), PUSH_QUERY_OK);
    ck_assert_str_eq(qs, "a=x%20y&b=1");
}
END_TEST

/* ---- limits */

static char *repeat_char(char c, size_t n)
{
    char *s = malloc(n + 1);

    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(length_limit)
{
    char *s = repeat_char('x', PUSH_QUERY_MAX);

    memcpy(s, "k=", 2);
    ck_assert_int_eq(push_query_parse(&q, s), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, 1);
    ck_assert_uint_eq(strlen(push_query_get(&q, "k")), PUSH_QUERY_MAX - 2);
    free(s);

    s = repeat_char('x', PUSH_QUERY_MAX + 1);
    memcpy(s, "k=", 2);
    ck_assert_int_eq(push_query_parse(&q, s), PUSH_QUERY_TOO_LONG);
    free(s);

    s = repeat_char('&', 100000);
    ck_assert_int_eq(push_query_parse(&q, s), PUSH_QUERY_TOO_LONG);
    free(s);
}
END_TEST

static void params(char *buf, size_t size, int n)
{
    size_t off = 0;

    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, size - off, "%sp%d=%d", i ? "&" : "", i, i);
}

START_TEST(parameter_count_limit)
{
    char buf[1024];

    params(buf, sizeof buf, PUSH_QUERY_PARAMS);
    ck_assert_int_eq(push_query_parse(&q, buf), PUSH_QUERY_OK);
    ck_assert_int_eq(q.n, PUSH_QUERY_PARAMS);
    ck_assert_str_eq(push_query_get(&q, "p31"), "31");

    params(buf, sizeof buf, PUSH_QUERY_PARAMS + 1);
    ck_assert_int_eq(push_query_parse(&q, buf), PUSH_QUERY_TOO_MANY);

    /* empty segments do not count */
    params(buf, sizeof buf, PUSH_QUERY_PARAMS);
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s", "&&&&");
    ck_assert_int_eq(push_query_parse(&q, buf), PUSH_QUERY_OK);

    /* bare keys do */
    params(buf, sizeof buf, PUSH_QUERY_PARAMS);
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s", "&x");
    ck_assert_int_eq(push_query_parse(&q, buf), PUSH_QUERY_TOO_MANY);
}
END_TEST

static const char *const bad_encodings[] = {
    "k=%zz", "k=%2", "k=%", "k=%00", "k=%g0", "k=%0g", "k=% 1", "k=%%41", "k=a%2",
    "%zz=1", "%", "%00", "k%00=1", "k=1&j=%", "k=%-1", "k=%+1",
};

START_TEST(bad_encoding_is_refused)
{
    ck_assert_msg(push_query_parse(&q, bad_encodings[_i]) == PUSH_QUERY_BAD_ENCODING, "%s",
                  bad_encodings[_i]);
}
END_TEST

START_TEST(strerror_distinct_and_nonempty)
{
    const enum push_query_err errs[] = { PUSH_QUERY_OK, PUSH_QUERY_TOO_LONG, PUSH_QUERY_TOO_MANY,
                                         PUSH_QUERY_BAD_ENCODING };

    for (int i = 0; i < N(errs); i++) {
        ck_assert_uint_gt(strlen(push_query_strerror(errs[i])), 0);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(push_query_strerror(errs[i]), push_query_strerror(errs[j]));
    }
}
END_TEST

/* ---- cookies */

static const struct {
    const char *header, *name, *value; /* value NULL: not found */
} cookie_cases[] = {
    { "pgpush_token=abc", "pgpush_token", "abc" },
    { "a=1; pgpush_token=abc; b=2", "pgpush_token", "abc" },
    { "a=1;pgpush_token=abc;b=2", "pgpush_token", "abc" },
    { "a=1;   pgpush_token=abc  ;b=2", "pgpush_token", "abc" },
    { "a=1; b=2; pgpush_token=last", "pgpush_token", "last" },
    { "pgpush_token=first; pgpush_token=second", "pgpush_token", "first" },
    { "pgpush_token=\"quoted\"", "pgpush_token", "quoted" },
    { "a=1; pgpush_token=\"q\"; b=2", "pgpush_token", "q" },
    { "pgpush_token=", "pgpush_token", "" },
    { "pgpush_token=; a=1", "pgpush_token", "" },
    { "pgpush_token=a=b", "pgpush_token", "a=b" },
    { "pgpush_token2=x", "pgpush_token", NULL },
    { "pgpush_token2=x; pgpush_token=y", "pgpush_token", "y" },
    { "xpgpush_token=x", "pgpush_token", NULL },
    { "pgpush_tok=x", "pgpush_token", NULL },
    { "pgpush_token", "pgpush_token", NULL },
    { "a=pgpush_token=x", "pgpush_token", NULL },
    { "a=1; b=2", "pgpush_token", NULL },
    { "", "pgpush_token", NULL },
    { ";;;", "pgpush_token", NULL },
    { "PGPUSH_TOKEN=x", "pgpush_token", NULL },
};

START_TEST(cookie_get_table)
{
    char out[64];
    int rc;

    memset(out, '#', sizeof out);
    rc = push_cookie_get(cookie_cases[_i].header, cookie_cases[_i].name, out, sizeof out);
    if (cookie_cases[_i].value) {
        ck_assert_msg(rc == 0, "\"%s\": not found", cookie_cases[_i].header);
        ck_assert_str_eq(out, cookie_cases[_i].value);
    } else {
        ck_assert_msg(rc == -1, "\"%s\": found \"%s\"", cookie_cases[_i].header, out);
    }
}
END_TEST

START_TEST(cookie_null_header_is_absent)
{
    char out[16];

    ck_assert_int_eq(push_cookie_get(NULL, "pgpush_token", out, sizeof out), -1);
}
END_TEST

START_TEST(cookie_value_too_long_for_buffer)
{
    char out[8];

    memset(out, '#', sizeof out);
    ck_assert_int_eq(push_cookie_get("t=1234567", "t", out, sizeof out), 0); /* 7 + NUL fits */
    ck_assert_str_eq(out, "1234567");
    ck_assert_int_eq(push_cookie_get("t=12345678", "t", out, sizeof out), -2); /* present, too long */
    ck_assert_int_eq(push_cookie_get("t=\"12345678\"", "t", out, sizeof out), -2);
    ck_assert_int_eq(push_cookie_get("t=\"1234567\"", "t", out, sizeof out), 0);
    ck_assert_str_eq(out, "1234567");
    ck_assert_int_eq(push_cookie_get("t=x", "t", out, 1), -2);
    ck_assert_int_eq(push_cookie_get("t=", "t", out, 1), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

static Suite *query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *parse = tcase_create("parse");
    TCase *limits = tcase_create("limits");
    TCase *cookie = tcase_create("cookie");

    tcase_add_test(parse, parse_basic_pairs_and_decoding);
    tcase_add_test(parse, parse_empty_and_null_give_no_parameters);
    tcase_add_test(parse, parse_skips_empty_segments);
    tcase_add_test(parse, key_without_equals_has_empty_value);
    tcase_add_loop_test(parse, parse_decodes, 0, N(decode_cases));
    tcase_add_test(parse, first_value_wins_and_repeats_are_seen);
    tcase_add_test(parse, parse_does_not_modify_input);
    suite_add_tcase(s, parse);

    tcase_add_test(limits, length_limit);
    tcase_add_test(limits, parameter_count_limit);
    tcase_add_loop_test(limits, bad_encoding_is_refused, 0, N(bad_encodings));
    tcase_add_test(limits, strerror_distinct_and_nonempty);
    suite_add_tcase(s, limits);

    tcase_add_loop_test(cookie, cookie_get_table, 0, N(cookie_cases));
    tcase_add_test(cookie, cookie_null_header_is_absent);
    tcase_add_test(cookie, cookie_value_too_long_for_buffer);
    suite_add_tcase(s, cookie);
    return s;
}

UNIT_MAIN(query_suite)
