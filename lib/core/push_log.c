/* push_log.c: leveled log lines to stderr */
#include "config.h"

#include "core/push_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_progname = "pgpush";
/* atomic: a reload (push_log_set) changes them while other threads log */
static _Atomic int log_max = PUSH_LOG_INFO;
static _Atomic int log_stamp = 1;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void push_log_init(const char *progname, enum push_log_level level, int timestamps)
{
    log_progname = progname;
    push_log_set(level, timestamps);
}

void push_log_set(enum push_log_level level, int timestamps)
{
    atomic_store_explicit(&log_max, (int)level, memory_order_relaxed);
    atomic_store_explicit(&log_stamp, timestamps, memory_order_relaxed);
}

int push_log_level_parse(const char *name, enum push_log_level *level)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = (enum push_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* "2026-12-04T13:45:01.123Z " into buf (PUSH_LOG_STAMP_LEN + 2 bytes); "" when the clock fails. */
static void stamp(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;

    buf[0] = '\0';
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm))
        return;
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0 || (size_t)snprintf(buf + n, size - n, ".%03ldZ ", ts.tv_nsec / 1000000) >= size - n)
        buf[0] = '\0'; /* a year past 9999: no time rather than half of one */
}

/* The line of push_log: fmt and ap, and after them tail (may be ""). */
__attribute__((format(printf, 3, 0)))
static void write_line(enum push_log_level level, const char *tail, const char *fmt, va_list ap)
{
    char line[PUSH_LOG_LINE_MAX], when[PUSH_LOG_STAMP_LEN + 2] = "";
    int n;

    if (atomic_load_explicit(&log_stamp, memory_order_relaxed))
        stamp(when, sizeof when);
    n = snprintf(line, sizeof line, "%s%s[%ld]: %s: ", when, log_progname, (long)getpid(),
                 level_names[level]);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = strlen(line);
    snprintf(line + len, sizeof line - len - 1, "%s", tail);
    /* a line cut at the buffer's end still ends with a newline */
    len = strlen(line);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void push_log(enum push_log_level level, const char *fmt, ...)
{
    va_list ap;

    if ((int)level > atomic_load_explicit(&log_max, memory_order_relaxed))
        return;
    va_start(ap, fmt);
    write_line(level, "", fmt, ap);
    va_end(ap);
}

void push_log_limited(struct push_log_limit *lim, enum push_log_level level, const char *fmt, ...)
{
    long now = (long)time(NULL), last = atomic_load(&lim->last);
    char tail[96] = "";
    va_list ap;

    if ((int)level > atomic_load_explicit(&log_max, memory_order_relaxed))
        return;
    /* one thread wins the slot; the others count themselves held back */
    if ((last && now - last < lim->seconds) || !atomic_compare_exchange_strong(&lim->last, &last, now)) {
        atomic_fetch_add(&lim->held, 1);
        return;
    }
    long held = atomic_exchange(&lim->held, 0);
    if (held)
        snprintf(tail, sizeof tail, " (and %ld more like it since the last such line)", held);
    va_start(ap, fmt);
    write_line(level, tail, fmt, ap);
    va_end(ap);
}
