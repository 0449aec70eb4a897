/* push_log.h: leveled log lines to stderr, which every web server keeps as its error log
 *
 * A line (README "Logging"):
 *
 *     2026-12-04T13:45:01.123Z push-sse[1234]: info: MESSAGE
 *
 * the time in UTC with milliseconds (left out with PUSH_LOG_TIME=0, for journald, which stamps
 * lines itself), the program and its pid, the level, and the message: one line, at most
 * PUSH_LOG_LINE_MAX bytes with its newline (a longer message is cut). */
#ifndef PUSH_LOG_H
#define PUSH_LOG_H

enum push_log_level { PUSH_LOG_ERROR, PUSH_LOG_WARN, PUSH_LOG_INFO, PUSH_LOG_DEBUG };

#define PUSH_LOG_LINE_MAX 1024 /* bytes of a line, its newline included */
#define PUSH_LOG_STAMP_LEN 24  /* "2026-12-04T13:45:01.123Z" */

/* Sets the program name shown on every line, the most verbose level written, and whether lines
 * begin with the time (PUSH_LOG_TIME). Until it is called: "pgpush", info, with the time. */
void push_log_init(const char *progname, enum push_log_level level, int timestamps);

/* Changes the level and PUSH_LOG_TIME of a running program (a reload); safe from any thread. */
void push_log_set(enum push_log_level level, int timestamps);

/* Parses "error", "warn", "info" or "debug"; returns 0, or -1 when name is none of them. */
int push_log_level_parse(const char *name, enum push_log_level *level);

/* Writes one line (one write(2), so lines of threads never mix). Never pass secrets,
 * tokens or message text. */
void push_log(enum push_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One kind of line that any client can cause at will (a full server refusing streams): written
 * at once, then at most once every `seconds`, with how many were held back since. Declare one
 * per kind of line, static: { .seconds = 10 }. */
struct push_log_limit {
    int seconds;
    _Atomic long last; /* time(NULL) of the last line written; 0: none yet */
    _Atomic long held; /* lines held back since */
};

/* push_log through lim; safe from any thread. */
void push_log_limited(struct push_log_limit *lim, enum push_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define push_log_error(...) push_log(PUSH_LOG_ERROR, __VA_ARGS__)
#define push_log_warn(...) push_log(PUSH_LOG_WARN, __VA_ARGS__)
#define push_log_info(...) push_log(PUSH_LOG_INFO, __VA_ARGS__)
#define push_log_debug(...) push_log(PUSH_LOG_DEBUG, __VA_ARGS__)

#endif
