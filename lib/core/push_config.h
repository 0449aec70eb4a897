/* push_config.h: the configuration every program reads at start from its configuration file
 * (README "Settings": PUSH_CONFIG or --config, default SYSCONFDIR/pgpush/pgpush.conf) and its
 * environment, which overrides the file key by key; and what a running daemon re-reads on
 * SIGHUP (README "Reload (SIGHUP)") */
#ifndef PUSH_CONFIG_H
#define PUSH_CONFIG_H

#include <stddef.h>

#include "core/push_log.h"
#include "core/push_token.h"

#define PUSH_LIMIT_CAP 1000  /* no configuration may allow more messages per answer */
#define PUSH_THREADS_CAP 20000

struct push_config;

/* The LISTEN connection's string: PUSH_LISTEN_DATABASE_URL, else PUSH_DATABASE_URL. */
const char *push_config_listen_url(const struct push_config *cfg);

struct push_config {
    char database_url[1024];   /* PUSH_DATABASE_URL; empty: libpq's own PG* variables */
    char listen_database_url[1024]; /* PUSH_LISTEN_DATABASE_URL: the LISTEN connection's, which
                                     * must reach PostgreSQL itself; empty: database_url */
    int db_prepare;            /* PUSH_DB_PREPARE: 1 named statements (default), 0 unnamed */
    int allow_owner;           /* PUSH_ALLOW_OWNER: may work as a superuser or the schema's owner */
    char token_secret[PUSH_SECRET_MAX + 1]; /* PUSH_TOKEN_SECRET(_FILE); empty: tokens refused */
    size_t token_secret_len;
    char token_secret_previous[PUSH_SECRET_MAX + 1]; /* PUSH_TOKEN_SECRET_PREVIOUS(_FILE): during
                                                      * a rotation, tokens and tickets signed with
                                                      * it still verify; nothing is signed with it */
    size_t token_secret_previous_len;
    char token_cookie[64];     /* PUSH_TOKEN_COOKIE, default "pgpush_token" */
    int ticket_ttl;            /* PUSH_TICKET_TTL, s: how long a stream ticket from push-poll
                                * may open a stream, default 60 */
    int demo;                  /* PUSH_DEMO: trust a ?user= parameter (never in production) */
    char listen[256];          /* PUSH_LISTEN: socket path or [host]:port; empty: spawned or CGI */
    int socket_mode;           /* PUSH_SOCKET_MODE for a socket path, default 0660 */
    int threads;               /* PUSH_THREADS; 0: the mode's default */
    int default_limit;         /* PUSH_LIMIT_DEFAULT, default 50 */
    int max_limit;             /* PUSH_LIMIT_MAX, default 200, at most PUSH_LIMIT_CAP */
    char allowed_origins[1024]; /* PUSH_ALLOWED_ORIGINS: space-separated origins allowed to POST
                                 * besides the request's own host */
    enum push_log_level log_level; /* PUSH_LOG_LEVEL, default info */
    int log_time;              /* PUSH_LOG_TIME: each log line begins with the UTC time, default 1;
                                * 0 under journald, which stamps lines itself */
    int thread_stack_kb;       /* PUSH_THREAD_STACK, KiB per worker thread, default 128 */
    int write_timeout;         /* PUSH_WRITE_TIMEOUT, s: a client that takes no data this long is
                                * dropped, default 30 */
    /* streaming programs (push-longpoll, push-sse, push-iframe) */
    int db_pool;               /* PUSH_DB_POOL: query connections besides the LISTEN one, default 3 */
    char replica_database_url[1024]; /* PUSH_REPLICA_DATABASE_URL: a hot standby for the streams'
                                      * reads, replay-gated (push_pool_replicas); empty: none */
    int replica_wait_ms;       /* PUSH_REPLICA_WAIT, ms a read waits for the standby, default 100 */
    int max_streams;           /* PUSH_MAX_STREAMS per process, default 1000 */
    int max_streams_per_user;  /* PUSH_MAX_STREAMS_PER_USER, default 16 */
    int heartbeat;             /* PUSH_HEARTBEAT, s, default 15 */
    int lifetime;              /* PUSH_LIFETIME, s: a stream then ends cleanly, default 240 */
    int hold;                  /* PUSH_HOLD, s: long-poll hold without ?timeout=, default 25 */
    int hold_max;              /* PUSH_HOLD_MAX, s: largest ?timeout=, default 60 */
    int retry_ms;              /* PUSH_RETRY, ms: reconnect advice to EventSource, default 3000 */
    int drain_time;            /* PUSH_DRAIN_TIME, s: after SIGTERM, how long streams get to take
                                * their end before the process exits, default 10 */
    int drain_spread_ms;       /* PUSH_DRAIN_SPREAD, ms: the window a draining process's clients
                                * are told to come back in, at random, default 5000 */
    int listen_backlog;        /* PUSH_LISTEN_BACKLOG: connections the kernel queues on our own
                                * listening socket (capped by net.core.somaxconn), default 4096 */
    /* push-poll */
    int state_cache;           /* PUSH_STATE_CACHE: users whose state a FastCGI push-poll keeps,
                                * default 16384; 0: none (and no LISTEN connection) */
    int answer_cache;          /* PUSH_ANSWER_CACHE: users whose last full answer it keeps with
                                * that state (push_answercache), default 1024; 0: none */
    /* push-ws */
    char ws_listen[256];       /* PUSH_WS_LISTEN (or --listen): socket path or [host]:port */
    char ws_status_listen[256]; /* PUSH_WS_STATUS_LISTEN: push-ws's status listener; "": none */
    char ws_origins[1024];     /* PUSH_WS_ORIGINS: comma-separated origins allowed besides the
                                * request's own host; "*": any */
    char ws_user_header[64];   /* PUSH_WS_TRUST_USER_HEADER: the header a proxy sets to the
                                * authenticated user; empty: none is trusted */
};

/* Looks name up in a NULL-terminated "NAME=value" array; NULL when absent. */
const char *push_env_get(char *const *envp, const char *name);

/* A whole-number setting: its variable, its range, and where it goes. */
struct push_env_number {
    const char *name;
    long min, max;
    int *field;
};

/* Reads each of the n settings of table that envp sets (a decimal number from min to max) into
 * its field; the others keep theirs. Returns 0, or -1 with a one-line reason in err naming the
 * variable at fault. */
int push_env_numbers(char *const *envp, const struct push_env_number *table, size_t n, char *err,
                     size_t errlen);

/* Fills cfg from envp (defaults for what is unset). Returns 0, or -1 with a one-line
 * reason in err naming the variable at fault. */
int push_config_load(struct push_config *cfg, char *const *envp, char *err, size_t errlen);

/* The --help text describing every variable above, for the programs to print. */
extern const char push_config_help[];

/* The secrets a token or a ticket may be signed with, for push_token_verify_any: the current one
 * and the previous one (either may be empty). Returns 2. */
int push_config_secrets(const struct push_config *cfg, struct push_secret out[2]);

/* --- the configuration file: the subset of systemd's EnvironmentFile= that means the same to
 * both: KEY=VALUE lines, # or ; comments, blank lines, the value optionally in double or single
 * quotes (nothing is unescaped; no line continuations). */
#define PUSH_CONFIG_LINE_MAX 4096   /* bytes of a line, its newline excluded */
#define PUSH_CONFIG_FILE_MAX 65536  /* bytes of a file */

struct push_conffile_pair {
    const char *key, *value; /* point into the file's text */
    int line;
};

struct push_conffile {
    char path[1024];
    int found;     /* 0: no file was read (the default one is absent): n is 0 */
    size_t n;      /* pairs, in the file's order (a key set twice: the last one counts) */
    struct push_conffile_pair *pairs;
    char *text;    /* the file's bytes, cut into keys and values */
};

/* Is key one the file may set: a PUSH_* setting of push_config_help or of push-mqtt, or one of
 * libpq's PG* variables (PG and capitals, digits, _)? */
int push_config_key_known(const char *key);

/* Parses the len bytes of text (named name in errors) into f, which is to be freed with
 * push_conffile_free even on failure. Returns 0, or -1 with "NAME:LINE: why" in err: a line
 * longer than PUSH_CONFIG_LINE_MAX, a file longer than PUSH_CONFIG_FILE_MAX, a NUL byte, a line
 * that is not KEY=VALUE, an unknown key, an unclosed quote, a line continuation. */
int push_conffile_parse(struct push_conffile *f, const char *name, const char *text, size_t len,
                        char *err, size_t errlen);

/* Reads the file at path into f. A missing file is no error unless required (it was named by
 * --config or PUSH_CONFIG): f->found is then 0. Returns 0, or -1 with the reason in err (the
 * file and the errno text, or push_conffile_parse's). */
int push_conffile_read(struct push_conffile *f, const char *path, int required, char *err,
                       size_t errlen);

void push_conffile_free(struct push_conffile *f);

/* Where a program's settings come from: the file (its path, whether it was named), and what of
 * it went to the environment at start. */
struct push_config_source {
    char path[1024];
    int required;   /* named by --config or PUSH_CONFIG: it must exist */
    int found;      /* the last read found it */
    int settings;   /* KEY=VALUE lines the last read found */
    char *pg;       /* the file's PG* pairs at start ("KEY=VALUE\n"...), exported to libpq */
};

/* Picks the file: option (--config) if not NULL, else PUSH_CONFIG from envp, else the default
 * SYSCONFDIR/pgpush/pgpush.conf (which may be absent). */
void push_config_source_init(struct push_config_source *src, const char *option,
                             char *const *envp);

/* Fills cfg from src's file and envp, envp winning key by key (push_config_load). With export_pg,
 * the file's PG* variables that envp does not set are exported (setenv: call before any thread).
 * Returns 0, or -1 with the reason in err, "FILE:LINE: " first when a line of the file is at
 * fault. */
int push_config_read(struct push_config *cfg, struct push_config_source *src, char *const *envp,
                     int export_pg, char *err, size_t errlen);

/* The environment as push_config_read sees it, src's file under envp: for the loaders of other
 * settings (push-mqtt's). A NULL-terminated array to free with push_config_env_free; NULL with
 * the reason in err when the file cannot be read. */
char **push_config_env(struct push_config_source *src, char *const *envp, char *err,
                       size_t errlen);
void push_config_env_free(char **env);

/* --- the settings in force, which a reload replaces whole */

/* Makes a copy of cfg the settings in force. A reader never sees half of a change: the copy is
 * immutable, published with one atomic store, and never freed (each reload that changes
 * something keeps its predecessor, sizeof(struct push_config) bytes, until the process exits). */
void push_config_publish(const struct push_config *cfg);

/* The settings in force; cfg itself until push_config_publish was called (tests, push-token).
 * Those that reload are read through it: the token secrets, the log, the limits of
 * push_config_reload's list. */
const struct push_config *push_config_current(const struct push_config *cfg);

/* Re-reads src and envp (on SIGHUP). When they are valid, publishes them (the settings that need a
 * restart keep their old values, with a warning naming each one that changed), applies the log
 * level and PUSH_LOG_TIME, calls the hooks, and logs one line naming what changed (never a value);
 * returns 0. When they are not, logs the error (with file:line) and keeps every setting as it
 * was; returns -1. Call from one thread at a time, after push_config_publish. */
int push_config_reload(struct push_config_source *src, char *const *envp);

/* Calls fn(arg, cfg) after each reload that changed something, with the new settings, in the
 * reloading thread (push_hub's per-user limit). At most 4 hooks. */
void push_config_on_reload(void (*fn)(void *arg, const struct push_config *cfg), void *arg);

/* What --check says of the file: "configuration file PATH: N settings" or "no configuration
 * file at PATH (none is needed)". */
void push_config_source_describe(const struct push_config_source *src, char *buf, size_t size);

#endif
