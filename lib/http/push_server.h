/* push_server.h: serving requests as CGI, as a spawned FastCGI program, or as an external daemon */
#ifndef PUSH_SERVER_H
#define PUSH_SERVER_H

#include "core/push_config.h"
#include "store/push_db.h"

/* Every accepted connection gets SO_SNDTIMEO = cfg->write_timeout: a client that takes no data
 * for that long fails the write that waits for it, and the program drops it. */
#include "http/push_request.h"

/* What a program plugs in. Each worker thread gets its own state from worker_new (which must
 * not fail: allocate, connect nothing) and hands it to every request it serves. */
struct push_server {
    const struct push_config *cfg;
    void *app;
    void *(*worker_new)(void *app);
    void (*worker_free)(void *state);
    void (*handle)(struct push_request *r, void *state);
    int threads_spawned;  /* workers when PUSH_THREADS is unset: spawned by the web server */
    int threads_external; /* ... and as an external server */
    /* optional, as FastCGI after push_server_hold_stops: SIGTERM (or SIGINT, SIGUSR1) calls
     * drain, which tells every open client to come back (within cfg->drain_spread_ms) and
     * answers newcomers the same way; the process exits once open returns 0, or after
     * cfg->drain_time s. Without them these signals end the process at once. */
    void (*drain)(void *app);
    int (*open)(void *app);
};

/* The workers of a program that answers from the database in the worker's thread (push-poll,
 * push-demo): each holds one connection of its own. What they share, as the push_server's app: */
struct push_db_workers {
    const struct push_config *cfg;
    const char *name; /* the connections' application_name: the program's name */
    void *arg;        /* the program's own, shared by every worker (push-poll: its state cache) */
};

/* One such worker's state, handed to every request it serves. */
struct push_db_worker {
    const struct push_config *cfg;
    void *arg;         /* the push_db_workers' */
    struct push_db db; /* on cfg->database_url, connected at its first use */
};

/* worker_new and worker_free for them: app is a struct push_db_workers. */
void *push_server_db_worker_new(void *app);
void push_server_db_worker_free(void *state);

/* push_server_run with such workers (arg shared by them all), one thread when spawned and 8 as an
 * external server unless PUSH_THREADS says otherwise: push-poll's and push-demo's way. */
int push_server_run_db(const struct push_config *cfg, const char *name,
                       void (*handle)(struct push_request *r, void *state), void *arg);

/* Serves until the end, picking the mode:
 * - cfg->listen set: an external FastCGI server on that socket path or [host]:port, with
 *   cfg->threads workers (default threads_external);
 * - started by a web server with a listening socket on fd 0 (mod_fcgid, lighttpd bin-path):
 *   FastCGI, cfg->threads workers (default threads_spawned);
 * - otherwise: plain CGI, one request from the environment and stdin.
 * Returns the process exit status. */
int push_server_run(const struct push_server *s);

/* Whether push_server_run would serve one plain CGI request (no FastCGI socket, no PUSH_LISTEN):
 * a process that lives for one request has no use for caches or a LISTEN connection. */
int push_server_is_cgi(const struct push_config *cfg);

/* Descriptors a process keeps besides its clients' connections: stdio, the listening socket, the
 * LISTEN connection and its reconnection, the event loops' epoll, eventfds and signalfd, files
 * libpq and the log may open, and a margin. The PUSH_DB_POOL connections are counted apart. */
#define PUSH_FD_RESERVE 32

/* How many client connections the open-file limit leaves room for, after raising the soft limit
 * to the hard one: the limit less PUSH_FD_RESERVE and cfg->db_pool (at least 2). */
long push_server_fd_room(const struct push_config *cfg);

/* The worker threads push_server_run will start in this mode: PUSH_THREADS or the program's
 * default, cut (with a warning) to half of push_server_fd_room, so that connections in the
 * workers' hands leave room for the streams. */
int push_server_threads(const struct push_server *s);

/* PUSH_MAX_STREAMS capped so that the streams and `others` other connections (workers' requests
 * in hand, sockets still upgrading) fit in push_server_fd_room: then a client past it gets 503
 * too_many_streams instead of the process running out of descriptors. Logs the cap at info, and
 * a warning saying how to raise the limit when it is below PUSH_MAX_STREAMS. */
int push_server_stream_cap(const struct push_config *cfg, long others);

/* Makes SIGPIPE harmless in this thread and every thread started after it; call before
 * starting any thread (push_program_init does). */
void push_server_signals(void);

/* Blocks SIGTERM, SIGINT and SIGUSR1 in this thread and every thread started after it, so that
 * push_server_run decides what they do (see drain above; plain CGI and a server without drain
 * still end at once). Call before starting any thread. */
void push_server_hold_stops(void);

/* Opens a listening socket for "path" (contains a '/') or "[host]:port" (host defaults to
 * 127.0.0.1) with room for backlog connections not yet accepted (PUSH_LISTEN_BACKLOG; a warning
 * when the kernel's net.core.somaxconn cuts it). Returns the fd, or -1 with the reason in err. */
int push_server_listen(const char *spec, int mode, int backlog, char *err, size_t errlen);

#endif
