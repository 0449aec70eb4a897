/* test_http.c: unit tests for lib/http/push_http: answers, JSON errors, request bodies, header matching */
#include "config.h"

#include "unit.h"

#include "http/push_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fakereq.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct fake f;
static struct push_request req;

static void setup(void)
{
    fake_request(&f, &req);
}

/* the answer so far, NUL-terminated */
static const char *out(void)
{
    ck_assert_uint_lt(f.out_len, sizeof f.out);
    f.out[f.out_len] = '\0';
    return f.out;
}

static void assert_out(const char *expect, size_t len)
{
    ck_assert_uint_eq(f.out_len, len);
    ck_assert_msg(memcmp(f.out, expect, len) == 0, "got:\n%s\nexpected:\n%s", out(), expect);
}

#define ASSERT_OUT(lit) assert_out(lit, sizeof(lit) - 1)

/* ---- push_http_respond */

START_TEST(respond_exact_bytes)
{
    ck_assert_int_eq(push_http_respond(&req, 200, NULL, "application/json", "{\"a\":1}", 7), 0);
    ASSERT_OUT("Status: 200 OK\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: 7\r\n"
               "\r\n"
               "{\"a\":1}");
    ck_assert_int_eq(f.flushes, 1);
}
END_TEST

START_TEST(respond_with_extra_headers)
{
    ck_assert_int_eq(push_http_respond(&req, 404, "ETag: \"1\"\r\nCache-Control: no-cache\r\n",
                                       "text/plain", "gone\n", 5),
                     0);
    ASSERT_OUT("Status: 404 Not Found\r\n"
               "Content-Type: text/plain\r\n"
               "Content-Length: 5\r\n"
               "ETag: \"1\"\r\n"
               "Cache-Control: no-cache\r\n"
               "\r\n"
               "gone\n");
}
END_TEST

START_TEST(respond_length_counts_bytes_not_string)
{
    /* len, not strlen: a NUL inside the body is sent, and only len bytes are */
    ck_assert_int_eq(push_http_respond(&req, 200, NULL, "application/octet-stream",
                                       "a\0bIGNORED", 3),
                     0);
    ASSERT_OUT("Status: 200 OK\r\n"
               "Content-Type: application/octet-stream\r\n"
               "Content-Length: 3\r\n"
               "\r\n"
               "a\0b");
}
END_TEST

START_TEST(respond_empty_body)
{
    ck_assert_int_eq(push_http_respond(&req, 200, NULL, "application/json", "", 0), 0);
    ASSERT_OUT("Status: 200 OK\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: 0\r\n"
               "\r\n");
}
END_TEST

START_TEST(respond_304_has_no_body_headers)
{
    ck_assert_int_eq(push_http_respond(&req, 304, "ETag: \"abc\"\r\n", NULL, NULL, 0), 0);
    ASSERT_OUT("Status: 304 Not Modified\r\n"
               "ETag: \"abc\"\r\n"
               "\r\n");
    ck_assert_ptr_null(strstr(out(), "Content-"));
    ck_assert_int_eq(f.flushes, 1);
}
END_TEST

START_TEST(respond_without_body_or_headers)
{
    ck_assert_int_eq(push_http_respond(&req, 204, NULL, NULL, NULL, 0), 0);
    ASSERT_OUT("Status: 204 No Content\r\n\r\n");
}
END_TEST

START_TEST(respond_large_body)
{
    static char body[10000];

    memset(body, 'x', sizeof body);
    ck_assert_int_eq(push_http_respond(&req, 200, NULL, "text/plain", body, sizeof body), 0);
    ck_assert_ptr_nonnull(strstr(out(), "Content-Length: 10000\r\n"));
    ck_assert_uint_eq(f.out_len, strlen("Status: 200 OK\r\nContent-Type: text/plain\r\n"
                                        "Content-Length: 10000\r\n\r\n") + sizeof body);
}
END_TEST

START_TEST(respond_write_failure_propagates)
{
    /* whichever write fails first, the answer fails */
    for (int k = 0; k < 4; k++) {
        setup();
        f.fail_write = k;
        ck_assert_msg(push_http_respond(&req, 200, "X-A: 1\r\n", "text/plain", "body", 4) == -1,
                      "write #%d failed, respond said ok", k);
    }
    setup();
    f.fail_flush = 1;
    ck_assert_int_eq(push_http_respond(&req, 200, NULL, "text/plain", "body", 4), -1);
    setup();
    f.fail_write = 0;
    ck_assert_int_eq(push_http_respond(&req, 304, NULL, NULL, NULL, 0), -1);
}
END_TEST

START_TEST(respond_refuses_oversized_head)
{
    char type[600];

    memset(type, 'a', sizeof type - 1);
    type[sizeof type - 1] = '\0';
    ck_assert_int_eq(push_http_respond(&req, 200, NULL, type, "x", 1), -1);
}
END_TEST

START_TEST(reason_phrases)
{
    static const struct { int status; const char *reason; } reasons[] = {
        { 200, "OK" }, { 204, "No Content" }, { 304, "Not Modified" }, { 400, "Bad Request" },
        { 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
        { 405, "Method Not Allowed" }, { 411, "Length Required" }, { 413, "Content Too Large" },
        { 414, "URI Too Long" }, { 415, "Unsupported Media Type" },
        { 429, "Too Many Requests" }, { 500, "Internal Server Error" },
        { 503, "Service Unavailable" }, { 299, "Unknown" }, { 0, "Unknown" }, { -1, "Unknown" },
    };

    for (int i = 0; i < N(reasons); i++)
        ck_assert_str_eq(push_http_reason(reasons[i].status), reasons[i].reason);
}
END_TEST

/* ---- push_http_error */

/* Splits the answer into its head and body; checks Content-Length against the body. */
static const char *split_answer(char *head, size_t size)
{
    const char *all = out(), *blank = strstr(all, "\r\n\r\n"), *cl;
    size_t hlen;

    ck_assert_ptr_nonnull(blank);
    hlen = (size_t)(blank - all) + 2;
    ck_assert_uint_lt(hlen, size);
    memcpy(head, all, hlen);
    head[hlen] = '\0';
    cl = strstr(head, "\r\nContent-Length: ");
    ck_assert_ptr_nonnull(cl);
    ck_assert_uint_eq(strtoul(cl + 18, NULL, 10), strlen(blank + 4));
    return blank + 4;
}

static const struct {
    int status;
    const char *code, *message;
} errors[] = {
    { 400, "bad_cursor", "not a valid cursor" },
    { 401, "unauthorized", "say \"who\" you are \\ please" },
    { 500, "internal", "</script><script>alert(1)</script>" },
    { 503, "x", "line\nbreak\ttab\x01" "ctl \xe2\x80\xa8 zo\xc3\xab" },
    { 413, "", "" },
};

START_TEST(error_is_json_with_no_store)
{
    char head[1024];
    const char *body;
    json_object *o, *v;
    char status[64];

    ck_assert_int_eq(push_http_error(&req, errors[_i].status, errors[_i].code,
                                     errors[_i].message, NULL),
                     0);
    body = split_answer(head, sizeof head);
    snprintf(status, sizeof status, "Status: %d %s\r\n", errors[_i].status,
             push_http_reason(errors[_i].status));
    ck_assert_msg(strncmp(head, status, strlen(status)) == 0, "%s", head);
    ck_assert_ptr_nonnull(strstr(head, "\r\nContent-Type: application/json"));
    ck_assert_ptr_nonnull(strstr(head, "\r\nCache-Control: no-store\r\n"));

    o = json_tokener_parse(body);
    ck_assert_msg(o != NULL, "not JSON: %s", body);
    ck_assert(json_object_is_type(o, json_type_object));
    ck_assert_int_eq(json_object_object_length(o), 2);
    ck_assert(json_object_object_get_ex(o, "error", &v));
    ck_assert(json_object_is_type(v, json_type_string));
    ck_assert_str_eq(json_object_get_string(v), errors[_i].code);
    ck_assert(json_object_object_get_ex(o, "message", &v));
    ck_assert(json_object_is_type(v, json_type_string));
    ck_assert_str_eq(json_object_get_string(v), errors[_i].message);
    json_object_put(o);
}
END_TEST

START_TEST(error_keeps_extra_headers)
{
    char head[1024];
    const char *body;

    ck_assert_int_eq(push_http_error(&req, 405, "method_not_allowed", "use GET",
                                     "Allow: GET, POST\r\n"),
                     0);
    body = split_answer(head, sizeof head);
    ck_assert_ptr_nonnull(strstr(head, "\r\nAllow: GET, POST\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "\r\nCache-Control: no-store\r\n"));
    ck_assert_ptr_nonnull(strstr(body, "\"method_not_allowed\""));
}
END_TEST

START_TEST(error_with_long_extra_headers_is_whole_or_refused)
{
    /* never a header block cut in the middle of a line */
    char headers[600], head[2048];
    int rc;

    memset(headers, 'h', sizeof headers);
    memcpy(headers, "X-Long: ", 8);
    memcpy(headers + sizeof headers - 3, "\r\n", 3);
    rc = push_http_error(&req, 400, "bad_request", "long", headers);
    if (rc == -1)
        return;
    ck_assert_msg(strstr(out(), headers) != NULL, "extra headers were cut:\n%s", out());
    split_answer(head, sizeof head);
}
END_TEST

START_TEST(error_write_failure_propagates)
{
    f.fail_write = 0;
    ck_assert_int_eq(push_http_error(&req, 400, "x", "y", NULL), -1);
    setup();
    f.fail_write = 3;
    ck_assert_int_eq(push_http_error(&req, 400, "x", "y", NULL), -1);
    setup();
    f.fail_flush = 1;
    ck_assert_int_eq(push_http_error(&req, 400, "x", "y", NULL), -1);
}
END_TEST

/* ---- push_http_read_body */

static enum push_body_err read_body(const char *content_length, const char *sent, size_t max,
                                    char **body, size_t *len)
{
    static char cl[64];
    static char *envp[3];

    envp[0] = "REQUEST_METHOD=POST";
    envp[1] = NULL;
    if (content_length) {
        snprintf(cl, sizeof cl, "CONTENT_LENGTH=%s", content_length);
        envp[1] = cl;
    }
    envp[2] = NULL;
    req.envp = envp;
    f.in = sent;
    f.in_len = strlen(sent);
    f.in_pos = 0;
    *body = (char *)"sentinel";
    *len = 12345;
    return push_http_read_body(&req, max, body, len);
}

START_TEST(read_body_ok)
{
    char *body;
    size_t len;

    ck_assert_int_eq(read_body("5", "hello", 4096, &body, &len), PUSH_BODY_OK);
    ck_assert_ptr_nonnull(body);
    ck_assert_uint_eq(len, 5);
    ck_assert_str_eq(body, "hello");
    free(body);
}
END_TEST

START_TEST(read_body_in_small_pieces)
{
    char *body;
    size_t len;

    f.chunk = 1;
    ck_assert_int_eq(read_body("11", "{\"a\":[1,2]}", 4096, &body, &len), PUSH_BODY_OK);
    ck_assert_uint_eq(len, 11);
    ck_assert_str_eq(body, "{\"a\":[1,2]}");
    free(body);
}
END_TEST

START_TEST(read_body_empty)
{
    char *body;
    size_t len;

    ck_assert_int_eq(read_body("0", "", 4096, &body, &len), PUSH_BODY_OK);
    ck_assert_ptr_nonnull(body);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(body, "");
    free(body);
}
END_TEST

START_TEST(read_body_reads_only_what_was_announced)
{
    char *body;
    size_t len;

    ck_assert_int_eq(read_body("5", "helloEXTRA", 4096, &body, &len), PUSH_BODY_OK);
    ck_assert_str_eq(body, "hello");
    ck_assert_uint_eq(f.in_pos, 5);
    free(body);
}
END_TEST

START_TEST(read_body_exactly_max)
{
    char *body;
    size_t len;

    ck_assert_int_eq(read_body("10", "0123456789", 10, &body, &len), PUSH_BODY_OK);
    ck_assert_uint_eq(len, 10);
    free(body);
    ck_assert_int_eq(read_body("11", "0123456789a", 10, &body, &len), PUSH_BODY_TOO_LARGE);
    ck_assert_ptr_null(body);
}
END_TEST

static const char *const no_length[] = { NULL, "", "abc", "-1", "-0", "5x", "0x10", "1.5",
                                         "99999999999999999999999999" };

START_TEST(read_body_without_usable_length)
{
    char *body;
    size_t len;

    ck_assert_msg(read_body(no_length[_i], "hello", 4096, &body, &len) == PUSH_BODY_NO_LENGTH,
                  "CONTENT_LENGTH=%s", no_length[_i] ? no_length[_i] : "(unset)");
    ck_assert_ptr_null(body);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(f.in_pos, 0);
}
END_TEST

START_TEST(read_body_too_large)
{
    char *body;
    size_t len;

    ck_assert_int_eq(read_body("4097", "x", 4096, &body, &len), PUSH_BODY_TOO_LARGE);
    ck_assert_ptr_null(body);
    ck_assert_uint_eq(f.in_pos, 0); /* refused before reading */
    ck_assert_int_eq(read_body("18446744073709551615", "x", 4096, &body, &len),
                     PUSH_BODY_TOO_LARGE);
    ck_assert_ptr_null(body);
}
END_TEST

START_TEST(read_body_short)
{
    char *body;
    size_t len;

    ck_assert_int_eq(read_body("10", "four", 4096, &body, &len), PUSH_BODY_SHORT);
    ck_assert_ptr_null(body);
    ck_assert_uint_eq(len, 0);
    f.chunk = 2;
    ck_assert_int_eq(read_body("10", "four", 4096, &body, &len), PUSH_BODY_SHORT);
    ck_assert_ptr_null(body);
    f.read_error = 1;
    ck_assert_int_eq(read_body("10", "four", 4096, &body, &len), PUSH_BODY_SHORT);
    ck_assert_ptr_null(body);
    ck_assert_int_eq(read_body("1", "", 4096, &body, &len), PUSH_BODY_SHORT);
    ck_assert_ptr_null(body);
}
END_TEST

/* ---- push_http_etag_match */

static const struct {
    const char *header, *etag;
    int match;
} etags[] = {
    { "\"abc\"", "\"abc\"", 1 },
    { "\"x\", \"abc\"", "\"abc\"", 1 },
    { "\"x\",\"abc\"", "\"abc\"", 1 },
    { "\"abc\", \"x\"", "\"abc\"", 1 },
    { "\"x\" ,  \"abc\" ", "\"abc\"", 1 },
    { "\t\"abc\"\t", "\"abc\"", 1 },
    { "W/\"abc\"", "\"abc\"", 1 },
    { "\"x\", W/\"abc\"", "\"abc\"", 1 },
    { "*", "\"abc\"", 1 },
    { " *", "\"abc\"", 1 },
    { NULL, "\"abc\"", 0 },
    { "", "\"abc\"", 0 },
    { " , ,", "\"abc\"", 0 },
    { "\"ab\"", "\"abc\"", 0 },
    { "\"ab", "\"abc\"", 0 },          /* a prefix of the etag */
    { "\"abc", "\"abc\"", 0 },
    { "\"abcd\"", "\"abc\"", 0 },
    { "\"abc\"d", "\"abc\"", 0 },
    { "\"abc\"\"", "\"abc\"", 0 },
    { "abc", "\"abc\"", 0 },
    { "\"ABC\"", "\"abc\"", 0 },
    { "\"x\", \"y\"", "\"abc\"", 0 },
    { "w/\"abc\"", "\"abc\"", 0 },
    { "\"0123456789abcdef\"", "\"0123456789abcdef\"", 1 },
    { "\"0123456789abcde\"", "\"0123456789abcdef\"", 0 },
    { "\"0123456789abcdef0\"", "\"0123456789abcdef\"", 0 },
};

START_TEST(etag_match_table)
{
    ck_assert_msg(push_http_etag_match(etags[_i].header, etags[_i].etag) == etags[_i].match,
                  "If-None-Match: %s vs %s should be %d",
                  etags[_i].header ? etags[_i].header : "(none)", etags[_i].etag,
                  etags[_i].match);
}
END_TEST

/* ---- push_http_content_type_is */

static const struct {
    const char *header;
    int match;
} types[] = {
    { "application/json", 1 },
    { "application/json; charset=utf-8", 1 },
    { "application/json;charset=UTF-8", 1 },
    { "APPLICATION/JSON", 1 },
    { "Application/Json; charset=utf-8", 1 },
    { " application/json", 1 },
    { "application/json ; charset=utf-8", 1 },
    { "application/jsonp", 0 },
    { "application/json-seq", 0 },
    { "application/jso", 0 },
    { "application/", 0 },
    { "", 0 },
    { "text/json", 0 },
    { "text/plain", 0 },
    { "application/x-www-form-urlencoded", 0 },
    { "xapplication/json", 0 },
    { NULL, 0 },
};

START_TEST(content_type_table)
{
    ck_assert_msg(push_http_content_type_is(types[_i].header, "application/json") ==
                      types[_i].match,
                  "Content-Type: %s should be %d", types[_i].header ? types[_i].header : "(none)",
                  types[_i].match);
}
END_TEST

static const struct {
    const char *origin, *scheme, *host, *allowed;
    int want;
} origins[] = {
    { "https://example.com", "https", "example.com", "", 1 },        /* same origin */
    { "http://example.com:8080", "http", "example.com:8080", "", 1 },
    { "https://EXAMPLE.com", "https", "example.com", "", 1 },
    { "HTTPS://example.com", "https", "example.com", "", 1 },
    /* the scheme counts: a plain-http page of the same host is another origin */
    { "http://example.com", "https", "example.com", "", 0 },
    { "https://example.com", "http", "example.com", "", 0 },
    { "ws://example.com", "http", "example.com", "", 0 },
    { "https://evil.com", "https", "example.com", "", 0 },
    { "https://example.com.evil.com", "https", "example.com", "", 0 },
    { "https://example.com", "https", "example.com.evil.com", "", 0 },
    { "https://", "https", "", "", 0 },
    { "null", "https", "example.com", "*", 0 },
    { "https://evil.com", "https", NULL, "", 0 },
    { "https://app.example.com", "https", "api.example.com", "https://app.example.com", 1 },
    { "https://app.example.com", "https", "api.example.com", "https://a.example.com, https://app.example.com", 1 },
    { "https://app.example.com", "https", "api.example.com", "https://a.example.com https://app.example.com", 1 },
    { "https://app.example.com", "https", "api.example.com", "https://app.example.co", 0 },
    { "https://app.example.co", "https", "api.example.com", "https://app.example.com", 0 },
    { "http://app.example.com", "https", "api.example.com", "https://app.example.com", 0 },
    { "https://any.where", "https", "api.example.com", "*", 1 },
    { "https://any.where", "https", "api.example.com", "**", 0 },
};

START_TEST(origins_are_checked)
{
    ck_assert_msg(push_http_origin_allowed(origins[_i].origin, origins[_i].scheme, origins[_i].host,
                                           origins[_i].allowed) == origins[_i].want,
                  "%s from %s://%s", origins[_i].origin, origins[_i].scheme,
                  origins[_i].host ? origins[_i].host : "(null)");
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *respond = tcase_create("respond");
    TCase *error = tcase_create("error");
    TCase *body = tcase_create("read_body");
    TCase *match = tcase_create("match");

    tcase_add_checked_fixture(respond, setup, NULL);
    tcase_add_test(respond, respond_exact_bytes);
    tcase_add_loop_test(respond, origins_are_checked, 0, sizeof origins / sizeof *origins);
    tcase_add_test(respond, respond_with_extra_headers);
    tcase_add_test(respond, respond_length_counts_bytes_not_string);
    tcase_add_test(respond, respond_empty_body);
    tcase_add_test(respond, respond_304_has_no_body_headers);
    tcase_add_test(respond, respond_without_body_or_headers);
    tcase_add_test(respond, respond_large_body);
    tcase_add_test(respond, respond_write_failure_propagates);
    tcase_add_test(respond, respond_refuses_oversized_head);
    tcase_add_test(respond, reason_phrases);
    suite_add_tcase(s, respond);

    tcase_add_checked_fixture(error, setup, NULL);
    tcase_add_loop_test(error, error_is_json_with_no_store, 0, N(errors));
    tcase_add_test(error, error_keeps_extra_headers);
    tcase_add_test(error, error_with_long_extra_headers_is_whole_or_refused);
    tcase_add_test(error, error_write_failure_propagates);
    suite_add_tcase(s, error);

    tcase_add_checked_fixture(body, setup, NULL);
    tcase_add_test(body, read_body_ok);
    tcase_add_test(body, read_body_in_small_pieces);
    tcase_add_test(body, read_body_empty);
    tcase_add_test(body, read_body_reads_only_what_was_announced);
    tcase_add_test(body, read_body_exactly_max);
    tcase_add_loop_test(body, read_body_without_usable_length, 0, N(no_length));
    tcase_add_test(body, read_body_too_large);
    tcase_add_test(body, read_body_short);
    suite_add_tcase(s, body);

    tcase_add_loop_test(match, etag_match_table, 0, N(etags));
    tcase_add_loop_test(match, content_type_table, 0, N(types));
    suite_add_tcase(s, match);
    return s;
}

UNIT_MAIN(http_suite)
