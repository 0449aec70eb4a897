/* push_config.h: the configuration every program reads once from its environment at start */
#ifndef PUSH_CONFIG_H
#define PUSH_CONFIG_H

#include <stddef.h>

#include "core/push_log.h"

#define PUSH_SECRET_MIN 16   /* bytes: shorter token secrets are refused */
#define PUSH_SECRET_MAX 256
#define PUSH_LIMIT_CAP 1000  /* no configuration may allow more messages per answer */
#define PUSH_THREADS_CAP 20000

struct push_config {
    char database_url[1024];   /* PUSH_DATABASE_URL; empty: libpq's own PG* variables */
    int allow_owner;           /* PUSH_ALLOW_OWNER: may work as a superuser or the schema's owner */
    char token_secret[PUSH_SECRET_MAX + 1]; /* PUSH_TOKEN_SECRET(_FILE); empty: tokens refused */
    size_t token_secret_len;
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

#endif
