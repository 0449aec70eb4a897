/* push_config.c: reads and validates the configuration file and the environment into a struct
 * push_config, and replaces the settings in force on a reload */
#include "config.h"

#include "core/push_config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/push_util.h"

const char push_config_help[] =
    "Environment:\n"
    "  PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSERVICE, ...\n"
    "                         the database, as for psql (libpq's variables)\n"
    "  PUSH_DATABASE_URL      or one connection string instead (postgresql://... or key=value)\n"
    "  PUSH_LISTEN_DATABASE_URL  the connection that LISTENs (streaming programs, push-ws), when\n"
    "                         the others go through a pooler: it must reach PostgreSQL itself, and\n"
    "                         a program refuses one that a pooler answers (default: as above)\n"
    "  PUSH_DB_PREPARE        1: statements prepared once per connection (default); 0: sent\n"
    "                         unnamed each time, for PgBouncer in transaction mode before 1.21\n"
    "  PUSH_ALLOW_OWNER=1     let the programs work as a superuser or the schema's owner; they\n"
    "                         refuse to otherwise (use a role granted push_reader; default 0)\n"
    "  PUSH_TOKEN_SECRET      secret for signed tokens (at least 16 bytes); unset: tokens refused\n"
    "  PUSH_TOKEN_SECRET_FILE or a file holding it (one line)\n"
    "  PUSH_TOKEN_SECRET_PREVIOUS  during a rotation, the secret before it: tokens and tickets\n"
    "                         signed with it still verify, nothing new is signed with it\n"
    "  PUSH_TOKEN_SECRET_PREVIOUS_FILE  or a file holding it (one line)\n"
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
    "  PUSH_REPLICA_DATABASE_URL  a hot standby for the streams' reads (push-ws too), each read\n"
    "                         there once it has replayed past the primary's position; marking\n"
    "                         read and the LISTEN stay on the primary (default: none, all there)\n"
    "  PUSH_REPLICA_WAIT      ms a read waits for the standby to catch up before it is made on\n"
    "                         the primary instead (default 100; 0: only if caught up already)\n"
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
    "  PUSH_ANSWER_CACHE      users whose last full answer (up to 16 KiB) is kept with that state,\n"
    "                         so that the same poll again needs no query either (default 1024;\n"
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

/* Reads a secret from a file (setting name): its first line, without the newline. */
static int read_secret_file(char *dst, const char *path, const char *name, char *err,
                            size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        snprintf(err, errlen, "%s: cannot open %.200s: %s", name, path, strerror(errno));
        return -1;
    }
    char line[PUSH_SECRET_MAX + 2];

    n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strlen(line) > PUSH_SECRET_MAX) {
        snprintf(err, errlen, "%s: the secret is longer than %d bytes", name, PUSH_SECRET_MAX);
        return -1;
    }
    memcpy(dst, line, strlen(line) + 1);
    return 0;
}

/* One secret, from the variable name or the file that name_FILE names, into dst and *len. */
static int load_secret(char *dst, size_t *len, const char *name, char *const *envp, char *err,
                       size_t errlen)
{
    char file_name[64];
    const char *secret = push_env_get(envp, name), *file, *at = name;

    snprintf(file_name, sizeof file_name, "%s_FILE", name);
    file = push_env_get(envp, file_name);
    if (secret && *secret && file && *file) {
        snprintf(err, errlen, "%s: set either it or %s, not both", name, file_name);
        return -1;
    }
    if (file && *file) {
        at = file_name;
        if (read_secret_file(dst, file, file_name, err, errlen) < 0)
            return -1;
    } else if (secret && *secret) {
        if (strlen(secret) > PUSH_SECRET_MAX)
            return fail(err, errlen, name, "longer than 256 bytes");
        memcpy(dst, secret, strlen(secret) + 1);
    } else {
        return 0;
    }
    *len = strlen(dst);
    if (*len < PUSH_SECRET_MIN)
        return fail(err, errlen, at, "shorter than 16 bytes; use a long random string");
    return 0;
}

static int load_secrets(struct push_config *cfg, char *const *envp, char *err, size_t errlen)
{
    if (load_secret(cfg->token_secret, &cfg->token_secret_len, "PUSH_TOKEN_SECRET", envp, err,
                    errlen) < 0
        || load_secret(cfg->token_secret_previous, &cfg->token_secret_previous_len,
                       "PUSH_TOKEN_SECRET_PREVIOUS", envp, err, errlen) < 0)
        return -1;
    if (cfg->token_secret_previous_len && !cfg->token_secret_len)
        return fail(err, errlen, "PUSH_TOKEN_SECRET_PREVIOUS",
                    "set without PUSH_TOKEN_SECRET: the previous secret only verifies, the "
                    "current one signs");
    return 0;
}

int push_config_secrets(const struct push_config *cfg, struct push_secret out[2])
{
    out[0] = (struct push_secret){ cfg->token_secret, cfg->token_secret_len };
    out[1] = (struct push_secret){ cfg->token_secret_previous, cfg->token_secret_previous_len };
    return 2;
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
        { "PUSH_REPLICA_WAIT", 0, 60000, &cfg->replica_wait_ms },
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
        { "PUSH_ANSWER_CACHE", 0, 1000000, &cfg->answer_cache },
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
    cfg->replica_wait_ms = 100;
    cfg->db_prepare = 1;
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
    cfg->answer_cache = 1024;

    if ((v = push_env_get(envp, "PUSH_DATABASE_URL"))
        && copy_str(cfg->database_url, sizeof cfg->database_url, v, "PUSH_DATABASE_URL", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_LISTEN_DATABASE_URL"))
        && copy_str(cfg->listen_database_url, sizeof cfg->listen_database_url, v,
                    "PUSH_LISTEN_DATABASE_URL", err, errlen))
        return -1;
    if ((v = push_env_get(envp, "PUSH_REPLICA_DATABASE_URL"))
        && copy_str(cfg->replica_database_url, sizeof cfg->replica_database_url, v,
                    "PUSH_REPLICA_DATABASE_URL", err, errlen))
        return -1;
    if (load_secrets(cfg, envp, err, errlen) < 0)
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
    if ((v = push_env_get(envp, "PUSH_DB_PREPARE"))
        && parse_bool(v, &cfg->db_prepare, "PUSH_DB_PREPARE", err, errlen))
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

/* --- the configuration file */

/* push-mqtt's and push-webpush's settings (their --help): one file serves every program, so each
 * one knows them all */
static const char *const daemon_keys[] = {
    "PUSH_MQTT_HOST", "PUSH_MQTT_PORT", "PUSH_MQTT_USER", "PUSH_MQTT_PASSWORD_FILE",
    "PUSH_MQTT_CLIENT_ID", "PUSH_MQTT_TOPIC_PREFIX", "PUSH_MQTT_KEEPALIVE",
    "PUSH_MQTT_MAX_INFLIGHT", "PUSH_MQTT_BATCH", "PUSH_MQTT_ACK_TIMEOUT", "PUSH_MQTT_STATUS_LISTEN",
    /* and push-webpush's (webpush/push_webpush_config) */
    "PUSH_WEBPUSH_VAPID_KEY", "PUSH_WEBPUSH_SUBJECT", "PUSH_WEBPUSH_HOSTS", "PUSH_WEBPUSH_ALLOW_HTTP",
    "PUSH_WEBPUSH_CA_FILE", "PUSH_WEBPUSH_MAX_PER_USER", "PUSH_WEBPUSH_TTL", "PUSH_WEBPUSH_URGENCY",
    "PUSH_WEBPUSH_TOPIC", "PUSH_WEBPUSH_RATE", "PUSH_WEBPUSH_HOST_CONNECTIONS", "PUSH_WEBPUSH_TIMEOUT",
    "PUSH_WEBPUSH_BACKOFF_MAX", "PUSH_WEBPUSH_ACTIVE", "PUSH_WEBPUSH_BATCH", "PUSH_WEBPUSH_PAYLOAD_MAX",
    "PUSH_WEBPUSH_STATS_INTERVAL",
};

/* Is key a setting of push_config_help: a line of it that begins "  KEY" and then a space or
 * "="? The help is the one list, so a setting documented is a setting the file may hold. */
static int in_help(const char *key)
{
    size_t len = strlen(key);

    for (const char *p = push_config_help; (p = strstr(p, key)); p += len)
        if (p - push_config_help >= 3 && memcmp(p - 3, "\n  ", 3) == 0
            && (p[len] == ' ' || p[len] == '='))
            return 1;
    return 0;
}

static int key_form(const char *key)
{
    if (!((*key >= 'A' && *key <= 'Z') || (*key >= 'a' && *key <= 'z') || *key == '_'))
        return 0;
    return strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
           == strlen(key);
}

const char *push_config_listen_url(const struct push_config *cfg)
{
    return cfg->listen_database_url[0] ? cfg->listen_database_url : cfg->database_url;
}

int push_config_key_known(const char *key)
{
    if (strncmp(key, "PG", 2) == 0 && key[2])
        return strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(key);
    if (strncmp(key, "PUSH_", 5) != 0 || !key_form(key))
        return 0;
    for (size_t i = 0; i < sizeof daemon_keys / sizeof daemon_keys[0]; i++)
        if (strcmp(key, daemon_keys[i]) == 0)
            return 1;
    return in_help(key);
}

static int line_fail(char *err, size_t errlen, const char *name, int line, const char *why,
                     const char *key)
{
    if (key)
        snprintf(err, errlen, "%s:%d: %s: %s", name, line, key, why);
    else
        snprintf(err, errlen, "%s:%d: %s", name, line, why);
    return -1;
}

static char *trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* One line (NUL-terminated, without its newline): a comment, a blank, or a pair added to f. */
static int parse_line(struct push_conffile *f, char *line, int no, const char *name, char *err,
                      size_t errlen)
{
    char *key, *value, *eq;
    size_t n;

    line = trim(line);
    if (!*line || *line == '#' || *line == ';')
        return 0;
    if (!(eq = strchr(line, '=')))
        return line_fail(err, errlen, name, no, "expected KEY=VALUE", NULL);
    *eq = '\0';
    key = trim(line);
    value = trim(eq + 1);
    if (!key_form(key))
        return line_fail(err, errlen, name, no, "expected KEY=VALUE, KEY letters, digits and _",
                         NULL);
    if (!push_config_key_known(key))
        return line_fail(err, errlen, name, no, "unknown setting (see --help)", key);
    n = strlen(value);
    if (n && value[n - 1] == '\\')
        return line_fail(err, errlen, name, no, "a line continuation (\\ at the end) is not "
                                                "supported", key);
    if (*value == '"' || *value == '\'') {
        if (n < 2 || value[n - 1] != *value || memchr(value + 1, *value, n - 2))
            return line_fail(err, errlen, name, no, "a quote without its end", key);
        value[n - 1] = '\0';
        value++;
    }
    f->pairs[f->n++] = (struct push_conffile_pair){ key, value, no };
    return 0;
}

/* push_conffile_parse's loop over the lines of f->text (len bytes); -1 at the first bad one. */
static int parse_lines(struct push_conffile *f, size_t len, const char *name, char *err,
                       size_t errlen)
{
    int no = 0;

    for (char *p = f->text, *end = f->text + len; p <= end; no++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > PUSH_CONFIG_LINE_MAX)
            return line_fail(err, errlen, name, no + 1, "a line longer than 4096 bytes", NULL);
        if (memchr(p, '\0', n))
            return line_fail(err, errlen, name, no + 1, "a NUL byte", NULL);
        p[n] = '\0';
        if (parse_line(f, p, no + 1, name, err, errlen) < 0)
            return -1;
        p += n + 1;
    }
    return 0;
}

int push_conffile_parse(struct push_conffile *f, const char *name, const char *text, size_t len,
                        char *err, size_t errlen)
{
    size_t lines = 1;

    if (len > PUSH_CONFIG_FILE_MAX) {
        for (const char *p = text; p < text + PUSH_CONFIG_FILE_MAX; p++)
            lines += *p == '\n';
        return line_fail(err, errlen, name, (int)lines, "the file is longer than 65536 bytes",
                         NULL);
    }
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    f->text = xmalloc(len + 1);
    memcpy(f->text, text, len);
    f->text[len] = '\0';
    f->pairs = xcalloc(lines, sizeof *f->pairs);
    f->n = 0;
    if (parse_lines(f, len, name, err, errlen) < 0) {
        push_conffile_free(f); /* nothing half-parsed is left for the caller to use or free */
        return -1;
    }
    return 0;
}

void push_conffile_free(struct push_conffile *f)
{
    free(f->pairs);
    free(f->text);
    f->pairs = NULL;
    f->text = NULL;
    f->n = 0;
}

int push_conffile_read(struct push_conffile *f, const char *path, int required, char *err,
                       size_t errlen)
{
    char *buf = xmalloc(PUSH_CONFIG_FILE_MAX + 1);
    size_t len;
    int rc, saved;
    FILE *in;

    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    if (!(in = fopen(path, "r"))) {
        saved = errno;
        free(buf);
        if (saved == ENOENT && !required)
            return 0;
        snprintf(err, errlen, "configuration file %.900s: %s", path, strerror(saved));
        return -1;
    }
    /* one byte past the bound tells a file that is too long */
    len = fread(buf, 1, PUSH_CONFIG_FILE_MAX + 1, in);
    saved = errno;
    if (ferror(in)) {
        fclose(in);
        free(buf);
        snprintf(err, errlen, "configuration file %.900s: %s", path, strerror(saved));
        return -1;
    }
    fclose(in);
    f->found = 1;
    rc = push_conffile_parse(f, path, buf, len, err, errlen);
    free(buf);
    return rc;
}

/* --- where the settings come from */

void push_config_source_init(struct push_config_source *src, const char *option,
                             char *const *envp)
{
    const char *env = push_env_get(envp, "PUSH_CONFIG");

    memset(src, 0, sizeof *src);
    if (option || (env && *env)) {
        snprintf(src->path, sizeof src->path, "%s", option ? option : env);
        src->required = 1;
    } else {
        snprintf(src->path, sizeof src->path, "%s", PUSH_SYSCONFDIR "/pgpush/pgpush.conf");
    }
}

void push_config_source_describe(const struct push_config_source *src, char *buf, size_t size)
{
    if (src->found)
        snprintf(buf, size, "configuration file %s: %d settings (the environment overrides them)",
                 src->path, src->settings);
    else
        snprintf(buf, size, "no configuration file at %s (none is needed: the environment alone "
                            "serves)", src->path);
}

/* The file's PG* pairs as "KEY=VALUE\n"..., the last of a key winning (a new string). */
static char *pg_pairs(const struct push_conffile *f)
{
    size_t size = 1;
    char *out, *p;

    for (size_t i = 0; i < f->n; i++)
        size += strlen(f->pairs[i].key) + strlen(f->pairs[i].value) + 2;
    p = out = xmalloc(size);
    *p = '\0';
    for (size_t i = 0; i < f->n; i++) {
        int later = 0;
        if (strncmp(f->pairs[i].key, "PG", 2) != 0)
            continue;
        for (size_t j = i + 1; j < f->n; j++)
            later |= strcmp(f->pairs[j].key, f->pairs[i].key) == 0;
        if (!later)
            p += sprintf(p, "%s=%s\n", f->pairs[i].key, f->pairs[i].value);
    }
    return out;
}

/* envp first, then the file's pairs from the last to the first: push_env_get takes the first it
 * finds, so the environment wins, and of a key set twice in the file its last line. */
static char **merge(const struct push_conffile *f, char *const *envp, char **strings)
{
    size_t n = 0, k = 0;
    char **out;

    while (envp && envp[n])
        n++;
    out = xcalloc(n + f->n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[k++] = envp[i];
    for (size_t i = f->n; i-- > 0;) {
        strings[i] = xmalloc(strlen(f->pairs[i].key) + strlen(f->pairs[i].value) + 2);
        sprintf(strings[i], "%s=%s", f->pairs[i].key, f->pairs[i].value);
        out[k++] = strings[i];
    }
    return out;
}

/* When err names a setting ("NAME: ...") that came from the file, puts its "FILE:LINE: " first. */
static void locate(const struct push_conffile *f, char *const *envp, char *err, size_t errlen)
{
    size_t klen = strcspn(err, ":");
    char key[128], *copy;

    if (klen == 0 || klen >= sizeof key || err[klen] != ':')
        return;
    memcpy(key, err, klen);
    key[klen] = '\0';
    if (push_env_get(envp, key))
        return;
    for (size_t i = f->n; i-- > 0;) {
        if (strcmp(f->pairs[i].key, key) == 0) {
            copy = xstrdup(err);
            snprintf(err, errlen, "%s:%d: %s", f->path, f->pairs[i].line, copy);
            free(copy);
            return;
        }
    }
}

int push_config_read(struct push_config *cfg, struct push_config_source *src, char *const *envp,
                     int export_pg, char *err, size_t errlen)
{
    struct push_conffile f;
    char **merged, **strings;
    int rc;

    if (push_conffile_read(&f, src->path, src->required, err, errlen) < 0) {
        push_conffile_free(&f);
        return -1;
    }
    strings = xcalloc(f.n + 1, sizeof *strings);
    merged = merge(&f, envp, strings);
    rc = push_config_load(cfg, merged, err, errlen);
    if (rc < 0)
        locate(&f, envp, err, errlen);
    if (rc == 0) {
        src->found = f.found;
        src->settings = (int)f.n;
        if (export_pg) {
            for (size_t i = 0; i < f.n; i++)
                if (strncmp(f.pairs[i].key, "PG", 2) == 0 && !push_env_get(envp, f.pairs[i].key))
                    setenv(f.pairs[i].key, f.pairs[i].value, 1);
            free(src->pg);
            src->pg = pg_pairs(&f);
        } else if (src->pg) {
            char *now = pg_pairs(&f);
            if (strcmp(now, src->pg) != 0)
                push_log_warn("reload: the PG* variables of %s changed: the database "
                              "connections need a restart to use them", src->path);
            free(now);
        }
    }
    for (size_t i = 0; i < f.n; i++)
        free(strings[i]);
    free(strings);
    free(merged);
    push_conffile_free(&f);
    return rc;
}

char **push_config_env(struct push_config_source *src, char *const *envp, char *err,
                       size_t errlen)
{
    struct push_conffile f;
    char **merged, **strings, **out;
    size_t n = 0;

    if (push_conffile_read(&f, src->path, src->required, err, errlen) < 0) {
        push_conffile_free(&f);
        return NULL;
    }
    strings = xcalloc(f.n + 1, sizeof *strings);
    merged = merge(&f, envp, strings);
    while (merged[n])
        n++;
    out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(merged[i]);
    for (size_t i = 0; i < f.n; i++)
        free(strings[i]);
    free(strings);
    free(merged);
    push_conffile_free(&f);
    return out;
}

void push_config_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* --- the settings in force */

static _Atomic(const struct push_config *) live;

struct hook {
    void (*fn)(void *arg, const struct push_config *cfg);
    void *arg;
};

/* hooks are registered while the reload thread may already run: under hooks_lock */
static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hook hooks[4];
static int n_hooks;

/* Every copy ever published, newest first: a reader may still hold an older one, so none is freed;
 * kept on this list, they stay reachable (and LeakSanitizer sees no leak at exit). */
struct published {
    struct push_config cfg;
    struct published *older;
};
static struct published *published;
static pthread_mutex_t published_lock = PTHREAD_MUTEX_INITIALIZER;

void push_config_publish(const struct push_config *cfg)
{
    struct published *p = xmalloc(sizeof *p);

    memcpy(&p->cfg, cfg, sizeof p->cfg);
    pthread_mutex_lock(&published_lock);
    p->older = published;
    published = p;
    pthread_mutex_unlock(&published_lock);
    atomic_store_explicit(&live, &p->cfg, memory_order_release);
}

const struct push_config *push_config_current(const struct push_config *cfg)
{
    const struct push_config *now = atomic_load_explicit(&live, memory_order_acquire);

    return now ? now : cfg;
}

void push_config_on_reload(void (*fn)(void *arg, const struct push_config *cfg), void *arg)
{
    pthread_mutex_lock(&hooks_lock);
    if (n_hooks == (int)(sizeof hooks / sizeof hooks[0]))
        abort(); /* a programming error: raise the bound */
    hooks[n_hooks].fn = fn;
    hooks[n_hooks++].arg = arg;
    pthread_mutex_unlock(&hooks_lock);
}

#define F(name, field, reloads) { name, offsetof(struct push_config, field), \
                                  sizeof ((struct push_config *)0)->field, reloads }

/* Every setting, and whether a running process takes a new value (README "Reload (SIGHUP)").
 * The others are fixed at start: the sockets, threads, pool and the hub's size are made then, and
 * PUSH_DEMO and PUSH_ALLOW_OWNER say what to trust, which no signal should change. */
static const struct {
    const char *name;
    size_t offset, size;
    int reloads;
} fields[] = {
    F("PUSH_TOKEN_SECRET", token_secret, 1),
    F("PUSH_TOKEN_SECRET", token_secret_len, 1),
    F("PUSH_TOKEN_SECRET_PREVIOUS", token_secret_previous, 1),
    F("PUSH_TOKEN_SECRET_PREVIOUS", token_secret_previous_len, 1),
    F("PUSH_LOG_LEVEL", log_level, 1),
    F("PUSH_LOG_TIME", log_time, 1),
    F("PUSH_LIMIT_DEFAULT", default_limit, 1),
    F("PUSH_LIMIT_MAX", max_limit, 1),
    F("PUSH_MAX_STREAMS_PER_USER", max_streams_per_user, 1),
    F("PUSH_HEARTBEAT", heartbeat, 1),
    F("PUSH_LIFETIME", lifetime, 1),
    F("PUSH_HOLD", hold, 1),
    F("PUSH_HOLD_MAX", hold_max, 1),
    F("PUSH_RETRY", retry_ms, 1),
    F("PUSH_TICKET_TTL", ticket_ttl, 1),
    F("PUSH_WRITE_TIMEOUT", write_timeout, 1),
    F("PUSH_DRAIN_TIME", drain_time, 1),
    F("PUSH_DRAIN_SPREAD", drain_spread_ms, 1),
    F("PUSH_ALLOWED_ORIGINS", allowed_origins, 1),
    F("PUSH_WS_ORIGINS", ws_origins, 1),
    F("PUSH_DATABASE_URL", database_url, 0),
    F("PUSH_LISTEN_DATABASE_URL", listen_database_url, 0),
    F("PUSH_DB_PREPARE", db_prepare, 0),
    F("PUSH_ALLOW_OWNER", allow_owner, 0),
    F("PUSH_TOKEN_COOKIE", token_cookie, 0),
    F("PUSH_DEMO", demo, 0),
    F("PUSH_LISTEN", listen, 0),
    F("PUSH_SOCKET_MODE", socket_mode, 0),
    F("PUSH_THREADS", threads, 0),
    F("PUSH_THREAD_STACK", thread_stack_kb, 0),
    F("PUSH_DB_POOL", db_pool, 0),
    F("PUSH_REPLICA_DATABASE_URL", replica_database_url, 0),
    F("PUSH_REPLICA_WAIT", replica_wait_ms, 0),
    F("PUSH_MAX_STREAMS", max_streams, 0),
    F("PUSH_LISTEN_BACKLOG", listen_backlog, 0),
    F("PUSH_STATE_CACHE", state_cache, 0),
    F("PUSH_ANSWER_CACHE", answer_cache, 0),
    F("PUSH_WS_LISTEN", ws_listen, 0),
    F("PUSH_WS_TRUST_USER_HEADER", ws_user_header, 0),
    F("PUSH_WS_STATUS_LISTEN", ws_status_listen, 0),
};

#undef F

/* Appends name to list (", "-separated) unless it is there already. */
static void add_name(char *list, size_t size, const char *name)
{
    size_t len = strlen(list), nlen = strlen(name);

    for (const char *p = list; (p = strstr(p, name)); p += nlen)
        if ((p == list || p[-1] == ' ') && (p[nlen] == ',' || p[nlen] == '\0'))
            return;
    snprintf(list + len, size - len, "%s%s", len ? ", " : "", name);
}

int push_config_reload(struct push_config_source *src, char *const *envp)
{
    const struct push_config *old = atomic_load_explicit(&live, memory_order_acquire), *in_force;
    struct push_config *next = xmalloc(sizeof *next);
    char err[1200], changed[1024] = "", kept[1024] = "";

    if (push_config_read(next, src, envp, 0, err, sizeof err) < 0) {
        push_log_error("reload: %s; every setting is kept as it was", err);
        free(next);
        return -1;
    }
    /* a listen address given on the command line is the program's, not the file's */
    memcpy(next->listen, old->listen, sizeof next->listen);
    memcpy(next->ws_listen, old->ws_listen, sizeof next->ws_listen);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char *now = (char *)next + fields[i].offset;
        const char *was = (const char *)old + fields[i].offset;
        if (memcmp(now, was, fields[i].size) == 0)
            continue;
        add_name(fields[i].reloads ? changed : kept, fields[i].reloads ? sizeof changed
                                                                       : sizeof kept,
                 fields[i].name);
        if (!fields[i].reloads)
            memcpy(now, was, fields[i].size);
    }
    if (*kept)
        push_log_warn("reload: changed, but needs a restart (kept as it was): %s", kept);
    if (!*changed) {
        push_log_info("reload: %s read; nothing that reloads changed", src->found ? src->path
                                                                                  : "environment");
        free(next);
        return 0;
    }
    /* old stays allocated: a thread may still be reading it (push_config_publish) */
    push_config_publish(next);
    free(next);
    in_force = atomic_load_explicit(&live, memory_order_acquire);
    push_log_set(in_force->log_level, in_force->log_time);
    pthread_mutex_lock(&hooks_lock);
    for (int i = 0; i < n_hooks; i++)
        hooks[i].fn(hooks[i].arg, in_force);
    pthread_mutex_unlock(&hooks_lock);
    push_log_info("reload: %s read; changed: %s", src->found ? src->path : "environment", changed);
    return 0;
}
