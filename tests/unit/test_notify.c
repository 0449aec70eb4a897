/* test_notify.c: unit tests for lib/store/push_notify: the payloads of NOTIFY pgpush (README "How it
 * works"): "u:<user>" wakes that user, "*" everyone, a name no user can have no one, and anything
 * else everyone (waking too much is safe) */
#include "config.h"

#include "unit.h"

#include "core/push_user.h"
#include "store/push_notify.h"

#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
    const char *payload;
    enum push_notify_kind kind;
    const char *user; /* PUSH_NOTIFY_USER: the name read */
} cases[] = {
    /* what the triggers send */
    { "*", PUSH_NOTIFY_ALL, NULL },
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

static Suite *notify_suite(void)
{
    Suite *s = suite_create("notify");
    TCase *t = tcase_create("payloads");

    tcase_add_loop_test(t, payloads, 0, N(cases));
    tcase_add_test(t, name_length);
    tcase_add_test(t, channel);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(notify_suite)
