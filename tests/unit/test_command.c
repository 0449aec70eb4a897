/* test_command.c: unit tests for lib/transport/push_command: the mark-read fields, by the table every transport
 * shares (tests/lib/mark-cases.tsv), through push_command itself and through push-ws's parser */
#include "config.h"

#include "unit.h"

#include "transport/push_command.h"
#include "transport/push_ws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define CASES_MAX 256

static char tag[PUSH_CURSOR_TAG_LEN + 1], other[PUSH_CURSOR_TAG_LEN + 1];
static char cur[PUSH_CURSOR_MAX], cur_other[PUSH_CURSOR_MAX], cur_future[PUSH_CURSOR_MAX];

/* tests/lib/mark-cases.tsv, read once */
static struct mark_case {
    char *code, *body, *what; /* strdup'd, kept to the end */
    int line;
} cases[CASES_MAX];
static int ncases;
static char cases_path[1024], cases_problem[1200];

static void setup(void)
{
    struct push_cursor c = { 5, 7 }, f = { 0xffffff, 0 };

    push_cursor_tag("alice", tag);
    push_cursor_tag("bob", other);
    push_cursor_format(&c, tag, cur);
    push_cursor_format(&c, other, cur_other);
    push_cursor_format(&f, tag, cur_future);
}

static void load_cases(void)
{
    const char *top = getenv("top_srcdir");
    char line[1024];
    FILE *f;
    int n = 0;

    snprintf(cases_path, sizeof cases_path, "%s/tests/lib/mark-cases.tsv", top && *top ? top : ".");
    if (!(f = fopen(cases_path, "r"))) {
        snprintf(cases_problem, sizeof cases_problem, "cannot open %s (set top_srcdir)", cases_path);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char *code = line, *body, *what;
        n++;
        line[strcspn(line, "\n")] = '\0';
        if (!*line || *line == '#')
            continue;
        if (!(body = strchr(code, '\t')) || !(what = strchr(body + 1, '\t')) || ncases == CASES_MAX) {
            snprintf(cases_problem, sizeof cases_problem, "%s:%d: not CODE<tab>BODY<tab>WHAT", cases_path, n);
            break;
        }
        *body++ = '\0';
        *what++ = '\0';
        cases[ncases].code = strdup(code);
        cases[ncases].body = strdup(body);
        cases[ncases].what = strdup(what);
        if (!cases[ncases].code || !cases[ncases].body || !cases[ncases].what)
            abort();
        cases[ncases++].line = n;
    }
    fclose(f);
    if (!cases_problem[0] && ncases < 20)
        snprintf(cases_problem, sizeof cases_problem, "%s: only %d cases", cases_path, ncases);
}

/* The body with its placeholders filled in, as the integration tests do with real values. */
static void fill(const char *body, char *out, size_t size)
{
    static const char *const names[] = { "@ID@", "@CUR@", "@OTHER@", "@FUTURE@", "@TAG@" };
    const char *values[] = { "5", cur, cur_other, cur_future, tag };
    size_t o = 0;

    while (*body && o + 1 < size) {
        int i;
        for (i = 0; i < N(names); i++)
            if (strncmp(body, names[i], strlen(names[i])) == 0)
                break;
        if (i < N(names)) {
            o += (size_t)snprintf(out + o, size - o, "%s", values[i]);
            body += strlen(names[i]);
        } else {
            out[o++] = *body++;
        }
        if (o >= size)
            o = size - 1;
    }
    out[o] = '\0';
}

/* What the parser answers for a case: its own codes; the run's (cursor_future, not_found,
 * unknown_kind) and ok are a parse that accepts. */
static const char *parse_code(const char *code)
{
    return strcmp(code, "bad_request") == 0 || strcmp(code, "bad_cursor") == 0
                   || strcmp(code, "cursor_user") == 0
               ? code
               : "ok";
}

START_TEST(the_table_is_there)
{
    ck_assert_msg(!cases_problem[0], "%s", cases_problem);
}
END_TEST

START_TEST(table_through_push_command)
{
    const struct mark_case *k = &cases[_i];
    char body[600];
    json_object *o;
    struct push_mark m;
    struct push_command_error e = { PUSH_COMMAND_OK, NULL };
    int rc;

    fill(k->body, body, sizeof body);
    o = json_tokener_parse(body);
    ck_assert_msg(o && json_object_is_type(o, json_type_object), "line %d: not a JSON object: %s",
                  k->line, body);
    rc = push_command_parse_mark(o, tag, &m, &e);
    ck_assert_msg(strcmp(rc == 0 ? "ok" : push_command_code(e.err), parse_code(k->code)) == 0,
                  "line %d (%s): %s: parsed as %s, expected %s", k->line, k->what, body,
                  rc == 0 ? "ok" : push_command_code(e.err), parse_code(k->code));
    if (rc < 0)
        ck_assert_msg(e.why && *e.why, "line %d: a reason", k->line);
    else if (m.type == PUSH_MARK_KIND)
        ck_assert_msg(strlen(m.kind) >= 1 && strlen(m.kind) <= PUSH_COMMAND_KIND_MAX, "line %d", k->line);
    else if (m.type == PUSH_MARK_ONE)
        ck_assert_msg(m.id > 0, "line %d", k->line);
    json_object_put(o);
}
END_TEST

/* push-ws's "mark": the same fields after "cmd" and "ref", the same answer */
START_TEST(table_through_push_ws)
{
    const struct mark_case *k = &cases[_i];
    char body[600], text[700];
    struct push_ws_cmd c;
    const char *code = NULL, *why = NULL;
    int rc;

    fill(k->body, body, sizeof body);
    snprintf(text, sizeof text, "{\"cmd\":\"mark\",\"ref\":%d%s%s", k->line,
             strcmp(body, "{}") == 0 ? "" : ",", body + 1);
    rc = push_ws_cmd_parse(text, strlen(text), tag, &c, &code, &why);
    ck_assert_msg(strcmp(rc == 0 ? "ok" : code, parse_code(k->code)) == 0,
                  "line %d (%s): %s: push-ws parsed it as %s, expected %s", k->line, k->what, text,
                  rc == 0 ? "ok" : code, parse_code(k->code));
    ck_assert_int_eq(atoi(c.ref), k->line);
}
END_TEST

/* the id rule by itself, with lengths (a NUL inside counts) */
static const struct {
    const char *text;
    size_t len;
    int64_t id; /* 0: refused */
} ids[] = {
    { "5", 1, 5 },
    { "123", 3, 123 },
    { "1000000000000000000", 19, 1000000000000000000 },
    { "9223372036854775807", 19, INT64_MAX },
    { "9223372036854775808", 19, 0 },
    { "9999999999999999999", 19, 0 },
    { "10000000000000000000", 20, 0 },
    { "5\0" "1", 3, 0 },
    { "51", 1, 5 }, /* only len bytes are read */
    { "", 0, 0 },
    { "0", 1, 0 },
    { "05", 2, 0 },
    { "+5", 2, 0 },
    { "-5", 2, 0 },
    { " 5", 2, 0 },
    { "5 ", 2, 0 },
    { "5\n", 2, 0 },
    { "\xd9\xa5", 2, 0 }, /* ARABIC-INDIC DIGIT FIVE */
};

START_TEST(id_rule)
{
    int64_t id = -7;
    int rc = push_command_parse_id(ids[_i].text, ids[_i].len, &id);

    if (ids[_i].id) {
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(id, ids[_i].id);
    } else {
        ck_assert_int_eq(rc, -1);
        ck_assert_int_eq(id, -7);
    }
}
END_TEST

static int parse(const char *text, struct push_mark *m, struct push_command_error *e)
{
    json_object *o = json_tokener_parse(text);
    int rc;

    ck_assert_ptr_nonnull(o);
    rc = push_command_parse_mark(o, tag, m, e);
    json_object_put(o);
    return rc;
}

START_TEST(fields_are_read)
{
    struct push_mark m;
    struct push_command_error e;
    char text[256];

    ck_assert_int_eq(parse("{\"mark\":\"one\",\"id\":\"9223372036854775807\"}", &m, &e), 0);
    ck_assert_int_eq(m.type, PUSH_MARK_ONE);
    ck_assert_int_eq(m.id, INT64_MAX);
    ck_assert_int_eq(m.has_cursor, 0);
    ck_assert_int_eq(parse("{\"mark\":\"one\",\"id\":42}", &m, &e), 0);
    ck_assert_int_eq(m.id, 42);
    snprintf(text, sizeof text, "{\"mark\":\"upto\",\"cursor\":\"%s\"}", cur);
    ck_assert_int_eq(parse(text, &m, &e), 0);
    ck_assert_int_eq(m.type, PUSH_MARK_UPTO);
    ck_assert_int_eq(m.has_cursor, 1);
    ck_assert_int_eq(m.cursor.personal, 5);
    ck_assert_int_eq(m.cursor.broadcast, 7);
    ck_assert_int_eq(parse("{\"mark\":\"all\"}", &m, &e), 0);
    ck_assert_int_eq(m.type, PUSH_MARK_ALL);
    ck_assert_int_eq(m.has_cursor, 0);
    snprintf(text, sizeof text, "{\"mark\":\"kind\",\"kind\":\"comment.x-1_\",\"cursor\":\"%s\"}", cur);
    ck_assert_int_eq(parse(text, &m, &e), 0);
    ck_assert_int_eq(m.type, PUSH_MARK_KIND);
    ck_assert_str_eq(m.kind, "comment.x-1_");
    ck_assert_int_eq(m.has_cursor, 1);
    /* mark one never reads a cursor */
    snprintf(text, sizeof text, "{\"mark\":\"one\",\"id\":\"3\",\"cursor\":\"%s\"}", cur);
    ck_assert_int_eq(parse(text, &m, &e), 0);
    ck_assert_int_eq(m.has_cursor, 0);
}
END_TEST

START_TEST(errors_have_codes_and_reasons)
{
    struct push_mark m;
    struct push_command_error e;

    ck_assert_int_eq(parse("{\"mark\":\"one\",\"id\":\"+5\"}", &m, &e), -1);
    ck_assert_int_eq(e.err, PUSH_COMMAND_BAD_REQUEST);
    ck_assert_ptr_nonnull(strstr(e.why, "\"id\""));
    ck_assert_int_eq(parse("{\"mark\":\"upto\",\"cursor\":7}", &m, &e), -1);
    ck_assert_int_eq(e.err, PUSH_COMMAND_BAD_CURSOR);
    ck_assert_str_eq(push_command_code(PUSH_COMMAND_OK), "ok");
    ck_assert_str_eq(push_command_code(PUSH_COMMAND_BAD_REQUEST), "bad_request");
    ck_assert_str_eq(push_command_code(PUSH_COMMAND_BAD_CURSOR), "bad_cursor");
    ck_assert_str_eq(push_command_code(PUSH_COMMAND_CURSOR_USER), "cursor_user");
    ck_assert_str_eq(push_command_code(PUSH_COMMAND_CURSOR_FUTURE), "cursor_future");
    ck_assert_str_eq(push_command_code(PUSH_COMMAND_NOT_FOUND), "not_found");
    ck_assert_str_eq(push_command_code(PUSH_COMMAND_UNKNOWN_KIND), "unknown_kind");
}
END_TEST

/* resume shares the cursor field's rule */
START_TEST(resume_cursor_rule)
{
    struct push_ws_cmd c;
    const char *code = NULL, *why = NULL;
    char text[256];

    snprintf(text, sizeof text, "{\"cmd\":\"resume\",\"cursor\":\"%s\"}", cur);
    ck_assert_int_eq(push_ws_cmd_parse(text, strlen(text), tag, &c, &code, &why), 0);
    ck_assert_int_eq(c.cursor.broadcast, 7);
    snprintf(text, sizeof text, "{\"cmd\":\"resume\",\"cursor\":\"%s\\u0000\"}", cur);
    ck_assert_int_eq(push_ws_cmd_parse(text, strlen(text), tag, &c, &code, &why), -1);
    ck_assert_str_eq(code, "bad_cursor");
    snprintf(text, sizeof text, "{\"cmd\":\"resume\",\"cursor\":[]}");
    ck_assert_int_eq(push_ws_cmd_parse(text, strlen(text), tag, &c, &code, &why), -1);
    ck_assert_str_eq(code, "bad_cursor");
    snprintf(text, sizeof text, "{\"cmd\":\"resume\",\"cursor\":\"%s\"}", cur_other);
    ck_assert_int_eq(push_ws_cmd_parse(text, strlen(text), tag, &c, &code, &why), -1);
    ck_assert_str_eq(code, "cursor_user");
}
END_TEST

static Suite *command_suite(void)
{
    Suite *s = suite_create("push_command");
    TCase *tc = tcase_create("core");

    setup();
    load_cases();
    tcase_add_test(tc, the_table_is_there);
    tcase_add_loop_test(tc, table_through_push_command, 0, ncases);
    tcase_add_loop_test(tc, table_through_push_ws, 0, ncases);
    tcase_add_loop_test(tc, id_rule, 0, N(ids));
    tcase_add_test(tc, fields_are_read);
    tcase_add_test(tc, errors_have_codes_and_reasons);
    tcase_add_test(tc, resume_cursor_rule);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(command_suite)
