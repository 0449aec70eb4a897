/* test_emit.c: unit tests for lib/transport/push_emit, through a fake encoder that records every
 * call and a fake request whose answer is written into memory */
#include "config.h"

#include "unit.h"

#include "transport/push_emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "transport/push_json.h"
#include "transport/push_sse.h"

#include "fakereq.h"
#include "pgresult.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_CALLS 256

/* ---- the encoder: records each call, and writes a line of it to the request */

enum call_kind { CALL_MESSAGE = 'm', CALL_UNREAD = 'u', CALL_HEARTBEAT = 'h', CALL_END = 'e',
                 CALL_UPDATE = 'U', CALL_DELETE = 'D' };

struct call {
    enum call_kind kind;
    char cursor[PUSH_CURSOR_MAX];
    char *json; /* NULL for heartbeat and end */
};

struct recorder {
    struct call calls[MAX_CALLS];
    int n;
    int fail_call; /* the call (0-based) that returns -1 without writing; -1: none */
};

static int record(struct push_request *r, struct recorder *rec, enum call_kind kind,
                  const char *cursor, const char *json, size_t len)
{
    struct call *c;
    char line[PUSH_CURSOR_MAX + 4];

    ck_assert_int_lt(rec->n, MAX_CALLS);
    if (rec->n == rec->fail_call) {
        rec->n++;
        return -1;
    }
    c = &rec->calls[rec->n++];
    c->kind = kind;
    snprintf(c->cursor, sizeof c->cursor, "%s", cursor ? cursor : "");
    c->json = json ? strndup(json, len) : NULL;
    if (json)
        ck_assert_uint_eq(strlen(c->json), len);
    snprintf(line, sizeof line, "%c %s ", (char)kind, c->cursor);
    if (push_request_write(r, line, strlen(line)) < 0
        || (json && push_request_write(r, json, len) < 0) || push_request_write(r, "\n", 1) < 0)
        return -1;
    return 0;
}

static int fake_message(struct push_request *r, const char *cursor, const char *json, size_t len,
                        void *arg)
{
    return record(r, arg, CALL_MESSAGE, cursor, json, len);
}

static int fake_change(struct push_request *r, const char *event, const char *cursor,
                       const char *json, size_t len, void *arg)
{
    ck_assert(strcmp(event, "update") == 0 || strcmp(event, "delete") == 0);
    return record(r, arg, event[0] == 'u' ? CALL_UPDATE : CALL_DELETE, cursor, json, len);
}

static int fake_unread(struct push_request *r, const char *cursor, const char *json, size_t len,
                       void *arg)
{
    return record(r, arg, CALL_UNREAD, cursor, json, len);
}

static int fake_heartbeat(struct push_request *r, void *arg)
{
    return record(r, arg, CALL_HEARTBEAT, NULL, NULL, 0);
}

static int fake_end(struct push_request *r, const char *reason, int retry_ms, void *arg)
{
    (void)reason, (void)retry_ms;
    return record(r, arg, CALL_END, NULL, NULL, 0);
}

static const struct push_encoder fake_encoder = {
    .headers = "Content-Type: text/x-fake\r\n",
    .message = fake_message,
    .change = fake_change,
    .unread = fake_unread,
    .heartbeat = fake_heartbeat,
    .end = fake_end,
};

/* ---- one stream, fresh for each test */

static char tag[PUSH_CURSOR_TAG_LEN + 1];
static struct fake io;
static struct recorder rec;
static struct push_request req;
static struct push_emitter em;

static void setup(void)
{
    push_cursor_tag("alice", tag);
    memset(&rec, 0, sizeof rec);
    rec.fail_call = -1;
    fake_request(&io, &req);
    em = (struct push_emitter){ .r = &req, .enc = &fake_encoder, .arg = &rec, .tag = tag,
                                .pos = { 0, 0 } };
}

static void teardown(void)
{
    for (int i = 0; i < rec.n && i < MAX_CALLS; i++)
        free(rec.calls[i].json);
    free(em.sent_unread);
}

/* The rows of messages first + 1 ... first + n, alternately personal and broadcast, as a read
 * after the personal and broadcast positions p and b gives them. */
static PGresult *rows_from(int first, int n, int64_t p, int64_t b)
{
    struct row *rows = calloc((size_t)n + 1, sizeof *rows);
    static char text[4][MAX_CALLS][24]; /* id, pos_p, pos_b, title */
    PGresult *res;

    ck_assert_int_le(first + n, MAX_CALLS);
    for (int i = 0; i < n; i++) {
        int id = first + i + 1;
        if (id % 3 == 0)
            b = id; /* a broadcast */
        else
            p = id;
        snprintf(text[0][id], sizeof text[0][id], "%d", id);
        snprintf(text[1][id], sizeof text[1][id], "%lld", (long long)p);
        snprintf(text[2][id], sizeof text[2][id], "%lld", (long long)b);
        snprintf(text[3][id], sizeof text[3][id], "title %d", id);
        rows[i] = message_row(text[0][id], text[3][id], "body", text[1][id], text[2][id]);
        rows[i].col[PUSH_COL_BROADCAST] = id % 3 == 0 ? "t" : "f";
    }
    res = messages(rows, n);
    free(rows);
    return res;
}

static PGresult *counts(const char *chat)
{
    const char *const rows[][2] = { { "chat", chat }, { "alert", "1" } };

    return unread(rows, N(rows));
}

static json_object *parse(const char *text)
{
    json_object *o = json_tokener_parse(text);

    ck_assert_msg(o != NULL, "not JSON: %s", text);
    return o;
}

static const char *member(json_object *o, const char *key)
{
    json_object *v = NULL;

    ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key \"%s\"", key);
    return json_object_get_string(v);
}

/* The id of the message of call i, checking that its JSON carries the cursor it was sent with. */
static int message_id(int i)
{
    json_object *o;
    int id;

    ck_assert_int_lt(i, rec.n);
    ck_assert_int_eq(rec.calls[i].kind, CALL_MESSAGE);
    o = parse(rec.calls[i].json);
    ck_assert_str_eq(member(o, "cursor"), rec.calls[i].cursor);
    id = atoi(member(o, "id"));
    json_object_put(o);
    return id;
}

/* Is c the text of the cursor at personal p, broadcast b? */
static void assert_cursor(const char *c, int64_t p, int64_t b)
{
    struct push_cursor pos = { p, b };
    char text[PUSH_CURSOR_MAX];

    push_cursor_format(&pos, tag, text);
    ck_assert_str_eq(c, text);
}

static int count_kind(enum call_kind kind)
{
    int n = 0;

    for (int i = 0; i < rec.n; i++)
        n += rec.calls[i].kind == kind;
    return n;
}

/* ---- push_emit */

/* an edit and a retraction among messages, then the head: each through its own encoder function,
 * in order, with the position after it; the update's message keeps its own cursor; with nothing
 * left out the position ends at the head, which the counts' cursor shows */
START_TEST(changes_in_order_then_the_head)
{
    const struct row rows[] = {
        { { "11", "f", "chat", "one", "b1", "{}", NULL, "2024-01-01", "f", "11", "4", "message", "11", "4" } },
        { { "5", "f", "chat", "five", "b5", "{}", NULL, "2024-01-01", "f", "5", "4", "update", "12", "0" } },
        { { "6", "t", "chat", NULL, NULL, NULL, NULL, NULL, NULL, "0", NULL, "delete", "0", "13" } },
        { { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "20", "21", "head", "20", "21" } },
    };
    PGresult *msgs = messages(rows, N(rows)), *u = counts("3");
    int more = -1;

    em.pos = (struct push_cursor){ 10, 4 };
    ck_assert_int_eq(push_emit(&em, msgs, u, &more), 3);
    ck_assert_int_eq(more, 0);
    ck_assert_int_eq(rec.calls[0].kind, CALL_MESSAGE);
    assert_cursor(rec.calls[0].cursor, 11, 4);
    ck_assert_int_eq(rec.calls[1].kind, CALL_UPDATE);
    assert_cursor(rec.calls[1].cursor, 12, 4);
    json_object *m = parse(rec.calls[1].json), *v;
    ck_assert(json_object_object_get_ex(m, "cursor", &v));
    assert_cursor(json_object_get_string(v), 5, 4);
    json_object_put(m);
    ck_assert_int_eq(rec.calls[2].kind, CALL_DELETE);
    assert_cursor(rec.calls[2].cursor, 12, 13);
    ck_assert_str_eq(rec.calls[2].json, "{\"id\":\"6\"}");
    ck_assert_int_eq(rec.calls[3].kind, CALL_UNREAD);
    assert_cursor(rec.calls[3].cursor, 20, 21);
    ck_assert_int_eq(em.pos.personal, 20);
    ck_assert_int_eq(em.pos.broadcast, 21);
    PQclear(msgs);
    PQclear(u);
}
END_TEST

START_TEST(messages_in_order_each_with_the_cursor_after_it)
{
    PGresult *msgs = rows_from(0, 7, 0, 0), *u = counts("3");
    int more = -1;
    int64_t p = 0, b = 0;

    ck_assert_int_eq(push_emit(&em, msgs, u, &more), 7);
    ck_assert_int_eq(more, 0);
    ck_assert_int_eq(rec.n, 8);
    for (int i = 0; i < 7; i++) {
        int id = i + 1;
        if (id % 3 == 0)
            b = id;
        else
            p = id;
        ck_assert_int_eq(message_id(i), id);
        assert_cursor(rec.calls[i].cursor, p, b);
    }
    ck_assert_int_eq(em.pos.personal, 7);
    ck_assert_int_eq(em.pos.broadcast, 6);
    /* the counts come after the messages, at the position past the last */
    ck_assert_int_eq(rec.calls[7].kind, CALL_UNREAD);
    assert_cursor(rec.calls[7].cursor, 7, 6);
    ck_assert_int_ge(io.flushes, 1);
    ck_assert_int_eq(count_kind(CALL_HEARTBEAT) + count_kind(CALL_END), 0);
    PQclear(msgs);
    PQclear(u);
}
END_TEST

START_TEST(what_the_encoder_writes_reaches_the_request_in_order)
{
    PGresult *msgs = rows_from(0, 3, 0, 0), *u = counts("0");
    int more;
    char expect[4096];
    size_t len = 0;

    ck_assert_int_eq(push_emit(&em, msgs, u, &more), 3);
    for (int i = 0; i < rec.n; i++)
        len += (size_t)snprintf(expect + len, sizeof expect - len, "%c %s %s\n",
                                (char)rec.calls[i].kind, rec.calls[i].cursor, rec.calls[i].json);
    ck_assert_uint_eq(io.out_len, len);
    ck_assert(memcmp(io.out, expect, len) == 0);
    PQclear(msgs);
    PQclear(u);
}
END_TEST

START_TEST(unread_json_is_the_counts)
{
    PGresult *msgs = rows_from(0, 0, 0, 0), *u = counts("41");
    int more;
    json_object *o, *by_kind = NULL;

    ck_assert_int_eq(push_emit(&em, msgs, u, &more), 0);
    ck_assert_int_eq(rec.n, 1);
    ck_assert_int_eq(rec.calls[0].kind, CALL_UNREAD);
    assert_cursor(rec.calls[0].cursor, 0, 0);
    o = parse(rec.calls[0].json);
    ck_assert_str_eq(member(o, "total"), "42");
    ck_assert(json_object_object_get_ex(o, "by_kind", &by_kind));
    ck_assert_str_eq(member(by_kind, "chat"), "41");
    json_object_put(o);
    PQclear(msgs);
    PQclear(u);
}
END_TEST

/* n rows: how many are written, and whether more says there was one more */
static const struct {
    int rows, written, more;
} batches[] = {
    { 0, 0, 0 },
    { 1, 1, 0 },
    { PUSH_STREAM_BATCH - 1, PUSH_STREAM_BATCH - 1, 0 },
    { PUSH_STREAM_BATCH, PUSH_STREAM_BATCH, 0 },
    { PUSH_STREAM_BATCH + 1, PUSH_STREAM_BATCH, 1 },
};

START_TEST(at_most_one_batch_and_more_says_one_was_left)
{
    PGresult *msgs = rows_from(0, batches[_i].rows, 0, 0), *u = counts("1");
    int more = -1;

    ck_assert_int_eq(push_emit(&em, msgs, u, &more), batches[_i].written);
    ck_assert_int_eq(more, batches[_i].more);
    ck_assert_int_eq(count_kind(CALL_MESSAGE), batches[_i].written);
    for (int i = 0; i < batches[_i].written; i++)
        ck_assert_int_eq(message_id(i), i + 1);
    if (batches[_i].written > 0) { /* the position is past the last written, not the one left */
        int last = batches[_i].written;
        ck_assert_int_eq(em.pos.personal, last % 3 == 0 ? last - 1 : last);
        ck_assert_int_eq(em.pos.broadcast, last / 3 * 3);
    }
    PQclear(msgs);
    PQclear(u);
}
END_TEST

/* A reader that reads after the emitter's position, as the stream does, a batch and one more at
 * a time: every message is written once, in order, and the counts once as they do not change. */
START_TEST(no_message_written_twice_across_calls)
{
    const int total = 3 * PUSH_STREAM_BATCH + 5;
    PGresult *u = counts("2");
    int more = 1, calls = 0, written = 0;

    while (more) {
        int start = (int)(em.pos.personal > em.pos.broadcast ? em.pos.personal
                                                             : em.pos.broadcast);
        int left = total - start;
        PGresult *msgs = rows_from(start, left > PUSH_STREAM_BATCH ? PUSH_STREAM_BATCH + 1 : left,
                                   em.pos.personal, em.pos.broadcast);
        int n = push_emit(&em, msgs, u, &more);
        ck_assert_int_ge(n, 0);
        written += n;
        PQclear(msgs);
        ck_assert_int_lt(++calls, 10);
    }
    ck_assert_int_eq(written, total);
    ck_assert_int_eq(count_kind(CALL_MESSAGE), total);
    ck_assert_int_eq(count_kind(CALL_UNREAD), 1);
    for (int i = 0, id = 1; i < rec.n; i++)
        if (rec.calls[i].kind == CALL_MESSAGE)
            ck_assert_int_eq(message_id(i), id++);
    ck_assert_int_eq(calls, 4);
    PQclear(u);
}
END_TEST

START_TEST(counts_sent_first_then_only_when_changed)
{
    static const char *const seq[] = { "5", "5", "6", "6", "5", "5" };
    static const int sent[] = { 1, 0, 1, 0, 1, 0 };
    PGresult *none = rows_from(0, 0, 0, 0);
    int more;

    for (int i = 0; i < N(seq); i++) {
        PGresult *u = counts(seq[i]);
        int before = rec.n;
        json_object *o;
        ck_assert_int_eq(push_emit(&em, none, u, &more), 0);
        ck_assert_int_eq(rec.n - before, sent[i]);
        ck_assert_ptr_nonnull(em.sent_unread);
        o = parse(em.sent_unread); /* what was last sent: these counts */
        ck_assert_int_eq(atoi(member(o, "total")), atoi(seq[i]) + 1);
        json_object_put(o);
        if (sent[i])
            ck_assert_str_eq(rec.calls[before].json, em.sent_unread);
        PQclear(u);
    }
    PQclear(none);
}
END_TEST

START_TEST(counts_with_messages_sent_once_per_change)
{
    PGresult *u = counts("1"), *first = rows_from(0, 2, 0, 0), *second, *third;
    int more;

    ck_assert_int_eq(push_emit(&em, first, u, &more), 2);
    second = rows_from(2, 2, em.pos.personal, em.pos.broadcast);
    ck_assert_int_eq(push_emit(&em, second, u, &more), 2);
    ck_assert_int_eq(count_kind(CALL_UNREAD), 1);
    PQclear(u);
    u = counts("0");
    third = rows_from(4, 1, em.pos.personal, em.pos.broadcast);
    ck_assert_int_eq(push_emit(&em, third, u, &more), 1);
    ck_assert_int_eq(count_kind(CALL_UNREAD), 2);
    ck_assert_int_eq(rec.calls[rec.n - 1].kind, CALL_UNREAD);
    assert_cursor(rec.calls[rec.n - 1].cursor, em.pos.personal, em.pos.broadcast);
    ck_assert_int_eq(count_kind(CALL_MESSAGE), 5);
    PQclear(u);
    PQclear(first);
    PQclear(second);
    PQclear(third);
}
END_TEST

/* The write (0-based) that fails, or the encoder call that does: push_emit gives -1. */
START_TEST(a_failed_write_anywhere_gives_minus_one)
{
    PGresult *msgs = rows_from(0, 4, 0, 0), *u = counts("2");
    int more;

    io.fail_write = _i; /* 3 writes a call: 4 messages and the counts */
    ck_assert_int_eq(push_emit(&em, msgs, u, &more), -1);
    PQclear(msgs);
    PQclear(u);
}
END_TEST

START_TEST(an_encoder_failure_anywhere_gives_minus_one)
{
    PGresult *msgs = rows_from(0, 4, 0, 0), *u = counts("2");
    int more;

    rec.fail_call = _i; /* 4 messages, then the counts */
    ck_assert_int_eq(push_emit(&em, msgs, u, &more), -1);
    ck_assert_int_eq(rec.n, _i + 1); /* nothing written after the failure */
    PQclear(msgs);
    PQclear(u);
}
END_TEST

START_TEST(a_failed_flush_gives_minus_one)
{
    PGresult *msgs = rows_from(0, 2, 0, 0), *u = counts("2");
    int more;

    io.fail_flush = 1;
    ck_assert_int_eq(push_emit(&em, msgs, u, &more), -1);
    PQclear(msgs);
    PQclear(u);
}
END_TEST

/* ---- push_emit_longpoll */

/* The answer's status line and JSON body, from what the fake request received. */
static json_object *answer(int *status)
{
    const char *body;

    io.out[io.out_len] = '\0';
    ck_assert_int_eq(sscanf(io.out, "Status: %d", status), 1);
    ck_assert_ptr_nonnull(strstr(io.out, "Content-Type: application/json"));
    ck_assert_ptr_nonnull(strstr(io.out, "Cache-Control: no-store\r\n"));
    body = strstr(io.out, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    return parse(body + 4);
}

START_TEST(longpoll_answer_shape)
{
    PGresult *msgs = rows_from(0, 4, 0, 0), *u = counts("3");
    struct push_cursor from = { 0, 0 };
    int status = 0;
    json_object *o, *list = NULL, *v = NULL;

    push_emit_longpoll(&req, "alice", tag, from, msgs, push_json_unread(u), 3, 0);
    o = answer(&status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(member(o, "user"), "alice");
    ck_assert(json_object_object_get_ex(o, "messages", &list));
    ck_assert_uint_eq(json_object_array_length(list), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(atoi(member(json_object_array_get_idx(list, i), "id")), i + 1);
    assert_cursor(member(o, "cursor"), 2, 3); /* past the third message */
    ck_assert_str_eq(member(o, "more"), "true");
    ck_assert_str_eq(member(o, "timeout"), "false");
    ck_assert(json_object_object_get_ex(o, "unread", &v));
    ck_assert_str_eq(member(v, "total"), "4");
    ck_assert_int_eq(rec.n, 0); /* an answer, not a stream: no encoder */
    json_object_put(o);
    PQclear(msgs);
    PQclear(u);
}
END_TEST

START_TEST(longpoll_timeout_answer)
{
    PGresult *u = counts("0");
    struct push_cursor from = { 9, 4 };
    int status = 0;
    json_object *o, *list = NULL;

    push_emit_longpoll(&req, "alice", tag, from, NULL, push_json_unread(u), 10, 1);
    o = answer(&status);
    ck_assert_int_eq(status, 200);
    ck_assert(json_object_object_get_ex(o, "messages", &list));
    ck_assert_uint_eq(json_object_array_length(list), 0);
    assert_cursor(member(o, "cursor"), 9, 4); /* where the poll was */
    ck_assert_str_eq(member(o, "more"), "false");
    ck_assert_str_eq(member(o, "timeout"), "true");
    json_object_put(o);
    PQclear(u);
}
END_TEST

/* push-poll's answer goes through push_poll_encoder: its own caching headers, not no-store */
START_TEST(poll_answer_carries_the_callers_headers)
{
    PGresult *u = counts("2");
    struct push_cursor from = { 0, 0 };
    const char *body;
    json_object *o;

    ck_assert_int_eq(push_emit_answer(&req, &push_poll_encoder,
                                      "ETag: \"abc\"\r\nCache-Control: private, no-cache\r\n",
                                      push_json_answer("alice", tag, NULL, 10, from, NULL,
                                                       push_json_unread(u), -1)), 0);
    io.out[io.out_len] = '\0';
    ck_assert_ptr_nonnull(strstr(io.out, "Status: 200"));
    ck_assert_ptr_nonnull(strstr(io.out, "ETag: \"abc\"\r\n"));
    ck_assert_ptr_nonnull(strstr(io.out, "Cache-Control: private, no-cache\r\n"));
    ck_assert_ptr_null(strstr(io.out, "no-store"));
    body = strstr(io.out, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    o = parse(body + 4);
    ck_assert_str_eq(member(o, "user"), "alice");
    ck_assert_ptr_null(json_object_object_get(o, "timeout")); /* a short poll has none */
    json_object_put(o);
    PQclear(u);
}
END_TEST

/* ---- push_emit_refuse */

/* The retry of a refusal to SSE: "retry: N" of the answer written to the fake request. */
static int refusal_retry(struct push_refusal f)
{
    static struct push_config cfg = { .retry_ms = 3000 };
    const char *retry;

    io.out_len = 0;
    ck_assert_int_eq(push_emit_refuse(&req, &cfg, &push_sse_encoder, NULL, f), 0);
    io.out[io.out_len] = '\0';
    ck_assert_ptr_nonnull(strstr(io.out, "Status: 200 OK\r\n"));
    retry = strstr(io.out, "\nretry: ");
    ck_assert_ptr_nonnull(retry);
    return atoi(retry + 8);
}

/* a crowd refused together must not come back together: the retries are spread */
START_TEST(refusals_to_sse_retry_after_retry_after_plus_jitter)
{
    struct push_refusal f = { 503, "database_unavailable", "down", "Retry-After: 5\r\n" };
    struct push_refusal none = { 429, "too_many_user_streams", "full", NULL };
    int seen[16], distinct = 0;

    for (int i = 0; i < 16; i++) {
        int r = refusal_retry(f), j;
        ck_assert_int_ge(r, 5000);
        ck_assert_int_le(r, 7500);
        for (j = 0; j < distinct && seen[j] != r; j++)
            ;
        if (j == distinct)
            seen[distinct++] = r;
    }
    ck_assert_int_ge(distinct, 8); /* 16 draws of up to 2,500 values */
    ck_assert_int_ge(refusal_retry(none), 3000); /* no Retry-After: the configured retry */
    ck_assert_int_le(refusal_retry(none), 4500);
}
END_TEST

START_TEST(a_refusal_that_is_not_temporary_keeps_its_status)
{
    static struct push_config cfg = { .retry_ms = 3000 };
    struct push_refusal f = { 400, "cursor_future", "ahead", NULL };

    ck_assert_int_eq(push_emit_refuse(&req, &cfg, &push_sse_encoder, NULL, f), 0);
    io.out[io.out_len] = '\0';
    ck_assert_ptr_nonnull(strstr(io.out, "Status: 400"));
    ck_assert_ptr_null(strstr(io.out, "event: error"));
}
END_TEST

static Suite *emit_suite(void)
{
    Suite *s = suite_create("emit");
    TCase *stream = tcase_create("stream");
    TCase *fail = tcase_create("failure");
    TCase *longpoll = tcase_create("longpoll");

    tcase_add_checked_fixture(stream, setup, teardown);
    tcase_add_test(stream, messages_in_order_each_with_the_cursor_after_it);
    tcase_add_test(stream, changes_in_order_then_the_head);
    tcase_add_test(stream, what_the_encoder_writes_reaches_the_request_in_order);
    tcase_add_test(stream, unread_json_is_the_counts);
    tcase_add_loop_test(stream, at_most_one_batch_and_more_says_one_was_left, 0, N(batches));
    tcase_add_test(stream, no_message_written_twice_across_calls);
    tcase_add_test(stream, counts_sent_first_then_only_when_changed);
    tcase_add_test(stream, counts_with_messages_sent_once_per_change);
    suite_add_tcase(s, stream);

    tcase_add_checked_fixture(fail, setup, teardown);
    tcase_add_loop_test(fail, a_failed_write_anywhere_gives_minus_one, 0, 5 * 3);
    tcase_add_loop_test(fail, an_encoder_failure_anywhere_gives_minus_one, 0, 5);
    tcase_add_test(fail, a_failed_flush_gives_minus_one);
    suite_add_tcase(s, fail);

    tcase_add_checked_fixture(longpoll, setup, teardown);
    tcase_add_test(longpoll, longpoll_answer_shape);
    tcase_add_test(longpoll, longpoll_timeout_answer);
    tcase_add_test(longpoll, poll_answer_carries_the_callers_headers);
    tcase_add_test(longpoll, refusals_to_sse_retry_after_retry_after_plus_jitter);
    tcase_add_test(longpoll, a_refusal_that_is_not_temporary_keeps_its_status);
    suite_add_tcase(s, longpoll);
    return s;
}

UNIT_MAIN(emit_suite)
