/* push_log.c: leveled log lines to stderr */
#include "config.h"

#include "core/push_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_progname = "pgpush";
static enum push_log_level log_max = PUSH_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void push_log_init(const char *progname, enum push_log_level level)
{
    log_progname = progname;
    log_max = level;
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

void push_log(enum push_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (level > log_max)
        return;
    n = snprintf(line, sizeof line, "%s[%ld]: %s: ", log_progname, (long)getpid(),
                 level_names[level]);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    /* a line cut at the buffer's end still ends with a newline */
    size_t len = strlen(line);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
