/* push_config.c: reads and validates the environment into a struct push_config */
#include "config.h"

#include "core/push_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char push_config_help[] =
    "Environment:\n"
    "  PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSERVICE, ...\n"
    "                         the database, as for psql (libpq's variables)\n"
    "  PUSH_DATABASE_URL      or one connection string instead (postgresql://... or key=value)\n"
    "  PUSH_ALLOW_OWNER=1     let the programs work as a superuser or the schema's owner; they\n"
    "                         refuse to otherwise (use a role granted push_reader; default 0)\n"
    "  PUSH_TOKEN_SECRET      secret for signed tokens (at least 16 bytes); unset: tokens refused\n"
    "  PUSH_TOKEN_SECRET_FILE or a file holding it (one line)\n"
    "  PUSH_TOKEN_COOKIE      cookie that carries the token (default pgpush_token)\n"
    "  PUSH_TICKET_TTL        seconds a stream ticket (POST {\"ticket\": true} to push-poll) may\n"
    "                         open a stream, 1 to 3600 (default 60); its stream still ends at\n"
    "                         the token's expiry\n"
    "  PUSH_DEMO=1            demo mode: trust ?user=NAME; never in production (default 0)\n"
    "  PUSH_LISTEN            run as an external FastCGI server on a socket path or [host]:port\n"
    "                         (host defaults to 127.0.0.1); unset: CGI or spawned FastCGI\n"
    "  PUSH_SOCKET_MODE       permissions of the socket path (octal, default 0660)\n"
    "  PUSH_THREADS           worker threads (push-poll: default 1 when spawned, 8 as external\n"
    "                         server; push-sse, push-longpoll, push-iframe: 64)\n"
    "  PUSH_LIMIT_DEFAULT     messages per answer when ?limit= is absent (default 50)\n"
    "  PUSH_LIMIT_MAX         largest ?limit= accepted (default 200, at most 1000)\n"
    "  PUSH_ALLOWED_ORIGINS   space-separated origins allowed to POST besides the page's own host\n"
    "  PUSH_LOG_LEVEL         error, warn, info or debug (default info)\n"
    "  PUSH_LOG_TIME          1: log lines on stderr begin with the time in UTC (default);\n"
    "                         0: they do not (under systemd, whose journal adds its own). A line:\n"
    "                         2026-12-04T13:45:01.123Z push-sse[123]: info: MESSAGE\n"
    "  PUSH_THREAD_STACK      KiB of stack per worker thread (default 128)\n"
    "  PUSH_WRITE_TIMEOUT     seconds a client may take no data before it is dropped (default 30)\n"
    "Streaming (push-longpoll, push-sse, push-iframe). As FastCGI, open streams and held long\n"
    "polls live in one event loop; as plain CGI, each process holds its one request in its thread:\n"
    "  PUSH_DB_POOL           query connections per process, besides the one LISTEN (default 3)\n"
    "  PUSH_MAX_STREAMS       open streams and held polls per process; then 503 (default 1000)\n"
    "  PUSH_MAX_STREAMS_PER_USER  per user and process; then 429 (default 16)\n"
    "  PUSH_HEARTBEAT         seconds between heartbeats on an idle stream (default 15)\n"
    "  PUSH_LIFETIME          seconds before a stream ends cleanly and the client resumes (default 240)\n"
    "  PUSH_HOLD              seconds a long poll is held without ?timeout= (default 25)\n"
    "  PUSH_HOLD_MAX          largest ?timeout= accepted (default 60)\n"
    "  PUSH_RETRY             reconnect delay advised to EventSource, ms (default 3000)\n"
    "  PUSH_DRAIN_TIME        after SIGTERM, seconds the streams get to take their end before the\n"
    "                         process exits (default 10; push-ws too)\n"
    "  PUSH_DRAIN_SPREAD      after SIGTERM, each client is told to come back at a random time\n"
    "                         within this many ms (default 5000; push-ws too)\n"
    "  PUSH_LISTEN_BACKLOG    connections the kernel queues on a socket of our own (PUSH_LISTEN,\n"
    "                         PUSH_WS_LISTEN), at most net.core.somaxconn (default 4096)\n"
    "Short polling (push-poll as FastCGI):\n"
    "  PUSH_STATE_CACHE       users whose state is kept in the process, so that an unchanged poll\n"
    "                         (304) needs no query; costs one LISTEN connection (default 16384;\n"
    "                         0: off)\n"
    "WebSocket (push-ws):\n"
    "  PUSH_WS_LISTEN         the socket path or [host]:port push-ws listens on (or --listen)\n"
    "  PUSH_WS_STATUS_LISTEN  a socket path or [host]:port (127.0.0.1:9181) where push-ws answers\n"
    "                         GET /metrics and GET /health in plain HTTP; keep it off the\n"
    "                         internet (default: none)\n"
    "  PUSH_WS_ORIGINS        comma-separated origins allowed besides the request's own host\n"
    "                         (\"*\": any); a request without Origin (not a browser) is allowed\n"
    "  PUSH_WS_TRUST_USER_HEADER  the header the web server overwrites with the user it\n"
    "                         authenticated: X-Remote-User (nginx, Apache) or Forwarded (lighttpd,\n"
    "                         its remote_user=); no other name is accepted. Unset: none is trusted\n";

const char *push_env_get(char *const *envp, const char *name)
{
    size_t len = strlen(name);

    for (; envp && *envp; envp++) {
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
            return *envp + len + 1;
    }
    return NULL;
}

/* Writes "NAME: why" into err; returns -1. */
static int fail(char *err, size_t errlen, const char *name, const char *why)
{
    snprintf(err, errlen, "%s: %s", name, why);
    return -1;
}

/* Copies value into dst; fails when it does not fit. */
static int copy_str(char *dst, size_t size, const char *value, const char *name,
                    char *err, size_t errlen)
{
    size_t len = strlen(value);

    if (len >= size)
        return fail(err, errlen, name, "too long");
    memcpy(dst, value, len + 1);
    return 0;
}

/* Parses a decimal integer in [min, max]; fails with a message naming the variable. */
static int parse_int(const char *value, long min, long max, int base, int *out,
                     const char *name, char *err, size_t errlen)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, base);
    if (errno || end == value || *end || v < min || v > max) {
        snprintf(err, errlen, "%s: expected a number from %ld to %ld, got \"%.40s\"", name,
                 min, max, value);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_bool(const char *value, int *out, const char *name, char *err, size_t errlen)
{
    static const char *const yes[] = { "1", "yes", "true", "on" };
    static const char *const no[] = { "0", "no", "false", "off", "" };

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcmp(value, yes[i]) == 0)
            return *out = 1, 0;
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcmp(value, no[i]) == 0)
            return *out = 0, 0;
    return fail(err, errlen, name, "expected 1 or 0 (yes/no, true/false, on/off)");
}

/* Reads the secret from a file: its first line, without the newline. */
static int read_secret_file(struct push_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        snprintf(err, errlen, "PUSH_TOKEN_SECRET_FILE: cannot open %.200s: %s", path,
                 strerror(errno));
        return -1;
    }
    char line[PUSH_SECRET_MAX + 2];

    n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strlen(line) > PUSH_SECRET_MAX) {
        snprintf(err, errlen, "PUSH_TOKEN_SECRET_FILE: the secret is longer than %d bytes",
                 PUSH_SECRET_MAX);
        return -1;
    }
    memcpy(cfg->token_secret, line, strlen(line) + 1);
    return 0;
}

static int load_secret(struct push_config *cfg, char *const *envp, char *err, size_t errlen)
{
    const char *secret = push_env_get(envp, "PUSH_TOKEN_SECRET");
    const char *file = push_env_get(envp, "PUSH_TOKEN_SECRET_FILE");
    const char *name = "PUSH_TOKEN_SECRET";

    if (secret && *secret && file && *file)
        return fail(err, errlen, name, "set either it or PUSH_TOKEN_SECRET_FILE, not both");
    if (file && *file) {
        name = "PUSH_TOKEN_SECRET_FILE";
        if (read_secret_file(cfg, file, err, errlen) < 0)
            return -1;
    } else if (secret && *secret) {
        if (strlen(secret) > PUSH_SECRET_MAX)
            return fail(err, errlen, name, "longer than 256 bytes");
        memcpy(cfg->token_secret, secret, strlen(secret) + 1);
    } else {
        return 0;
    }
    cfg->token_secret_len = strlen(cfg->token_secret);
    if (cfg->token_secret_len < PUSH_SECRET_MIN)
        return fail(err, errlen, name, "shorter than 16 bytes; use a long random string");
    return 0;
}

int push_env_numbers(char *const *envp, const struct push_env_number *table, size_t n, char *err,
                     size_t errlen)
{
    const char *v;

    for (size_t i = 0; i < n; i++)
        if ((v = push_env_get(envp, table[i].name))
            && parse_int(v, table[i].min, table[i].max, 10, table[i].field, table[i].name, err, errlen))
            return -1;
    return 0;
}

/* The plain numeric settings: name, range, where it goes. */
static int load_numbers(struct push_config *cfg, char *const *envp, char *err, size_t errlen)
{
    const struct push_env_number table[] = {
        { "PUSH_THREAD_STACK", 32, 8192, &cfg->thread_stack_kb },
        { "PUSH_TICKET_TTL", 1, 3600, &cfg->ticket_ttl },
        { "PUSH_WRITE_TIMEOUT", 1, 3600, &cfg->write_timeout },
        { "PUSH_DB_POOL", 1, 64, &cfg->db_pool },
        { "PUSH_MAX_STREAMS", 1, 100000, &cfg->max_streams },
        { "PUSH_MAX_STREAMS_PER_USER", 1, 100000, &cfg->max_streams_per_user },
        { "PUSH_HEARTBEAT", 1, 3600, &cfg->heartbeat },
        { "PUSH_LIFETIME", 1, 86400, &cfg->lifetime },
        { "PUSH_HOLD_MAX", 1, 3600, &cfg->hold_max },
        { "PUSH_HOLD", 1, 3600, &cfg->hold },
        { "PUSH_RETRY", 0, 600000, &cfg->retry_ms },
        { "PUSH_DRAIN_TIME", 0, 3600, &cfg->drain_time },
        { "PUSH_DRAIN_SPREAD", 0, 600000, &cfg->drain_spread_ms },
        { "PUSH_LISTEN_BACKLOG", 16, 65535, &cfg->listen_backlog },
        { "PUSH_STATE_CACHE", 0, 1000000, &cfg->state_cache },
    };

    if (push_env_numbers(envp, table, sizeof table / sizeof table[0], err, errlen) < 0)
        return -1;
    if (cfg->hold > cfg->hold_max)
        return fail(err, errlen, "PUSH_HOLD", "longer than PUSH_HOLD_MAX");
    return 0;
}

int push_config_load(struct push_config *cfg, char *const *envp, char *err, size_t errlen)
{
    const char *v;

    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->token_cookie, sizeof cfg->token_cookie, "%s", "pgpush_token");
    cfg->ticket_ttl = 60;
    cfg->socket_mode = 0660;
    cfg->default_limit = 50;
    cfg->max_limit = 200;
    cfg->log_level = PUSH_LOG_INFO;
    cfg->log_time = 1;
    cfg->thread_stack_kb = 128;
    cfg->write_timeout = 30;
    cfg->db_pool = 3;
    cfg->max_streams = 1000;
    cfg->max_streams_per_user = 16;
    cfg->heartbeat = 15;
    cfg->lifetime = 240;
    cfg->hold = 25;
    cfg->hold_max = 60;
    cfg->retry_ms = 3000;
    cfg->drain_time = 10;
    cfg->drain_spread_ms = 5000;
    cfg->listen_backlog = 4096;
    cfg->state_cache = 16384;

    if ((v = push_env_get(envp, "PUSH_DATABASE_URL"))
        && copy_str(cfg->database_url, sizeof cfg->database_url, v, "PUSH_DATABASE_URL", err, errlen))
        return -1;
    if (load_secret(cfg, envp, err, errlen) < 0)
        return -1;
    if ((v = push_env_get(envp, "PUSH_TOKEN_COOKIE")) && *v) {
        if (copy_str(cfg->token_cookie, sizeof cfg->token_cookie, v, "PUSH_TOKEN_COOKIE", err, errlen))
            return -1;
        if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != strlen(v))
            return fail(err, errlen, "PUSH_TOKEN_COOKIE", "letters, digits, _ - . only");
    }
    if ((v = push_env_get(envp, "PUSH_DEMO")) && parse_bool(v, &cfg->demo, "PUSH_DEMO", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_ALLOW_OWNER"))
        && parse_bool(v, &cfg->allow_owner, "PUSH_ALLOW_OWNER", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_LISTEN"))
        && copy_str(cfg->listen, sizeof cfg->listen, v, "PUSH_LISTEN", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_SOCKET_MODE"))
        && parse_int(v, 0, 0777, 8, &cfg->socket_mode, "PUSH_SOCKET_MODE", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_THREADS"))
        && parse_int(v, 1, PUSH_THREADS_CAP, 10, &cfg->threads, "PUSH_THREADS", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_LIMIT_MAX"))
        && parse_int(v, 1, PUSH_LIMIT_CAP, 10, &cfg->max_limit, "PUSH_LIMIT_MAX", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_LIMIT_DEFAULT"))
        && parse_int(v, 1, cfg->max_limit, 10, &cfg->default_limit, "PUSH_LIMIT_DEFAULT", err, errlen))
        return -1;
    if (cfg->default_limit > cfg->max_limit)
        cfg->default_limit = cfg->max_limit;
    if ((v = push_env_get(envp, "PUSH_ALLOWED_ORIGINS"))
        && copy_str(cfg->allowed_origins, sizeof cfg->allowed_origins, v, "PUSH_ALLOWED_ORIGINS",
                    err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_WS_LISTEN"))
        && copy_str(cfg->ws_listen, sizeof cfg->ws_listen, v, "PUSH_WS_LISTEN", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_WS_STATUS_LISTEN"))
        && copy_str(cfg->ws_status_listen, sizeof cfg->ws_status_listen, v, "PUSH_WS_STATUS_LISTEN",
                    err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_WS_ORIGINS"))
        && copy_str(cfg->ws_origins, sizeof cfg->ws_origins, v, "PUSH_WS_ORIGINS", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_WS_TRUST_USER_HEADER")) && *v) {
        if (copy_str(cfg->ws_user_header, sizeof cfg->ws_user_header, v, "PUSH_WS_TRUST_USER_HEADER",
                     err, errlen))
            return -1;
        /* only a header that every shipped configuration clears before it sets its own: any
         * other one a client could send past a proxy that does not know it must remove it */
        if (strcasecmp(v, "X-Remote-User") != 0 && strcasecmp(v, "Forwarded") != 0)
            return fail(err, errlen, "PUSH_WS_TRUST_USER_HEADER",
                        "only X-Remote-User (nginx, Apache) or Forwarded (lighttpd) can be trusted: "
                        "the shipped web server configurations replace those and clear what the "
                        "client sent; unset it to take tokens only");
    }
    if ((v = push_env_get(envp, "PUSH_LOG_LEVEL")) && *v && push_log_level_parse(v, &cfg->log_level))
        return fail(err, errlen, "PUSH_LOG_LEVEL", "expected error, warn, info or debug");
    if ((v = push_env_get(envp, "PUSH_LOG_TIME")) && *v
        && parse_bool(v, &cfg->log_time, "PUSH_LOG_TIME", err, errlen))
        return -1;
    return load_numbers(cfg, envp, err, errlen);
}
