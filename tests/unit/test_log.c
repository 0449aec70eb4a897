/* test_log.c: unit tests for lib/core/push_log: the line's format, its time, its bound */
#include "config.h"

#include "unit.h"

#include "core/push_log.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char out[4 * PUSH_LOG_LINE_MAX];

/* Runs push_log with stderr on a pipe; returns what was written (NUL-terminated, in out). */
#define CAPTURE(...) (capture_begin(), push_log(__VA_ARGS__), capture_end())
#define CAPTURE_LIMITED(...) (capture_begin(), push_log_limited(__VA_ARGS__), capture_end())

static int saved_fd = -1, pipe_fd[2];

static void capture_begin(void)
{
    ck_assert_int_eq(pipe(pipe_fd), 0);
    saved_fd = dup(STDERR_FILENO);
    ck_assert_int_ge(saved_fd, 0);
    ck_assert_int_ge(dup2(pipe_fd[1], STDERR_FILENO), 0);
    close(pipe_fd[1]);
}

static const char *capture_end(void)
{
    ssize_t n, len = 0;

    ck_assert_int_ge(dup2(saved_fd, STDERR_FILENO), 0); /* closes the pipe's last writer */
    close(saved_fd);
    while ((n = read(pipe_fd[0], out + len, sizeof out - 1 - (size_t)len)) > 0)
        len += n;
    close(pipe_fd[0]);
    out[len] = '\0';
    return out;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;

    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_msg(regexec(&re, text, 0, NULL, 0) == 0, "[%s] does not match %s", text, pattern);
    regfree(&re);
}

START_TEST(line_begins_with_the_utc_time)
{
    char pattern[128];
    time_t before = time(NULL), after;
    struct tm tm;

    push_log_init("push-test", PUSH_LOG_INFO, 1);
    CAPTURE(PUSH_LOG_INFO, "hello %s", "there");
    after = time(NULL);
    snprintf(pattern, sizeof pattern,
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z push-test\\[%ld\\]: "
             "info: hello there\n$", (long)getpid());
    assert_matches(out, pattern);
    /* the time is now's, in UTC */
    memset(&tm, 0, sizeof tm);
    ck_assert_ptr_nonnull(strptime(out, "%Y-%m-%dT%H:%M:%S", &tm));
    time_t logged = timegm(&tm);
    ck_assert_msg(logged >= before && logged <= after, "logged %ld, not in [%ld, %ld]", (long)logged,
                  (long)before, (long)after);
}
END_TEST

START_TEST(without_the_time_for_journald)
{
    char pattern[96];

    push_log_init("push-test", PUSH_LOG_INFO, 0);
    CAPTURE(PUSH_LOG_WARN, "careful");
    snprintf(pattern, sizeof pattern, "^push-test\\[%ld\\]: warn: careful\n$", (long)getpid());
    assert_matches(out, pattern);
}
END_TEST

START_TEST(levels_past_the_setting_are_not_written)
{
    push_log_init("push-test", PUSH_LOG_WARN, 1);
    ck_assert_str_eq(CAPTURE(PUSH_LOG_INFO, "not this"), "");
    ck_assert_str_eq(CAPTURE(PUSH_LOG_DEBUG, "nor this"), "");
    assert_matches(CAPTURE(PUSH_LOG_ERROR, "this"), "Z push-test\\[[0-9]+\\]: error: this\n$");
}
END_TEST

START_TEST(a_long_message_is_cut_to_one_line_of_the_bound)
{
    static char msg[3000];

    memset(msg, 'x', sizeof msg - 1);
    for (int stamp = 0; stamp <= 1; stamp++) {
        push_log_init("push-test", PUSH_LOG_INFO, stamp);
        size_t len = strlen(CAPTURE(PUSH_LOG_INFO, "%s", msg));
        /* cut at the bound (its last byte is the NUL while the line is built), not short of it */
        ck_assert_uint_le(len, PUSH_LOG_LINE_MAX);
        ck_assert_uint_ge(len, PUSH_LOG_LINE_MAX - 1);
        ck_assert_ptr_eq(strchr(out, '\n'), out + len - 1);
        ck_assert_int_eq(out[len - 2], 'x');
    }
}
END_TEST

START_TEST(a_limited_line_at_most_once_a_period_saying_how_many_were_held)
{
    static struct push_log_limit lim = { .seconds = 10 };

    push_log_init("push-test", PUSH_LOG_INFO, 0);
    assert_matches(CAPTURE_LIMITED(&lim, PUSH_LOG_WARN, "full %d", 1), "warn: full 1\n$");
    ck_assert_str_eq(CAPTURE_LIMITED(&lim, PUSH_LOG_WARN, "full %d", 2), "");
    ck_assert_str_eq(CAPTURE_LIMITED(&lim, PUSH_LOG_WARN, "full %d", 3), "");
    lim.last -= 10; /* the period is over */
    assert_matches(CAPTURE_LIMITED(&lim, PUSH_LOG_WARN, "full %d", 4),
                   "warn: full 4 \\(and 2 more like it since the last such line\\)\n$");
    ck_assert_str_eq(CAPTURE_LIMITED(&lim, PUSH_LOG_WARN, "full %d", 5), "");
    lim.last -= 10;
    assert_matches(CAPTURE_LIMITED(&lim, PUSH_LOG_WARN, "full %d", 6), "warn: full 6 \\(and 1 more");
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("line");

    tcase_add_test(tc, line_begins_with_the_utc_time);
    tcase_add_test(tc, without_the_time_for_journald);
    tcase_add_test(tc, levels_past_the_setting_are_not_written);
    tcase_add_test(tc, a_long_message_is_cut_to_one_line_of_the_bound);
    tcase_add_test(tc, a_limited_line_at_most_once_a_period_saying_how_many_were_held);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(log_suite)
