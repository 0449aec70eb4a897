/* test_ws.c: unit tests for lib/transport/push_ws: push-ws commands, replies and events */
#include "config.h"

#include "unit.h"

#include "transport/push_ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char tag[PUSH_CURSOR_TAG_LEN + 1], other[PUSH_CURSOR_TAG_LEN + 1];
static char cur[PUSH_CURSOR_MAX], cur_other[PUSH_CURSOR_MAX];

static void setup(void)
{
    struct push_cursor c = { 5, 7 };

    push_cursor_tag("alice", tag);
    push_cursor_tag("bob", other);
    push_cursor_format(&c, tag, cur);
    push_cursor_format(&c, other, cur_other);
}

static int parse(const char *text, struct push_ws_cmd *c, const char **code)
{
    const char *why = NULL;
    int rc = push_ws_cmd_parse(text, strlen(text), tag, c, code, &why);

    if (rc < 0)
        ck_assert_msg(why && *why, "a reason for %s", text);
    return rc;
}

START_TEST(mark_one_by_string_or_number)
{
    struct push_ws_cmd c;
    const char *code;

    ck_assert_int_eq(parse("{\"cmd\":\"mark\",\"mark\":\"one\",\"id\":\"123\",\"ref\":7}", &c, &code), 0);
    ck_assert_int_eq(c.type, PUSH_WS_CMD_MARK);
    ck_assert_int_eq(c.mark.type, PUSH_MARK_ONE);
    ck_assert_int_eq(c.mark.id, 123);
    ck_assert_str_eq(c.ref, "7");
    ck_assert_int_eq(parse("{\"cmd\":\"mark\",\"mark\":\"one\",\"id\":9,\"ref\":\"a\\\"b\"}", &c, &code), 0);
    ck_assert_int_eq(c.mark.id, 9);
    ck_assert_str_eq(c.ref, "\"a\\\"b\"");
}
END_TEST

START_TEST(mark_upto_all_kind_resume)
{
    struct push_ws_cmd c;
    const char *code;
    char text[256];

    snprintf(text, sizeof text, "{\"cmd\":\"mark\",\"mark\":\"upto\",\"cursor\":\"%s\"}", cur);
    ck_assert_int_eq(parse(text, &c, &code), 0);
    ck_assert_int_eq(c.mark.type, PUSH_MARK_UPTO);
    ck_assert_int_eq(c.mark.has_cursor, 1);
    ck_assert_int_eq(c.mark.cursor.personal, 5);
    ck_assert_int_eq(c.mark.cursor.broadcast, 7);
    ck_assert_str_eq(c.ref, "");
    ck_assert_int_eq(parse("{\"cmd\":\"mark\",\"mark\":\"all\"}", &c, &code), 0);
    ck_assert_int_eq(c.mark.type, PUSH_MARK_ALL);
    ck_assert_int_eq(c.mark.has_cursor, 0);
    ck_assert_int_eq(parse("{\"cmd\":\"mark\",\"mark\":\"kind\",\"kind\":\"comment\"}", &c, &code), 0);
    ck_assert_str_eq(c.mark.kind, "comment");
    snprintf(text, sizeof text, "{\"cmd\":\"resume\",\"cursor\":\"%s\"}", cur);
    ck_assert_int_eq(parse(text, &c, &code), 0);
    ck_assert_int_eq(c.type, PUSH_WS_CMD_RESUME);
    ck_assert_int_eq(c.cursor.personal, 5);
}
END_TEST

static const struct {
    const char *text, *code;
} bad[] = {
    { "", "bad_json" },
    { "not json", "bad_json" },
    { "[1,2]", "bad_json" },
    { "{\"cmd\":\"mark\"} trailing", "bad_json" },
    { "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":1}}}}}}}}}", "bad_json" },
    { "{}", "unknown_command" },
    { "{\"cmd\":\"drop\"}", "unknown_command" },
    { "{\"cmd\":7}", "unknown_command" },
    { "{\"cmd\":\"mark\"}", "bad_request" },
    { "{\"cmd\":\"mark\",\"mark\":\"some\"}", "bad_request" },
    { "{\"cmd\":\"mark\",\"mark\":\"one\"}", "bad_request" },
    { "{\"cmd\":\"mark\",\"mark\":\"one\",\"id\":\"12x\"}", "bad_request" },
    { "{\"cmd\":\"mark\",\"mark\":\"one\",\"id\":\"-1\"}", "bad_request" },
    { "{\"cmd\":\"mark\",\"mark\":\"one\",\"id\":0}", "bad_request" },
    { "{\"cmd\":\"mark\",\"mark\":\"one\",\"id\":\"9223372036854775808\"}", "bad_request" }, /* past bigint */
    { "{\"cmd\":\"mark\",\"mark\":\"upto\"}", "bad_request" },
    { "{\"cmd\":\"mark\",\"mark\":\"upto\",\"cursor\":\"zz\"}", "bad_cursor" },
    { "{\"cmd\":\"mark\",\"mark\":\"upto\",\"cursor\":5}", "bad_cursor" },
    { "{\"cmd\":\"mark\",\"mark\":\"kind\"}", "bad_request" },
    { "{\"cmd\":\"mark\",\"mark\":\"kind\",\"kind\":\"Bad Kind\"}", "bad_request" },
    { "{\"cmd\":\"mark\",\"mark\":\"kind\",\"kind\":\"\"}", "bad_request" },
    { "{\"cmd\":\"resume\"}", "bad_request" },
};

START_TEST(bad_commands_say_why)
{
    struct push_ws_cmd c;
    const char *code = NULL;

    ck_assert_int_eq(parse(bad[_i].text, &c, &code), -1);
    ck_assert_str_eq(code, bad[_i].code);
}
END_TEST

START_TEST(another_users_cursor_is_refused)
{
    struct push_ws_cmd c;
    const char *code = NULL;
    char text[256];

    snprintf(text, sizeof text, "{\"cmd\":\"resume\",\"cursor\":\"%s\",\"ref\":\"r1\"}", cur_other);
    ck_assert_int_eq(parse(text, &c, &code), -1);
    ck_assert_str_eq(code, "cursor_user");
    ck_assert_str_eq(c.ref, "\"r1\"");
}
END_TEST

START_TEST(long_or_odd_refs_are_dropped)
{
    struct push_ws_cmd c;
    const char *code;
    char text[256];

    snprintf(text, sizeof text, "{\"cmd\":\"mark\",\"mark\":\"all\",\"ref\":\"%070d\"}", 0);
    ck_assert_int_eq(parse(text, &c, &code), 0);
    ck_assert_str_eq(c.ref, "");
    ck_assert_int_eq(parse("{\"cmd\":\"mark\",\"mark\":\"all\",\"ref\":{\"a\":1}}", &c, &code), 0);
    ck_assert_str_eq(c.ref, "");
    ck_assert_int_eq(parse("{\"cmd\":\"mark\",\"mark\":\"all\",\"ref\":\"\xff\xfe\"}", &c, &code), 0);
    ck_assert_str_eq(c.ref, "");
    ck_assert_int_eq(parse("{\"cmd\":\"mark\",\"mark\":\"all\",\"ref\":\"a\\nb\"}", &c, &code), 0);
    ck_assert_str_eq(c.ref, "");
}
END_TEST

START_TEST(errors_name_the_command)
{
    struct push_ws_cmd c;
    const char *code;
    char *s;

    ck_assert_int_eq(parse("{\"cmd\":\"mark\",\"mark\":\"one\",\"id\":\"5\",\"ref\":3}", &c, &code), 0);
    s = push_ws_error(&c, "not_found", "no such message");
    ck_assert_str_eq(s, "{\"type\":\"error\",\"ref\":3,\"cmd\":\"mark\",\"error\":\"not_found\","
                        "\"message\":\"no such message\"}");
    free(s);
    ck_assert_int_eq(parse("{\"cmd\":\"nope\",\"ref\":\"x\"}", &c, &code), -1);
    s = push_ws_error(&c, code, "?");
    ck_assert_str_eq(s, "{\"type\":\"error\",\"ref\":\"x\",\"error\":\"unknown_command\",\"message\":\"?\"}");
    free(s);
    s = push_ws_error(NULL, "bad_json", "<b>");
    ck_assert_str_eq(s, "{\"type\":\"error\",\"error\":\"bad_json\",\"message\":\"<b>\"}");
    free(s);
}
END_TEST

START_TEST(events_wrap_json)
{
    char *s = push_ws_event("unread", "1-2-abcdef01", "unread", "{\"total\":1}", 11);

    ck_assert_str_eq(s, "{\"type\":\"unread\",\"cursor\":\"1-2-abcdef01\",\"unread\":{\"total\":1}}");
    free(s);
}
END_TEST

static Suite *ws_suite(void)
{
    Suite *s = suite_create("push_ws");
    TCase *tc = tcase_create("core");

    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_add_test(tc, mark_one_by_string_or_number);
    tcase_add_test(tc, mark_upto_all_kind_resume);
    tcase_add_loop_test(tc, bad_commands_say_why, 0, N(bad));
    tcase_add_test(tc, another_users_cursor_is_refused);
    tcase_add_test(tc, long_or_odd_refs_are_dropped);
    tcase_add_test(tc, errors_name_the_command);
    tcase_add_test(tc, events_wrap_json);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(ws_suite)
