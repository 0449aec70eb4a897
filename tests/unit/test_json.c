/* test_json.c: unit tests for lib/transport/push_json, on PGresults built without a database */
#include "config.h"

#include "unit.h"

#include "transport/push_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/push_store.h"

#include "pgresult.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
static char tag[PUSH_CURSOR_TAG_LEN + 1];

static void setup(void)
{
    push_cursor_tag("alice", tag);
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;

    ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key \"%s\"", key);
    return v;
}

static void assert_string(json_object *o, const char *key, const char *expect)
{
    json_object *v = get(o, key);

    ck_assert_msg(json_object_is_type(v, json_type_string), "\"%s\" is not a string", key);
    ck_assert_str_eq(json_object_get_string(v), expect);
}

static void assert_null(json_object *o, const char *key)
{
    ck_assert_msg(get(o, key) == NULL, "\"%s\" is not null", key);
}

static void assert_cursor(json_object *o, int64_t personal, int64_t broadcast)
{
    struct push_cursor c = { personal, broadcast }, back = { -1, -1 };
    char text[PUSH_CURSOR_MAX];

    push_cursor_format(&c, tag, text);
    assert_string(o, "cursor", text);
    ck_assert_int_eq(push_cursor_parse(json_object_get_string(get(o, "cursor")), tag, &back),
                     PUSH_CURSOR_OK);
    ck_assert_int_eq(back.personal, personal);
    ck_assert_int_eq(back.broadcast, broadcast);
}

/* Serializes o and parses the text back. */
static json_object *reparse(json_object *o)
{
    size_t len = 0;
    const char *text = push_json_text(o, &len);
    json_object *back;

    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    for (size_t i = 0; i < len; i++)
        ck_assert_msg((unsigned char)text[i] >= 0x20, "raw control byte 0x%02x in JSON text",
                      (unsigned char)text[i]);
    back = json_tokener_parse(text);
    ck_assert_msg(back != NULL, "push_json_text gave invalid JSON: %s", text);
    return back;
}

/* ---- push_json_unread */

START_TEST(unread_totals_and_by_kind)
{
    static const char *const rows[][2] = { { "chat", "3" }, { "alert", "2" },
                                           { "digest", "5000000000" } };
    PGresult *res = unread(rows, N(rows));
    json_object *o = push_json_unread(res), *back, *by_kind;

    back = reparse(o);
    ck_assert_int_eq(json_object_get_int64(get(back, "total")), INT64_C(5000000005));
    by_kind = get(back, "by_kind");
    ck_assert(json_object_is_type(by_kind, json_type_object));
    ck_assert_int_eq(json_object_object_length(by_kind), 3);
    ck_assert_int_eq(json_object_get_int64(get(by_kind, "chat")), 3);
    ck_assert_int_eq(json_object_get_int64(get(by_kind, "alert")), 2);
    ck_assert_int_eq(json_object_get_int64(get(by_kind, "digest")), INT64_C(5000000000));
    ck_assert(json_object_is_type(get(by_kind, "chat"), json_type_int));
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

START_TEST(unread_empty)
{
    PGresult *res = unread(NULL, 0);
    json_object *o = push_json_unread(res), *back = reparse(o);

    ck_assert_int_eq(json_object_get_int64(get(back, "total")), 0);
    ck_assert(json_object_is_type(get(back, "total"), json_type_int));
    ck_assert(json_object_is_type(get(back, "by_kind"), json_type_object));
    ck_assert_int_eq(json_object_object_length(get(back, "by_kind")), 0);
    ck_assert_int_eq(json_object_object_length(back), 2);
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

START_TEST(unread_hostile_kind_names)
{
    static const char *const rows[][2] = { { "</script>", "1" }, { "a\"b\\c", "2" },
                                           { "\x01\xe2\x80\xa8", "4" } };
    PGresult *res = unread(rows, N(rows));
    json_object *o = push_json_unread(res), *back = reparse(o), *by_kind = get(back, "by_kind");

    for (int i = 0; i < N(rows); i++)
        ck_assert_int_eq(json_object_get_int64(get(by_kind, rows[i][0])), 1 << i);
    ck_assert_int_eq(json_object_get_int64(get(back, "total")), 7);
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

/* ---- push_json_message */

START_TEST(message_fields)
{
    const struct row rows[] = { { { "9007199254740993", "f", "chat", "Hello", "A body",
                                    "{\"a\":[1,2],\"b\":null,\"c\":\"x\"}", NULL,
                                    "2024-05-01 12:00:00+00", "t", "5", "3" } } };
    PGresult *res = messages(rows, 1);
    struct push_cursor pos = { 0, 0 };
    json_object *o = push_json_message(res, 0, tag, &pos), *back = reparse(o), *data, *a;

    ck_assert_int_eq(json_object_object_length(back), 10);
    assert_string(back, "id", "9007199254740993"); /* a string: 2^53 + 1 */
    assert_string(back, "kind", "chat");
    assert_string(back, "title", "Hello");
    assert_string(back, "body", "A body");
    assert_string(back, "created_at", "2024-05-01 12:00:00+00");
    assert_null(back, "link");
    ck_assert(json_object_is_type(get(back, "read"), json_type_boolean));
    ck_assert_int_eq(json_object_get_boolean(get(back, "read")), 1);
    ck_assert(json_object_is_type(get(back, "broadcast"), json_type_boolean));
    ck_assert_int_eq(json_object_get_boolean(get(back, "broadcast")), 0);

    data = get(back, "data");
    ck_assert(json_object_is_type(data, json_type_object)); /* parsed, not a string */
    a = get(data, "a");
    ck_assert(json_object_is_type(a, json_type_array));
    ck_assert_uint_eq(json_object_array_length(a), 2);
    ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(a, 1)), 2);
    assert_null(data, "b");
    assert_string(data, "c", "x");

    ck_assert_int_eq(pos.personal, 5);
    ck_assert_int_eq(pos.broadcast, 3);
    assert_cursor(back, 5, 3);
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

START_TEST(message_broadcast_unread_and_link)
{
    const struct row rows[] = { { { "1", "t", "news", "T", "B", "[1,\"two\"]", "https://x.test/a?b=1&c=2",
                                    "2024-01-01 00:00:00+00", "f", "0", "1" } } };
    PGresult *res = messages(rows, 1);
    struct push_cursor pos = { 0, 0 };
    json_object *o = push_json_message(res, 0, tag, &pos), *back = reparse(o);

    ck_assert_int_eq(json_object_get_boolean(get(back, "broadcast")), 1);
    ck_assert_int_eq(json_object_get_boolean(get(back, "read")), 0);
    assert_string(back, "link", "https://x.test/a?b=1&c=2");
    ck_assert(json_object_is_type(get(back, "data"), json_type_array));
    assert_cursor(back, 0, 1);
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

START_TEST(message_null_columns_are_json_null)
{
    const struct row rows[] = { { { "7", "f", NULL, NULL, NULL, NULL, NULL, NULL, "f", "7",
                                    "0" } } };
    PGresult *res = messages(rows, 1);
    struct push_cursor pos = { 0, 0 };
    json_object *o = push_json_message(res, 0, tag, &pos), *back = reparse(o);

    ck_assert_int_eq(json_object_object_length(back), 10);
    assert_null(back, "kind");
    assert_null(back, "title");
    assert_null(back, "body");
    assert_null(back, "data");
    assert_null(back, "link");
    assert_null(back, "created_at");
    assert_string(back, "id", "7");
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

static const struct {
    const char *data;
    enum json_type type;
} data_values[] = {
    { "42", json_type_int },
    { "-1.5", json_type_double },
    { "\"text\"", json_type_string },
    { "true", json_type_boolean },
    { "null", json_type_null },
    { "[]", json_type_array },
    { "{}", json_type_object },
    { "{\"nested\":{\"deeper\":[{\"x\":\"</script>\"}]}}", json_type_object },
};

START_TEST(message_data_is_parsed_json)
{
    struct row row = message_row("1", "t", "b", "1", "0");
    PGresult *res;
    struct push_cursor pos = { 0, 0 };
    json_object *o, *back, *data;

    row.col[PUSH_COL_DATA] = data_values[_i].data;
    res = messages(&row, 1);
    o = push_json_message(res, 0, tag, &pos);
    back = reparse(o);
    data = get(back, "data");
    ck_assert_msg(json_object_get_type(data) == data_values[_i].type, "%s became %s",
                  data_values[_i].data, json_type_to_name(json_object_get_type(data)));
    if (data_values[_i].type == json_type_string)
        ck_assert_str_eq(json_object_get_string(data), "text");
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

START_TEST(message_too_deep_data_becomes_null)
{
    char deep[2 * 200 + 1];
    struct row row = message_row("1", "t", "b", "1", "0");
    PGresult *res;
    struct push_cursor pos = { 0, 0 };
    json_object *o, *back;

    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    deep[400] = '\0';
    row.col[PUSH_COL_DATA] = deep;
    res = messages(&row, 1);
    o = push_json_message(res, 0, tag, &pos);
    back = reparse(o);
    assert_null(back, "data");
    assert_string(back, "title", "t");
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

static const struct {
    int64_t before_p, before_b; /* pos before */
    const char *row_p, *row_b;  /* the row's position */
    int64_t after_p, after_b;   /* pos after */
} moves[] = {
    { 0, 0, "5", "3", 5, 3 },
    { 4, 2, "5", "2", 5, 2 },
    { 10, 10, "5", "12", 10, 12 },   /* never backwards, per stream */
    { 10, 10, "12", "5", 12, 10 },
    { 10, 10, "3", "4", 10, 10 },    /* a row behind the position moves nothing */
    { 10, 10, "10", "10", 10, 10 },
    { 0, 0, "9223372036854775807", "9223372036854775806", INT64_MAX, INT64_MAX - 1 },
    { INT64_MAX, INT64_MAX, "1", "1", INT64_MAX, INT64_MAX },
};

START_TEST(message_moves_cursor_forward_only)
{
    struct row row = message_row("1", "t", "b", moves[_i].row_p, moves[_i].row_b);
    PGresult *res = messages(&row, 1);
    struct push_cursor pos = { moves[_i].before_p, moves[_i].before_b };
    json_object *o = push_json_message(res, 0, tag, &pos), *back = reparse(o);

    ck_assert_int_eq(pos.personal, moves[_i].after_p);
    ck_assert_int_eq(pos.broadcast, moves[_i].after_b);
    assert_cursor(back, moves[_i].after_p, moves[_i].after_b);
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

static const char *const hostile[] = {
    "</script><script>alert(1)</script>",
    "\"quoted\" 'single'",
    "back\\slash \\\" \\u0041 \\n",
    "ctl \x01\x02\x1f\x7f end",
    "line\nfeed\rreturn\ttab\b\f",
    "sep \xe2\x80\xa8 and \xe2\x80\xa9 para",
    "zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
    "<!-- --> ]]> {{x}} ${y} %s %n",
    "/\\/",
    "",
    " ",
};

START_TEST(hostile_text_round_trips_exactly)
{
    struct row row = message_row("1", hostile[_i], hostile[_i], "1", "0");
    PGresult *res;
    struct push_cursor pos = { 0, 0 };
    json_object *o, *back;
    char kind[64];

    snprintf(kind, sizeof kind, "k%s", hostile[_i]);
    row.col[PUSH_COL_KIND] = kind;
    row.col[PUSH_COL_LINK] = hostile[_i];
    res = messages(&row, 1);
    o = push_json_message(res, 0, tag, &pos);
    back = reparse(o);
    assert_string(back, "title", hostile[_i]);
    assert_string(back, "body", hostile[_i]);
    assert_string(back, "link", hostile[_i]);
    assert_string(back, "kind", kind);
    ck_assert_uint_eq((size_t)json_object_get_string_len(get(back, "title")), strlen(hostile[_i]));
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST

START_TEST(long_text_round_trips)
{
    static char big[100000];
    struct row row;
    PGresult *res;
    struct push_cursor pos = { 0, 0 };
    json_object *o, *back;

    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = "ab\"\\\x01<>/"[i % 8];
    big[sizeof big - 1] = '\0';
    row = message_row("1", "t", big, "1", "0");
    res = messages(&row, 1);
    o = push_json_message(res, 0, tag, &pos);
    back = reparse(o);
    assert_string(back, "body", big);
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
}
END_TEST


/* ---- a message its wake-up carried: byte for byte what a read of it gives */

/* The carried text and the read's for one message (broadcast or alice's), from pos {6, 3}. */
static void carried_is_read(const char *text, int broadcast, const char *data)
{
    struct row row = message_row("7", text, text, broadcast ? "6" : "7", broadcast ? "7" : "3");
    struct push_cursor pos_read = { 6, 3 }, pos_carried = { 6, 3 };
    json_object *in = json_object_new_object(), *m;
    char payload[8192], *carried;
    const char *read_text, *s;
    struct push_carried *c;
    size_t len;
    PGresult *res;

    row.col[PUSH_COL_BROADCAST] = broadcast ? "t" : "f";
    row.col[PUSH_COL_LINK] = text;
    row.col[PUSH_COL_DATA] = data;
    row.col[PUSH_COL_CREATED_AT] = "2024-05-01T12:00:00.123456Z";
    res = messages(&row, 1);
    m = push_json_message(res, 0, tag, &pos_read);
    read_text = push_json_text(m, &len);
    /* the sealed notification's JSON, as the trigger builds it (json_build_object: data verbatim) */
    json_object_object_add(in, "t", json_object_new_string(text));
    s = push_json_text(in, &len); /* {"t":"..."}: the text as a JSON string */
    snprintf(payload, sizeof payload, "{\"id\" : \"7\", \"prev\" : \"%s\", \"r\" : %s, \"kind\" : \"chat\", "
             "\"title\" : %.*s, \"body\" : %.*s, \"data\" : %s, \"link\" : %.*s, "
             "\"created_at\" : \"2024-05-01T12:00:00.123456Z\"}", broadcast ? "3" : "6",
             broadcast ? "null" : "\"alice\"", (int)(len - 6), s + 5, (int)(len - 6), s + 5,
             data ? data : "null", (int)(len - 6), s + 5);
    c = push_json_carried_new(payload, strlen(payload));
    ck_assert_msg(c != NULL, "not a carried message: %s", payload);
    carried = push_json_carried_text(c, tag, &pos_carried, &len);
    ck_assert_str_eq(carried, read_text);
    ck_assert_uint_eq(len, strlen(read_text));
    ck_assert_int_eq(pos_carried.personal, pos_read.personal);
    ck_assert_int_eq(pos_carried.broadcast, pos_read.broadcast);
    free(carried);
    push_json_carried_put(c);
    json_object_put(m);
    json_object_put(in);
    PQclear(res);
}

START_TEST(carried_text_is_a_reads_message)
{
    carried_is_read(hostile[_i], 0, "{\"n\": 1.50, \"e\": 1e3, \"s\": \"</x>\", \"a\": [1, {\"b\": null}]}");
    carried_is_read(hostile[_i], 1, NULL);
    carried_is_read(hostile[_i], 0, "\"a string\"");
}
END_TEST

START_TEST(carried_json_that_is_not_a_message_is_refused)
{
    static const char *const bad[] = {
        "", "{}", "[]", "null", "{\"id\": \"7\"}",
        "{\"id\": 7, \"prev\": \"6\", \"r\": \"a\", \"kind\": \"k\", \"title\": \"\", \"body\": \"\", \"created_at\": \"x\"}",
        "{\"id\": \"7\", \"prev\": \"7\", \"r\": \"a\", \"kind\": \"k\", \"title\": \"\", \"body\": \"\", \"created_at\": \"x\"}",
        "{\"id\": \"7\", \"prev\": \"6\", \"r\": \"a\", \"kind\": \"K!\", \"title\": \"\", \"body\": \"\", \"created_at\": \"x\"}",
        "{\"id\": \"7\", \"prev\": \"6\", \"r\": \"\", \"kind\": \"k\", \"title\": \"\", \"body\": \"\", \"created_at\": \"x\"}",
        "{\"id\": \"7\", \"prev\": \"6\", \"r\": 5, \"kind\": \"k\", \"title\": \"\", \"body\": \"\", \"created_at\": \"x\"}",
        "{\"id\": \"-7\", \"prev\": \"6\", \"r\": \"a\", \"kind\": \"k\", \"title\": \"\", \"body\": \"\", \"created_at\": \"x\"}",
        "{\"id\": \"7\", \"prev\": \"6\", \"kind\": \"k\", \"title\": \"\", \"body\": \"\", \"created_at\": \"x\"}",
        "{\"id\": \"7\", \"prev\": \"6\", \"r\": \"a\", \"kind\": \"k\", \"title\": \"\", \"body\": \"\", \"created_at\": \"x\"} x",
    };
    const char *good = "{\"id\": \"7\", \"prev\": \"6\", \"r\": \"a\", \"kind\": \"k\", \"title\": \"\", "
                       "\"body\": \"\", \"created_at\": \"x\"}";
    struct push_carried *c = push_json_carried_new(good, strlen(good));

    ck_assert_ptr_nonnull(c);
    push_json_carried_put(c);
    for (int i = 0; i < N(bad); i++)
        ck_assert_msg(push_json_carried_new(bad[i], strlen(bad[i])) == NULL, "taken: %s", bad[i]);
}
END_TEST

START_TEST(unread_add_counts_one_more_in_kind_order)
{
    char *t = push_json_unread_add("{\"total\":2,\"by_kind\":{\"b\":1,\"d\":1}}", "c");

    ck_assert_str_eq(t, "{\"total\":3,\"by_kind\":{\"b\":1,\"c\":1,\"d\":1}}");
    free(t);
    t = push_json_unread_add("{\"total\":0,\"by_kind\":{}}", "a-b");
    ck_assert_str_eq(t, "{\"total\":1,\"by_kind\":{\"a-b\":1}}");
    free(t);
    t = push_json_unread_add("{\"total\":3,\"by_kind\":{\"a.b\":1,\"a_b\":2}}", "a_b");
    ck_assert_str_eq(t, "{\"total\":4,\"by_kind\":{\"a.b\":1,\"a_b\":3}}");
    free(t);
    ck_assert_ptr_null(push_json_unread_add("nonsense", "a"));
}
END_TEST

/* ---- push_json_messages, push_json_cursor */

START_TEST(messages_array)
{
    const struct row rows[] = {
        { { "11", "f", "chat", "one", "b1", "{}", NULL, "2024-01-01", "f", "11", "4" } },
        { { "12", "t", "news", "two", "b2", "{}", NULL, "2024-01-02", "f", "11", "12" } },
        { { "13", "f", "chat", "three", "b3", "{}", NULL, "2024-01-03", "t", "13", "12" } },
    };
    PGresult *res = messages(rows, N(rows));
    struct push_cursor pos = { 10, 4 };
    json_object *a = push_json_messages(res, tag, &pos), *back = reparse(a);
    static const int64_t cursors[][2] = { { 11, 4 }, { 11, 12 }, { 13, 12 } };

    ck_assert(json_object_is_type(back, json_type_array));
    ck_assert_uint_eq(json_object_array_length(back), 3);
    for (int i = 0; i < 3; i++) {
        json_object *m = json_object_array_get_idx(back, (size_t)i);

        assert_string(m, "id", rows[i].col[PUSH_COL_ID]);
        assert_string(m, "title", rows[i].col[PUSH_COL_TITLE]);
        assert_cursor(m, cursors[i][0], cursors[i][1]);
    }
    ck_assert_int_eq(pos.personal, 13);
    ck_assert_int_eq(pos.broadcast, 12);
    json_object_put(back);
    json_object_put(a);
    PQclear(res);
}
END_TEST

START_TEST(messages_empty_array_leaves_cursor)
{
    PGresult *res = messages(NULL, 0);
    struct push_cursor pos = { 3, 4 };
    json_object *a = push_json_messages(res, tag, &pos);
    size_t len = 0;

    ck_assert_str_eq(push_json_text(a, &len), "[]");
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(pos.personal, 3);
    ck_assert_int_eq(pos.broadcast, 4);
    json_object_put(a);
    PQclear(res);
}
END_TEST

START_TEST(cursor_json_is_text_form)
{
    struct push_cursor c = { 255, INT64_MAX };
    char text[PUSH_CURSOR_MAX], expect[PUSH_CURSOR_MAX + 2];
    json_object *o = push_json_cursor(&c, tag);
    size_t len = 0;

    push_cursor_format(&c, tag, text);
    ck_assert(json_object_is_type(o, json_type_string));
    ck_assert_str_eq(json_object_get_string(o), text);
    snprintf(expect, sizeof expect, "\"%s\"", text);
    ck_assert_str_eq(push_json_text(o, &len), expect);
    ck_assert_uint_eq(len, strlen(expect));
    json_object_put(o);
}
END_TEST

/* ---- push_json_answer: push-poll's, push-longpoll's and the current state's one shape */

/* three messages, limit 2: the third only says "more"; the cursor is past the second */
START_TEST(answer_limit_more_and_cursor)
{
    const struct row rows[] = {
        { { "11", "f", "chat", "one", "b1", "{}", NULL, "2024-01-01", "f", "11", "4" } },
        { { "12", "t", "news", "two", "b2", "{}", NULL, "2024-01-02", "f", "11", "12" } },
        { { "13", "f", "chat", "three", "b3", "{}", NULL, "2024-01-03", "t", "13", "12" } },
    };
    const char *const counts[][2] = { { "chat", "2" } };
    PGresult *res = messages(rows, N(rows)), *u = unread(counts, 1);
    json_object *o = push_json_answer("alice", tag, res, 2, (struct push_cursor){ 10, 4 }, NULL,
                                      push_json_unread(u), 1);
    json_object *back = reparse(o), *list = get(back, "messages");

    assert_string(back, "user", "alice");
    ck_assert_uint_eq(json_object_array_length(list), 2);
    assert_string(json_object_array_get_idx(list, 1), "id", "12");
    assert_cursor(back, 11, 12);
    ck_assert(json_object_get_boolean(get(back, "more")));
    ck_assert(json_object_get_boolean(get(back, "timeout")));
    ck_assert_int_eq(json_object_get_int(get(get(back, "unread"), "total")), 2);
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
    PQclear(u);
}
END_TEST

/* the newest list goes on from the head, not from its last message; timeout < 0 leaves it out */
START_TEST(answer_head_and_no_timeout)
{
    const struct row rows[] = {
        { { "11", "f", "chat", "one", "b1", "{}", NULL, "2024-01-01", "f", "11", "4" } },
    };
    PGresult *res = messages(rows, N(rows)), *u = unread(NULL, 0);
    struct push_cursor head = { 20, 30 };
    json_object *o = push_json_answer("alice", tag, res, 1, (struct push_cursor){ 0, 0 }, &head,
                                      push_json_unread(u), -1);
    json_object *back = reparse(o), *v = NULL;

    ck_assert_uint_eq(json_object_array_length(get(back, "messages")), 1);
    assert_cursor(back, 20, 30);
    ck_assert(!json_object_get_boolean(get(back, "more")));
    ck_assert(!json_object_object_get_ex(back, "timeout", &v));
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
    PQclear(u);
}
END_TEST

/* no result at all (a long poll that timed out): no messages, the cursor stays where it was */
START_TEST(answer_no_messages)
{
    PGresult *u = unread(NULL, 0);
    json_object *o = push_json_answer("alice", tag, NULL, 50, (struct push_cursor){ 7, 8 }, NULL,
                                      push_json_unread(u), 0);
    json_object *back = reparse(o);

    ck_assert_uint_eq(json_object_array_length(get(back, "messages")), 0);
    assert_cursor(back, 7, 8);
    ck_assert(!json_object_get_boolean(get(back, "more")));
    ck_assert(!json_object_get_boolean(get(back, "timeout")));
    json_object_put(back);
    json_object_put(o);
    PQclear(u);
}
END_TEST

/* a read's entries: a message, an edit and a retraction of messages the client had, then the head:
 * "messages" has the message, "changes" the two in order (the update with the message's own
 * cursor, the delete its id only), and with nothing left out the cursor is the head */
static const struct row entry_rows[] = {
    { { "11", "f", "chat", "one", "b1", "{}", NULL, "2024-01-01", "f", "11", "4", "message", "11", "4" } },
    { { "5", "f", "chat", "five, edited", "b5", "{}", NULL, "2024-01-01", "f", "5", "4", "update", "12", "0" } },
    { { "6", "t", "news", NULL, NULL, NULL, NULL, NULL, NULL, "0", NULL, "delete", "0", "13" } },
    { { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "14", "15", "head", "14", "15" } },
};

START_TEST(answer_changes_and_head)
{
    PGresult *res = messages(entry_rows, N(entry_rows)), *u = unread(NULL, 0);
    json_object *o = push_json_answer("alice", tag, res, 5, (struct push_cursor){ 10, 4 }, NULL,
                                      push_json_unread(u), -1);
    json_object *back = reparse(o), *changes = get(back, "changes"), *c;

    ck_assert_uint_eq(json_object_array_length(get(back, "messages")), 1);
    ck_assert_uint_eq(json_object_array_length(changes), 2);
    c = json_object_array_get_idx(changes, 0);
    assert_string(c, "event", "update");
    assert_string(get(c, "message"), "id", "5");
    assert_string(get(c, "message"), "title", "five, edited");
    assert_cursor(get(c, "message"), 5, 4); /* its own place, not the change's */
    c = json_object_array_get_idx(changes, 1);
    assert_string(c, "event", "delete");
    assert_string(get(c, "message"), "id", "6");
    ck_assert_int_eq(json_object_object_length(get(c, "message")), 1);
    assert_cursor(back, 14, 15);
    ck_assert(!json_object_get_boolean(get(back, "more")));
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
    PQclear(u);
}
END_TEST

/* the same read cut at 2 entries: "more", and the cursor after the second, not the head */
START_TEST(answer_changes_cut_keeps_the_cursor_before_the_head)
{
    PGresult *res = messages(entry_rows, N(entry_rows)), *u = unread(NULL, 0);
    json_object *o = push_json_answer("alice", tag, res, 2, (struct push_cursor){ 10, 4 }, NULL,
                                      push_json_unread(u), -1);
    json_object *back = reparse(o);

    ck_assert_uint_eq(json_object_array_length(get(back, "changes")), 1);
    assert_cursor(back, 12, 4);
    ck_assert(json_object_get_boolean(get(back, "more")));
    json_object_put(back);
    json_object_put(o);
    PQclear(res);
    PQclear(u);
}
END_TEST

/* counts of a filter's kinds only */
START_TEST(unread_of_some_kinds)
{
    const char *const counts[][2] = { { "chat", "2" }, { "news", "1" }, { "news.x", "4" } };
    PGresult *u = unread(counts, N(counts));
    json_object *o = push_json_unread_kinds(u, "news,zz"), *back = reparse(o);

    ck_assert_int_eq(json_object_get_int(get(back, "total")), 1);
    ck_assert_int_eq(json_object_object_length(get(back, "by_kind")), 1);
    ck_assert_int_eq(json_object_get_int(get(get(back, "by_kind"), "news")), 1);
    json_object_put(back);
    json_object_put(o);
    PQclear(u);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *counts = tcase_create("unread");
    TCase *message = tcase_create("message");
    TCase *list = tcase_create("messages");

    tcase_add_checked_fixture(counts, setup, NULL);
    tcase_add_test(counts, unread_totals_and_by_kind);
    tcase_add_test(counts, unread_empty);
    tcase_add_test(counts, unread_hostile_kind_names);
    suite_add_tcase(s, counts);

    tcase_add_checked_fixture(message, setup, NULL);
    tcase_add_test(message, message_fields);
    tcase_add_test(message, message_broadcast_unread_and_link);
    tcase_add_test(message, message_null_columns_are_json_null);
    tcase_add_loop_test(message, message_data_is_parsed_json, 0, N(data_values));
    tcase_add_test(message, message_too_deep_data_becomes_null);
    tcase_add_loop_test(message, message_moves_cursor_forward_only, 0, N(moves));
    tcase_add_loop_test(message, hostile_text_round_trips_exactly, 0, N(hostile));
    tcase_add_test(message, long_text_round_trips);
    tcase_add_loop_test(message, carried_text_is_a_reads_message, 0, N(hostile));
    tcase_add_test(message, carried_json_that_is_not_a_message_is_refused);
    tcase_add_test(message, unread_add_counts_one_more_in_kind_order);
    suite_add_tcase(s, message);

    tcase_add_checked_fixture(list, setup, NULL);
    tcase_add_test(list, messages_array);
    tcase_add_test(list, messages_empty_array_leaves_cursor);
    tcase_add_test(list, cursor_json_is_text_form);
    tcase_add_test(list, answer_limit_more_and_cursor);
    tcase_add_test(list, answer_head_and_no_timeout);
    tcase_add_test(list, answer_no_messages);
    tcase_add_test(list, answer_changes_and_head);
    tcase_add_test(list, answer_changes_cut_keeps_the_cursor_before_the_head);
    tcase_add_test(list, unread_of_some_kinds);
    suite_add_tcase(s, list);
    return s;
}

UNIT_MAIN(json_suite)
