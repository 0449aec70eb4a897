/* test_cursor.c: unit tests for lib/core/push_cursor: user tags, cursor text form and its parsing */
#include "config.h"

#include "unit.h"

#include "core/push_cursor.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static const char *const tag_users[] = { "alice", "bob", "zo\xc3\xab", "", "a", "alice " };

START_TEST(tag_is_eight_lowercase_hex)
{
    char tag[PUSH_CURSOR_TAG_LEN + 1];

    memset(tag, '#', sizeof tag);
    push_cursor_tag(tag_users[_i], tag);
    ck_assert_uint_eq(strlen(tag), PUSH_CURSOR_TAG_LEN);
    ck_assert_msg(is_lower_hex(tag, PUSH_CURSOR_TAG_LEN), "tag %s", tag);
}
END_TEST

START_TEST(tag_is_stable_and_differs_between_users)
{
    char a[PUSH_CURSOR_TAG_LEN + 1], b[PUSH_CURSOR_TAG_LEN + 1];

    for (int i = 0; i < N(tag_users); i++) {
        push_cursor_tag(tag_users[i], a);
        push_cursor_tag(tag_users[i], b);
        ck_assert_str_eq(a, b);
        for (int j = 0; j < i; j++) {
            push_cursor_tag(tag_users[j], b);
            ck_assert_msg(strcmp(a, b) != 0, "\"%s\" and \"%s\" share tag %s", tag_users[i],
                          tag_users[j], a);
        }
    }
}
END_TEST

static const struct push_cursor round_trips[] = {
    { 0, 0 },
    { 1, 0 },
    { 0, 1 },
    { 15, 16 },
    { 255, 4096 },
    { INT64_C(1234567890123), INT64_C(42) },
    { INT64_C(0x7fffffff), INT64_C(0x80000000) },
    { INT64_C(0xffffffff), INT64_C(0x100000000) },
    { INT64_C(0x0fffffffffffffff), INT64_C(0x1000000000000000) },
    { INT64_MAX, 0 },
    { 0, INT64_MAX },
    { INT64_MAX, INT64_MAX },
    { INT64_MAX - 1, INT64_MAX - 1 },
};

START_TEST(format_parse_round_trip)
{
    char tag[PUSH_CURSOR_TAG_LEN + 1], text[PUSH_CURSOR_MAX];
    struct push_cursor got = { -7, -7 };

    push_cursor_tag("alice", tag);
    memset(text, '#', sizeof text);
    push_cursor_format(&round_trips[_i], tag, text);
    ck_assert_uint_lt(strlen(text), PUSH_CURSOR_MAX);
    ck_assert_int_eq(push_cursor_parse(text, tag, &got), PUSH_CURSOR_OK);
    ck_assert_int_eq(got.personal, round_trips[_i].personal);
    ck_assert_int_eq(got.broadcast, round_trips[_i].broadcast);
}
END_TEST

START_TEST(format_is_documented_text)
{
    static const struct {
        struct push_cursor c;
        const char *text;
    } cases[] = {
        { { 0, 0 }, "0-0-" },
        { { 10, 255 }, "a-ff-" },
        { { INT64_MAX, 1 }, "7fffffffffffffff-1-" },
    };
    char tag[PUSH_CURSOR_TAG_LEN + 1], text[PUSH_CURSOR_MAX], expect[PUSH_CURSOR_MAX];

    push_cursor_tag("alice", tag);
    for (int i = 0; i < N(cases); i++) {
        push_cursor_format(&cases[i].c, tag, text);
        snprintf(expect, sizeof expect, "%s%s", cases[i].text, tag);
        ck_assert_str_eq(text, expect);
    }
}
END_TEST

/* Malformed texts; "TAG" is replaced by alice's tag. */
static const char *const malformed[] = {
    "",
    "-",
    "--",
    "0",
    "0-0",
    "0-0-",
    "0-TAG",
    "-0-TAG",
    "0--TAG",
    "--TAG",
    "TAG",
    "A-0-TAG",            /* uppercase hex */
    "0-B-TAG",
    "01-0-TAG",           /* leading zeros */
    "0-00-TAG",
    "00-0-TAG",
    "0-0a-TAG",
    "g-0-TAG",            /* not hex */
    "0x1-0-TAG",
    "-1-0-TAG",
    "+1-0-TAG",
    " 1-0-TAG",
    "1 -0-TAG",
    "10000000000000000-0-TAG",  /* 17 hex digits */
    "0-10000000000000000-TAG",
    "8000000000000000-0-TAG",   /* INT64_MAX + 1 */
    "0-8000000000000000-TAG",
    "ffffffffffffffff-0-TAG",
    "0-0-TAG0",           /* tag too long */
    "0-0-TAG-",
    "0-0-TAG ",
    "0-0-TAG\n",
    "0-0-0-TAG",          /* extra part */
    "0-0-1234567",        /* tag too short */
    "0-0-123456789",
    "0-0-abcdefgh",       /* tag not hex */
    "0-0-ABCDEF12",       /* tag uppercase */
    "0-0-1234 678",
};

static void expand(const char *pattern, const char *tag, char *out, size_t size)
{
    const char *t = strstr(pattern, "TAG");

    if (t)
        snprintf(out, size, "%.*s%s%s", (int)(t - pattern), pattern, tag, t + 3);
    else
        snprintf(out, size, "%s", pattern);
}

START_TEST(parse_rejects_malformed)
{
    char tag[PUSH_CURSOR_TAG_LEN + 1], text[128];
    struct push_cursor c = { 11, 22 };

    push_cursor_tag("alice", tag);
    expand(malformed[_i], tag, text, sizeof text);
    ck_assert_msg(push_cursor_parse(text, tag, &c) == PUSH_CURSOR_MALFORMED, "\"%s\" gave %s",
                  text, push_cursor_strerror(push_cursor_parse(text, tag, &c)));
    ck_assert_int_eq(c.personal, 11);
    ck_assert_int_eq(c.broadcast, 22);
}
END_TEST

START_TEST(table_substitution_yields_valid_cursor)
{
    /* the table above is only meaningful if "TAG" really becomes the tag */
    char tag[PUSH_CURSOR_TAG_LEN + 1], text[128];
    struct push_cursor c = { 0, 0 };

    push_cursor_tag("alice", tag);
    expand("1f-2-TAG", tag, text, sizeof text);
    ck_assert_int_eq(push_cursor_parse(text, tag, &c), PUSH_CURSOR_OK);
    ck_assert_int_eq(c.personal, 31);
    ck_assert_int_eq(c.broadcast, 2);
}
END_TEST

START_TEST(parse_rejects_overlong)
{
    char tag[PUSH_CURSOR_TAG_LEN + 1], text[256];
    struct push_cursor c = { 11, 22 };

    push_cursor_tag("alice", tag);
    /* longest possible well-formed text: 16 + 1 + 16 + 1 + 8 = 42 < PUSH_CURSOR_MAX */
    snprintf(text, sizeof text, "7fffffffffffffff-7fffffffffffffff-%s", tag);
    ck_assert_int_eq(push_cursor_parse(text, tag, &c), PUSH_CURSOR_OK);
    c.personal = 11, c.broadcast = 22;

    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    ck_assert_int_eq(push_cursor_parse(text, tag, &c), PUSH_CURSOR_MALFORMED);
    memset(text, '-', PUSH_CURSOR_MAX);
    text[PUSH_CURSOR_MAX] = '\0';
    ck_assert_int_eq(push_cursor_parse(text, tag, &c), PUSH_CURSOR_MALFORMED);
    ck_assert_int_eq(c.personal, 11);
    ck_assert_int_eq(c.broadcast, 22);
}
END_TEST

START_TEST(parse_refuses_other_users_cursor)
{
    char alice[PUSH_CURSOR_TAG_LEN + 1], bob[PUSH_CURSOR_TAG_LEN + 1], text[PUSH_CURSOR_MAX];
    struct push_cursor c = { 5, 6 }, got = { 11, 22 };

    push_cursor_tag("alice", alice);
    push_cursor_tag("bob", bob);
    push_cursor_format(&c, bob, text);
    ck_assert_int_eq(push_cursor_parse(text, alice, &got), PUSH_CURSOR_WRONG_USER);
    ck_assert_int_eq(got.personal, 11);
    ck_assert_int_eq(got.broadcast, 22);
    ck_assert_int_eq(push_cursor_parse(text, bob, &got), PUSH_CURSOR_OK);
    ck_assert_int_eq(got.personal, 5);
    ck_assert_int_eq(got.broadcast, 6);

    /* any well-shaped tag that is not the user's */
    got.personal = 11;
    ck_assert_int_eq(push_cursor_parse(strcmp(alice, "00000000") ? "1-2-00000000" : "1-2-00000001",
                                       alice, &got),
                     PUSH_CURSOR_WRONG_USER);
    ck_assert_int_eq(got.personal, 11);

    /* a tag that differs from the user's in its last digit only: every digit is compared */
    char near[PUSH_CURSOR_TAG_LEN + 1];
    memcpy(near, alice, sizeof near);
    near[PUSH_CURSOR_TAG_LEN - 1] = near[PUSH_CURSOR_TAG_LEN - 1] == '0' ? '1' : '0';
    push_cursor_format(&c, near, text);
    ck_assert_int_eq(push_cursor_parse(text, alice, &got), PUSH_CURSOR_WRONG_USER);
    ck_assert_int_eq(got.personal, 11);
}
END_TEST

START_TEST(strerror_distinct_and_nonempty)
{
    const enum push_cursor_err errs[] = { PUSH_CURSOR_OK, PUSH_CURSOR_MALFORMED,
                                          PUSH_CURSOR_WRONG_USER };

    for (int i = 0; i < N(errs); i++) {
        ck_assert_uint_gt(strlen(push_cursor_strerror(errs[i])), 0);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(push_cursor_strerror(errs[i]), push_cursor_strerror(errs[j]));
    }
}
END_TEST

static Suite *cursor_suite(void)
{
    Suite *s = suite_create("cursor");
    TCase *tag = tcase_create("tag");
    TCase *text = tcase_create("text");
    TCase *bad = tcase_create("parse_errors");

    tcase_add_loop_test(tag, tag_is_eight_lowercase_hex, 0, N(tag_users));
    tcase_add_test(tag, tag_is_stable_and_differs_between_users);
    suite_add_tcase(s, tag);

    tcase_add_loop_test(text, format_parse_round_trip, 0, N(round_trips));
    tcase_add_test(text, format_is_documented_text);
    suite_add_tcase(s, text);

    tcase_add_test(bad, table_substitution_yields_valid_cursor);
    tcase_add_loop_test(bad, parse_rejects_malformed, 0, N(malformed));
    tcase_add_test(bad, parse_rejects_overlong);
    tcase_add_test(bad, parse_refuses_other_users_cursor);
    tcase_add_test(bad, strerror_distinct_and_nonempty);
    suite_add_tcase(s, bad);
    return s;
}

UNIT_MAIN(cursor_suite)
