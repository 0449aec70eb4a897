/* push_log.h: leveled log lines to stderr, which every web server keeps as its error log */
#ifndef PUSH_LOG_H
#define PUSH_LOG_H

enum push_log_level { PUSH_LOG_ERROR, PUSH_LOG_WARN, PUSH_LOG_INFO, PUSH_LOG_DEBUG };

/* Sets the program name shown on every line and the most verbose level written. */
void push_log_init(const char *progname, enum push_log_level level);

/* Parses "error", "warn", "info" or "debug"; returns 0, or -1 when name is none of them. */
int push_log_level_parse(const char *name, enum push_log_level *level);

/* Writes one line (one write(2), so lines of threads never mix). Never pass secrets,
 * tokens or message text. */
void push_log(enum push_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define push_log_error(...) push_log(PUSH_LOG_ERROR, __VA_ARGS__)
#define push_log_warn(...) push_log(PUSH_LOG_WARN, __VA_ARGS__)
#define push_log_info(...) push_log(PUSH_LOG_INFO, __VA_ARGS__)
#define push_log_debug(...) push_log(PUSH_LOG_DEBUG, __VA_ARGS__)

#endif
