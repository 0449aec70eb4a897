/* test_iframe.c: unit tests for lib/transport/push_iframe: callback names, script-safe JSON, nonces */
#include "config.h"

#include "unit.h"

#include "transport/push_iframe.h"

#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct out {
    char buf[16384];
    size_t len;
    int calls, fail_at; /* put fails on call number fail_at (0: never) */
};

static int put(void *ctx, const char *s, size_t n)
{
    struct out *o = ctx;

    o->calls++;
    if (o->fail_at && o->calls == o->fail_at)
        return -1;
    ck_assert_uint_le(o->len + n, sizeof o->buf - 1);
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
    return 0;
}

static const char *escape(const char *in, size_t len)
{
    static struct out o;

    memset(&o, 0, sizeof o);
    ck_assert_int_eq(push_iframe_escape(in, len, put, &o), 0);
    return o.buf;
}

/* ---- callback names */

static const char *const good_names[] = { "pgpush", "_", "$", "a1", "__pgpush_cb_17", "$jq_x",
    "A234567890123456789012345678901234567890123456789012345678901234" /* 64 */ };
static const char *const bad_names[] = { "", "1a", "a-b", "a.b", "a b", "alert(1)", "a;b",
    "a\nb", "é", "A2345678901234567890123456789012345678901234567890123456789012345" /* 65 */,
    "postMessage", "location", "close", "top", "parent", "opener", "self", "window", "frames",
    "focus", "blur", "length", "closed" };

START_TEST(good_callbacks_pass)
{
    struct push_iframe it;

    ck_assert_int_eq(push_iframe_callback_ok(good_names[_i]), 1);
    ck_assert_int_eq(push_iframe_init(&it, good_names[_i]), 0);
    ck_assert_str_eq(it.callback, good_names[_i]);
}
END_TEST

START_TEST(bad_callbacks_are_refused)
{
    struct push_iframe it;

    ck_assert_int_eq(push_iframe_callback_ok(bad_names[_i]), 0);
    ck_assert_int_eq(push_iframe_init(&it, bad_names[_i]), -1);
}
END_TEST

START_TEST(null_callback_is_refused)
{
    ck_assert_int_eq(push_iframe_callback_ok(NULL), 0);
}
END_TEST

START_TEST(nonce_is_32_hex_and_fresh)
{
    struct push_iframe a, b;

    ck_assert_int_eq(push_iframe_init(&a, "cb"), 0);
    ck_assert_int_eq(push_iframe_init(&b, "cb"), 0);
    ck_assert_uint_eq(strlen(a.nonce), 32);
    ck_assert_uint_eq(strspn(a.nonce, "0123456789abcdef"), 32);
    ck_assert_str_ne(a.nonce, b.nonce);
}
END_TEST

/* ---- escaping */

static const struct { const char *in, *out; } cases[] = {
    { "{\"t\":\"plain text\"}", "{\"t\":\"plain text\"}" },
    { "\"<\\/script><script>alert(1)<\\/script>\"",
      "\"\\u003c\\/script\\u003e\\u003cscript\\u003ealert(1)\\u003c\\/script\\u003e\"" },
    { "\"<!--<script>\"", "\"\\u003c!--\\u003cscript\\u003e\"" },
    { "\"a&amp;b\"", "\"a\\u0026amp;b\"" },
    { "\"-->\"", "\"--\\u003e\"" },
    { "\"\xe2\x80\xa8|\xe2\x80\xa9\"", "\"\\u2028|\\u2029\"" },
    { "\"\\\"quotes\\\" and \\\\ backslash\"", "\"\\\"quotes\\\" and \\\\ backslash\"" },
    /* valid UTF-8 passes untouched: 2, 3 and 4 bytes, and the neighbours of U+2028 */
    { "\"\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x94 \xe2\x80\xa7\xe2\x80\xaa\"",
      "\"\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x94 \xe2\x80\xa7\xe2\x80\xaa\"" },
    { "\"\xed\x9f\xbf \xee\x80\x80 \xf4\x8f\xbf\xbf\"", "\"\xed\x9f\xbf \xee\x80\x80 \xf4\x8f\xbf\xbf\"" },
    /* invalid UTF-8: each byte that starts no valid sequence becomes U+FFFD */
    { "\"\x80\"", "\"\\ufffd\"" },
    { "\"\xff\xfe\"", "\"\\ufffd\\ufffd\"" },
    { "\"\xc0\xaf\"", "\"\\ufffd\\ufffd\"" },              /* overlong '/' */
    { "\"\xe0\x80\xaf\"", "\"\\ufffd\\ufffd\\ufffd\"" },   /* overlong, 3 bytes */
    { "\"\xed\xa0\x80\"", "\"\\ufffd\\ufffd\\ufffd\"" },   /* a UTF-16 surrogate */
    { "\"\xf4\x90\x80\x80\"", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" }, /* past U+10FFFF */
    { "\"\xe6\x97\"", "\"\\ufffd\\ufffd\"" },              /* cut short before the quote */
    { "\"\xc3\"", "\"\\ufffd\"" },
    { "\"a\xc3", "\"a\\ufffd" },                           /* cut short at the very end */
};

START_TEST(escape_table)
{
    ck_assert_str_eq(escape(cases[_i].in, strlen(cases[_i].in)), cases[_i].out);
}
END_TEST

START_TEST(escape_never_leaves_markup_or_separators)
{
    char in[1024];
    const char *out;

    /* every byte value, many times, across the 256-byte chunk boundary */
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (char)(i * 7 % 256 ? i * 7 % 256 : 'x');
    out = escape(in, sizeof in);
    ck_assert_ptr_null(strchr(out, '<'));
    ck_assert_ptr_null(strchr(out, '>'));
    ck_assert_ptr_null(strchr(out, '&'));
    ck_assert_ptr_null(strstr(out, "\xe2\x80\xa8"));
    ck_assert_ptr_null(strstr(out, "\xe2\x80\xa9"));
}
END_TEST

START_TEST(escape_long_input_in_pieces)
{
    static char in[1500];
    const char *out;

    memset(in, '<', sizeof in);
    out = escape(in, sizeof in);
    ck_assert_uint_eq(strlen(out), 6 * sizeof in);
    for (size_t i = 0; i < sizeof in; i++)
        ck_assert_int_eq(memcmp(out + 6 * i, "\\u003c", 6), 0);
}
END_TEST

START_TEST(escape_stops_when_put_fails)
{
    static char in[2000];
    struct out o;

    memset(in, 'a', sizeof in);
    memset(&o, 0, sizeof o);
    o.fail_at = 2;
    ck_assert_int_eq(push_iframe_escape(in, sizeof in, put, &o), -1);
    ck_assert_int_eq(o.calls, 2);
}
END_TEST

START_TEST(escape_empty)
{
    struct out o;

    memset(&o, 0, sizeof o);
    ck_assert_int_eq(push_iframe_escape("", 0, put, &o), 0);
    ck_assert_int_eq(o.calls, 0);
}
END_TEST

static Suite *iframe_suite(void)
{
    Suite *s = suite_create("iframe");
    TCase *names = tcase_create("callback names");
    TCase *esc = tcase_create("escaping");

    tcase_add_loop_test(names, good_callbacks_pass, 0, N(good_names));
    tcase_add_loop_test(names, bad_callbacks_are_refused, 0, N(bad_names));
    tcase_add_test(names, null_callback_is_refused);
    tcase_add_test(names, nonce_is_32_hex_and_fresh);
    suite_add_tcase(s, names);

    tcase_add_loop_test(esc, escape_table, 0, N(cases));
    tcase_add_test(esc, escape_never_leaves_markup_or_separators);
    tcase_add_test(esc, escape_long_input_in_pieces);
    tcase_add_test(esc, escape_stops_when_put_fails);
    tcase_add_test(esc, escape_empty);
    suite_add_tcase(s, esc);
    return s;
}

UNIT_MAIN(iframe_suite)
