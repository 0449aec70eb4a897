/* push_server.c: the accept loops: CGI, spawned FastCGI, external FastCGI with worker threads */
#include "config.h"

#include "http/push_server.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "core/push_log.h"
#include "core/push_util.h"
#include "http/push_fcgi.h"

extern char **environ;

/* --- CGI stdio */

static int stdio_write(void *ctx, const char *buf, size_t len)
{
    return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

static int stdio_flush(void *ctx)
{
    return fflush(stdout) == 0 ? 0 : -1;
}

static long stdio_read(void *ctx, char *buf, size_t len)
{
    size_t n = fread(buf, 1, len, stdin);

    return n == 0 && ferror(stdin) ? -1 : (long)n;
}

static int stdio_error(void *ctx)
{
    return ferror(stdout) ? errno : 0;
}

static const struct push_request_io stdio_io = {
    .write = stdio_write,
    .flush = stdio_flush,
    .read = stdio_read,
    .error = stdio_error,
    .closed = NULL, /* plain CGI: no way to tell without writing */
    .detach = NULL,
};

/* --- sockets */

/* Binds fd to path with mode, so that the socket never exists with wider permissions: it is
 * bound in a new directory beside path that only we may enter (mkdtemp: 0700), given its mode
 * there, set listening, then renamed into place. The umask cannot serve: other threads may be
 * running. The rename replaces whatever socket path held at once: a new process started beside a
 * draining one takes its clients over with no moment in which connecting fails. Returns 0, or -1
 * with errno. */
static int bind_private(int fd, const char *path, int mode, int backlog)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char dir[sizeof sa.sun_path - 2]; /* room for "/s" */
    int rc = -1, saved, n = snprintf(dir, sizeof dir, "%s.XXXXXX", path);

    if (n < 0 || (size_t)n >= sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!mkdtemp(dir))
        return -1;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/s", dir);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && chmod(sa.sun_path, (mode_t)mode) == 0
        && listen(fd, backlog) == 0 && rename(sa.sun_path, path) == 0)
        rc = 0;
    saved = errno;
    unlink(sa.sun_path);
    rmdir(dir);
    errno = saved;
    return rc;
}

static int listen_unix(const char *path, int mode, int backlog, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    size_t max = sizeof sa.sun_path - sizeof ".XXXXXX/s"; /* room for bind_private's name */
    int fd;

    if (strlen(path) > max) {
        snprintf(err, errlen, "socket path longer than %zu bytes: %s", max, path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (bind_private(fd, path, mode, backlog) < 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int listen_tcp(const char *spec, int backlog, char *err, size_t errlen)
{
    const char *colon = strrchr(spec, ':');
    char host[256] = "127.0.0.1";
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    int fd = -1, one = 1, rc;

    if (!colon || !colon[1]) {
        snprintf(err, errlen, "PUSH_LISTEN: expected a socket path (with a '/') or [host]:port, got %s",
                 spec);
        return -1;
    }
    if (colon > spec) {
        size_t n = (size_t)(colon - spec);
        if (spec[0] == '[' && colon[-1] == ']')
            spec++, n -= 2;
        if (n >= sizeof host) {
            snprintf(err, errlen, "PUSH_LISTEN: host name too long");
            return -1;
        }
        memcpy(host, spec, n);
        host[n] = '\0';
    }
    rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "PUSH_LISTEN: cannot resolve %s port %s: %s", host, colon + 1,
                 gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s port %s: %s", host, colon + 1, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* The kernel silently cuts a listen() backlog to net.core.somaxconn: say so, with the fix. */
static void check_backlog(int backlog)
{
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    int max = 0;

    if (f) {
        if (fscanf(f, "%d", &max) != 1)
            max = 0;
        fclose(f);
    }
    if (max > 0 && backlog > max)
        push_log_warn("PUSH_LISTEN_BACKLOG=%d is cut to net.core.somaxconn=%d by the kernel; raise "
                      "it with sysctl -w net.core.somaxconn=%d", backlog, max, backlog);
}

int push_server_listen(const char *spec, int mode, int backlog, char *err, size_t errlen)
{
    int fd = strchr(spec, '/') ? listen_unix(spec, mode, backlog, err, errlen)
                               : listen_tcp(spec, backlog, err, errlen);

    if (fd >= 0)
        check_backlog(backlog);
    return fd;
}

/* --- workers */

struct worker_arg {
    const struct push_server *server;
    int sock;
    int external; /* our own socket: accept errors are retried, not fatal */
};

/* Out of descriptors or memory: the open streams go on being served, and accepting resumes once
 * some close. push_server_stream_cap keeps the streams within the open-file limit, so this is
 * only reached when something else holds descriptors (or the whole system is out of them). */
static int shortage(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM;
}

/* Waits before the next accept: 10 ms after the first shortage, doubling to 1 s; says so at the
 * first of a run. Returns the wait to pass to the next call. */
static int backoff(int rc, int last_ms)
{
    int ms = last_ms ? (last_ms * 2 > 1000 ? 1000 : last_ms * 2) : 10;

    if (!last_ms)
        push_log_warn("FastCGI accept: %s; streams go on, accepting again in %d ms and up to every "
                      "second (raise LimitNOFILE / ulimit -n, or lower PUSH_MAX_STREAMS)",
                      strerror(-rc), ms);
    nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
    return ms;
}

#define DRAIN_STDIN_MAX 65536 /* bytes of a request's body read and dropped before closing */

/* Reads what is left of the request's stdin, up to its end (the web server's empty FCGI_STDIN
 * record) or DRAIN_STDIN_MAX bytes, before the connection is closed. An answer given before the
 * web server has sent that record (a 401 on the request's head alone) would otherwise close the
 * socket under its last write: Apache's mod_proxy_fcgi then fails with EPIPE ("Error dispatching
 * request ... sending empty stdin") and answers 503 in place of our answer. Not for a request the
 * event loop took over (its descriptor is gone: ipcFd -1). */
static void drain_stdin(FCGX_Request *req)
{
    char buf[4096];
    long total = 0;
    int n;

    if (req->ipcFd < 0)
        return;
    while (total < DRAIN_STDIN_MAX && (n = FCGX_GetStr(buf, sizeof buf, req->in)) > 0)
        total += n;
}

static void *worker_main(void *p)
{
    const struct worker_arg *arg = p;
    const struct push_server *s = arg->server;
    void *state = s->worker_new(s->app);
    FCGX_Request req;

    if (FCGX_InitRequest(&req, arg->sock, 0) != 0) {
        push_log_error("cannot set up a FastCGI request");
        exit(1);
    }
    for (int failures = 0, short_ms = 0;;) {
        int rc = FCGX_Accept_r(&req);
        if (rc >= 0) {
            struct push_request r = { req.envp, &push_fcgi_io, &req };
            struct timeval tv = { push_config_current(s->cfg)->write_timeout, 0 };
            failures = short_ms = 0;
            setsockopt(req.ipcFd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            s->handle(&r, state);
            drain_stdin(&req);
            FCGX_Finish_r(&req);
            continue;
        }
        FCGX_Free(&req, 1);
        FCGX_InitRequest(&req, arg->sock, 0);
        if (shortage(rc)) {
            short_ms = backoff(rc, short_ms);
            continue;
        }
        if (!arg->external) {
            /* the web server closed our socket: it is stopping or replacing us */
            push_log_debug("FastCGI accept: %s; exiting", strerror(-rc));
            exit(0);
        }
        /* a transient accept error (a connection reset before we took it) must not cost a
         * worker; a persistent one (a socket gone bad) ends the process so that its supervisor
         * restarts it */
        if (++failures == 1000) {
            push_log_error("FastCGI accept keeps failing: %s; exiting", strerror(-rc));
            exit(1);
        }
        /* a signal, or a web server that hung up between connecting and sending the request,
         * is routine under load; anything else is worth a line */
        if (rc == -EINTR || rc == -EPIPE || rc == -ECONNRESET || rc == -ECONNABORTED)
            push_log_debug("FastCGI accept: %s", strerror(-rc));
        else
            push_log_warn("FastCGI accept: %s", strerror(-rc));
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
    return NULL;
}

void *push_server_db_worker_new(void *app)
{
    const struct push_db_workers *all = app;
    struct push_db_worker *w = xcalloc(1, sizeof *w);

    w->cfg = all->cfg;
    w->arg = all->arg;
    push_db_init(&w->db, w->cfg->database_url, all->name);
    return w;
}

void push_server_db_worker_free(void *state)
{
    struct push_db_worker *w = state;

    push_db_close(&w->db);
    free(w);
}

int push_server_run_db(const struct push_config *cfg, const char *name,
                       void (*handle)(struct push_request *r, void *state), void *arg)
{
    struct push_db_workers workers = { cfg, name, arg };
    struct push_server server = { .cfg = cfg, .app = &workers,
                                  .worker_new = push_server_db_worker_new,
                                  .worker_free = push_server_db_worker_free, .handle = handle,
                                  .threads_spawned = 1, .threads_external = 8 };

    return push_server_run(&server);
}

/* --- stopping */

static int stops_held; /* push_server_hold_stops was called */

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGUSR1);
}

void push_server_hold_stops(void)
{
    sigset_t set;

    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    stops_held = 1;
}

/* The signals end the process at once again: delivered to this thread, the only one that takes
 * them. */
static void release_stops(void)
{
    sigset_t set;

    if (!stops_held)
        return;
    stop_signals(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static const char *signal_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : sig == SIGUSR1 ? "SIGUSR1" : "a signal";
}

/* Waits for a stop signal, drains, exits. A second signal meanwhile exits at once. */
static void *drainer_main(void *p)
{
    const struct push_server *s = p;
    const struct push_config *cfg;
    struct timespec tick = { 0, 20 * 1000 * 1000 };
    sigset_t set;
    long deadline;
    int sig = 0, open;

    stop_signals(&set);
    while (sigwait(&set, &sig) != 0)
        ;
    cfg = push_config_current(s->cfg); /* PUSH_DRAIN_TIME and PUSH_DRAIN_SPREAD reload */
    push_log_info("%s: draining %d streams: each client is told to come back within %d ms "
                  "(PUSH_DRAIN_SPREAD); exiting once they have taken it, within %d s "
                  "(PUSH_DRAIN_TIME)", signal_name(sig), s->open(s->app), cfg->drain_spread_ms,
                  cfg->drain_time);
    s->drain(s->app);
    deadline = push_now_ms() + cfg->drain_time * 1000L;
    while ((open = s->open(s->app)) > 0 && push_now_ms() < deadline) {
        if (sigtimedwait(&set, NULL, &tick) > 0) {
            push_log_warn("a second stop signal: exiting now, %d streams still open", open);
            _exit(1);
        }
    }
    if (open > 0)
        push_log_warn("exiting with %d streams that did not take their end within "
                      "PUSH_DRAIN_TIME=%d s", open, cfg->drain_time);
    else
        push_log_info("drained; exiting");
    /* _exit: the other threads are still running (workers in accept, the hub, the readers);
     * exit()'s handlers would tear down libpq and libc under them. Nothing is buffered: the
     * log writes straight to stderr. */
    _exit(0);
    return NULL;
}

static int start_drainer(const struct push_server *s)
{
    pthread_t t;
    int rc;

    if (!stops_held || !s->drain || !s->open) {
        release_stops();
        return 0;
    }
    rc = pthread_create(&t, NULL, drainer_main, (void *)s);
    if (rc != 0) {
        push_log_error("cannot start the drain thread: %s", strerror(rc));
        return -1;
    }
    pthread_detach(t);
    return 0;
}

static int run_fastcgi(const struct push_server *s, int sock, int threads)
{
    struct worker_arg arg = { s, sock, sock != 0 };
    pthread_attr_t attr;

    if (FCGX_Init() != 0) {
        push_log_error("cannot initialise libfcgi");
        return 1;
    }
    /* libfcgi turns SIGTERM and SIGUSR1 into a "shutdown pending" flag that only makes accept()
     * fail. Ours: a program with streams drains them (start_drainer: clients come back spread
     * over PUSH_DRAIN_SPREAD, from their cursors); any other stops at once, as web servers and
     * systemd expect. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    if (start_drainer(s) < 0)
        return 1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)s->cfg->thread_stack_kb * 1024);
    for (int i = 1; i < threads; i++) {
        pthread_t t;
        int rc = pthread_create(&t, &attr, worker_main, &arg);
        if (rc != 0) {
            push_log_error("cannot start worker thread %d of %d: %s", i + 1, threads, strerror(rc));
            return 1;
        }
        pthread_detach(t);
    }
    pthread_attr_destroy(&attr);
    worker_main(&arg);
    return 1; /* the main worker only returns when accepting failed */
}

static int run_cgi(const struct push_server *s)
{
    void *state;

    release_stops(); /* one request: a web server's SIGTERM ends it at once */
    state = s->worker_new(s->app);
    struct push_request r = { environ, &stdio_io, NULL };

    s->handle(&r, state);
    fflush(stdout);
    s->worker_free(state);
    return 0;
}

void push_server_signals(void)
{
    sigset_t pipe;

    /* a gone client or database shows as a failed write, not a dead process; blocked as well as
     * ignored (in every thread created after this), so that it never interrupts a worker
     * waiting in accept() */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
}

long push_server_fd_room(const struct push_config *cfg)
{
    struct rlimit rl;
    long room;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024 - PUSH_FD_RESERVE - cfg->db_pool;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1L << 30)
        return 1L << 30;
    room = (long)rl.rlim_cur - PUSH_FD_RESERVE - cfg->db_pool;
    return room < 2 ? 2 : room;
}

static long nofile(void)
{
    struct rlimit rl;

    return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : -1;
}

/* Every worker blocked in accept() needs a free descriptor for the connection it will get, and
 * each request in hand holds one: the threads get at most half the room (push_server_fd_room),
 * the streams the rest (push_server_stream_cap). */
static int fit_threads(const struct push_config *cfg, int threads)
{
    long half = push_server_fd_room(cfg) / 2;

    if (threads > half) {
        push_log_warn("%d threads would take more than half of the open-file limit %ld; using %ld "
                      "(raise LimitNOFILE / ulimit -n)", threads, nofile(), half);
        return half > 1 ? (int)half : 1;
    }
    return threads;
}

int push_server_threads(const struct push_server *s)
{
    const struct push_config *cfg = s->cfg;

    if (cfg->threads)
        return fit_threads(cfg, cfg->threads);
    return fit_threads(cfg, cfg->listen[0] ? s->threads_external : s->threads_spawned);
}

int push_server_stream_cap(const struct push_config *cfg, long others)
{
    long fit = push_server_fd_room(cfg) - others;

    if (fit < 1)
        fit = 1;
    if (fit < cfg->max_streams) {
        push_log_warn("PUSH_MAX_STREAMS=%d does not fit in the open-file limit %ld (less %d "
                      "descriptors kept, %d for PUSH_DB_POOL and %ld for requests in hand): at most "
                      "%ld streams; raise LimitNOFILE (systemd) or ulimit -n",
                      cfg->max_streams, nofile(), PUSH_FD_RESERVE, cfg->db_pool, others, fit);
        return (int)fit;
    }
    push_log_info("up to %d streams (PUSH_MAX_STREAMS; open-file limit %ld)", cfg->max_streams,
                  nofile());
    return cfg->max_streams;
}

int push_server_is_cgi(const struct push_config *cfg)
{
    return !cfg->listen[0] && FCGX_IsCGI();
}

int push_server_run(const struct push_server *s)
{
    const struct push_config *cfg = s->cfg;

    if (cfg->listen[0]) {
        char err[512];
        int sock = push_server_listen(cfg->listen, cfg->socket_mode, cfg->listen_backlog, err,
                                      sizeof err);
        if (sock < 0) {
            push_log_error("%s", err);
            return 1;
        }
        int threads = push_server_threads(s);
        push_log_info("listening on %s with %d threads (backlog %d)", cfg->listen, threads,
                      cfg->listen_backlog);
        return run_fastcgi(s, sock, threads);
    }
    if (!FCGX_IsCGI())
        return run_fastcgi(s, 0, push_server_threads(s));
    return run_cgi(s);
}
