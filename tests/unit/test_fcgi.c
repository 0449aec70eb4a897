/* test_fcgi.c: unit tests for lib/http/push_fcgi: the records the event loop writes itself */
#include "config.h"

#include "unit.h"

#include "http/push_fcgi.h"

#include <stdlib.h>
#include <string.h>

struct sink {
    unsigned char *data;
    size_t len, cap;
    int fail_after; /* put fails from this call on (-1: never) */
    int calls;
};

static int put(void *ctx, const void *bytes, size_t n)
{
    struct sink *k = ctx;

    if (k->fail_after >= 0 && k->calls++ >= k->fail_after)
        return -1;
    if (k->len + n > k->cap) {
        k->cap = (k->len + n) * 2;
        k->data = realloc(k->data, k->cap);
        ck_assert_ptr_nonnull(k->data);
    }
    memcpy(k->data + k->len, bytes, n);
    k->len += n;
    return 0;
}

/* Reads the records back as a web server would: every header well-formed, for request id, of
 * the expected types; the stdout content is concatenated into *out. Returns the records read,
 * and sets *ended when the last two are an empty stdout and a complete end-request. */
static int parse(const struct sink *k, int id, unsigned char **out, size_t *out_len, int *ended)
{
    size_t at = 0;
    int n = 0, empty_stdout = 0;

    *out = malloc(k->len + 1);
    *out_len = 0;
    *ended = 0;
    while (at < k->len) {
        const unsigned char *h = k->data + at;
        size_t len;

        ck_assert_uint_ge(k->len - at, PUSH_FCGI_HEADER_LEN);
        len = (size_t)h[4] << 8 | h[5];
        ck_assert_int_eq(h[0], 1);
        ck_assert_int_eq(h[2] << 8 | h[3], id);
        ck_assert_int_eq(h[6], 0);
        ck_assert_uint_le(at + PUSH_FCGI_HEADER_LEN + len, k->len);
        ck_assert_msg(!*ended, "a record after the end of the request");
        if (h[1] == PUSH_FCGI_STDOUT) {
            ck_assert_msg(!empty_stdout, "stdout after its empty end record");
            empty_stdout = len == 0;
            memcpy(*out + *out_len, h + PUSH_FCGI_HEADER_LEN, len);
            *out_len += len;
        } else {
            ck_assert_int_eq(h[1], PUSH_FCGI_END_REQUEST);
            ck_assert_uint_eq(len, 8);
            ck_assert_msg(empty_stdout, "end-request before the empty stdout record");
            for (int i = 0; i < 8; i++)
                ck_assert_int_eq(h[PUSH_FCGI_HEADER_LEN + i], 0);
            *ended = 1;
        }
        at += PUSH_FCGI_HEADER_LEN + len;
        n++;
    }
    return n;
}

START_TEST(header_bytes)
{
    unsigned char h[PUSH_FCGI_HEADER_LEN];
    static const unsigned char expect[PUSH_FCGI_HEADER_LEN] = { 1, 6, 0x12, 0x34, 0xff, 0xff, 0, 0 };

    push_fcgi_header(h, PUSH_FCGI_STDOUT, 0x1234, 65535);
    ck_assert_mem_eq(h, expect, sizeof h);
}
END_TEST

/* any length: split in records of at most 65535 bytes, the content comes back whole */
START_TEST(stdout_round_trip)
{
    static const size_t lens[] = { 1, 100, 65534, 65535, 65536, 131070, 131071, 200000 };
    size_t len = lens[_i];
    char *data = malloc(len);
    struct sink k = { NULL, 0, 0, -1, 0 };
    unsigned char *back;
    size_t back_len;
    int ended, records;

    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 7 + 3);
    ck_assert_int_eq(push_fcgi_stdout(513, data, len, put, &k), 0);
    records = parse(&k, 513, &back, &back_len, &ended);
    ck_assert_int_eq(records, (int)((len + PUSH_FCGI_CONTENT_MAX - 1) / PUSH_FCGI_CONTENT_MAX));
    ck_assert_uint_eq(back_len, len);
    ck_assert_mem_eq(back, data, len);
    ck_assert(!ended);
    free(back);
    free(data);
    free(k.data);
}
END_TEST

/* the end: exactly an empty stdout record, then end-request (status 0, complete) */
START_TEST(end_request)
{
    struct sink k = { NULL, 0, 0, -1, 0 };
    unsigned char *back;
    size_t back_len;
    int ended;

    ck_assert_int_eq(push_fcgi_stdout(7, "hello", 5, put, &k), 0);
    ck_assert_int_eq(push_fcgi_end(7, put, &k), 0);
    ck_assert_int_eq(parse(&k, 7, &back, &back_len, &ended), 3);
    ck_assert(ended);
    ck_assert_uint_eq(back_len, 5);
    ck_assert_uint_eq(k.len, 3 * PUSH_FCGI_HEADER_LEN + 5 + 8);
    free(back);
    free(k.data);
}
END_TEST

/* a put that fails stops the writing: -1, and nothing more is put */
START_TEST(put_failure_stops)
{
    char data[70000] = { 0 };

    for (int fail = 0; fail < 4; fail++) { /* four puts: two records of header and content */
        struct sink k = { NULL, 0, 0, fail, 0 };

        ck_assert_int_eq(push_fcgi_stdout(1, data, sizeof data, put, &k), -1);
        ck_assert_int_eq(k.calls, fail + 1);
        free(k.data);
    }
    for (int fail = 0; fail < 3; fail++) { /* three puts: two headers, the end's body */
        struct sink k = { NULL, 0, 0, fail, 0 };

        ck_assert_int_eq(push_fcgi_end(1, put, &k), -1);
        ck_assert_int_eq(k.calls, fail + 1);
        free(k.data);
    }
}
END_TEST

static Suite *fcgi_suite(void)
{
    Suite *s = suite_create("fcgi");
    TCase *t = tcase_create("records");

    tcase_add_test(t, header_bytes);
    tcase_add_loop_test(t, stdout_round_trip, 0, 8);
    tcase_add_test(t, end_request);
    tcase_add_test(t, put_failure_stops);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(fcgi_suite)
