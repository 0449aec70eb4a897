/* push_hub.c: the LISTEN thread, the waiters by user, and wake-ups */
#include "config.h"

#include "runtime/push_hub.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "core/push_config.h"
#include "core/push_log.h"
#include "core/push_metrics.h"
#include "core/push_util.h"
#include "store/push_db.h"
#include "store/push_notify.h"
#include "store/push_store.h"
#include "transport/push_json.h"
#include "runtime/push_expiry.h"

#define BUCKETS 16384          /* user hash buckets; chains grow past that, nothing breaks */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define QUIET_MS 10000         /* a LISTEN connection quiet this long is checked with a SELECT 1 */

struct hub_user {
    struct hub_user *next;     /* bucket chain */
    LIST_HEAD(, push_waiter) waiters;
    int count;
    char name[PUSH_USER_MAX + 1];
};

struct push_hub {
    pthread_mutex_t lock;
    int streams, max_streams, max_per_user;
    int timing; /* a stream has joined: the expiry timer runs (push_expiry), poked from then on */
    int listening;
    int carry;                  /* wake-ups' messages are wanted (push_hub_carry; atomic) */
    const char *url, *appname;
    push_hub_observer observer; /* may be NULL; set before the LISTEN thread starts */
    void *observer_arg;
    /* the LISTEN thread's own */
    struct push_notify_key key; /* push.wake_key, read at each LISTEN */
    int rekey;                  /* a seal did not open: read the keys again */
    char opened[PUSH_NOTIFY_OPEN_MAX];
    struct hub_user *bucket[BUCKETS];
    /* lending the connection to an event loop (push_hub_lend): while lent, the key, rekey,
     * opened, conn and quiet_since_ms are the borrower's, and the LISTEN thread waits */
    pthread_mutex_t lend_lock;
    pthread_cond_t lend_cond;
    int (*lend)(void *arg, int fd); /* under lend_lock */
    void *lend_arg;
    int lent;                       /* under lend_lock */
    int efd;                        /* wakes the LISTEN thread's poll when a borrower comes */
    PGconn *conn;
    long quiet_since_ms;            /* when the connection last had something to read */
};

static unsigned hash(const char *s)
{
    return push_hash(s) % BUCKETS;
}

/* Finds user's entry; with create, makes it. Called with the lock held. */
static struct hub_user *find_user(struct push_hub *hub, const char *name, int create)
{
    unsigned b = hash(name);
    struct hub_user *u;

    for (u = hub->bucket[b]; u; u = u->next)
        if (strcmp(u->name, name) == 0)
            return u;
    if (!create)
        return NULL;
    u = xcalloc(1, sizeof *u);
    memcpy(u->name, name, strnlen(name, PUSH_USER_MAX));
    u->next = hub->bucket[b];
    hub->bucket[b] = u;
    return u;
}

static void drop_user(struct push_hub *hub, struct hub_user *gone)
{
    struct hub_user **p = &hub->bucket[hash(gone->name)];

    while (*p != gone)
        p = &(*p)->next;
    *p = gone->next;
    free(gone);
}

/* Called with the hub's lock held, which keeps every waiter of u registered and alive; takes
 * each waiter's own lock only to mark it, and signals after letting go, so that the woken
 * thread does not wake only to wait for that lock. */
static void wake_user(struct hub_user *u, struct push_carried *m)
{
    struct push_waiter *w;

    LIST_FOREACH(w, &u->waiters, link) {
        pthread_mutex_lock(&w->lock);
        w->woken = 1;
        pthread_mutex_unlock(&w->lock);
        if (w->wake)
            w->wake(w->wake_arg, m);
        else
            pthread_cond_signal(&w->cond);
    }
}

/* Called with the lock held. */
static void wake_all(struct push_hub *hub, struct push_carried *m)
{
    for (int b = 0; b < BUCKETS; b++)
        for (struct hub_user *u = hub->bucket[b]; u; u = u->next)
            wake_user(u, m);
}

/* The message n's seal holds, when it opens and agrees with n's target in clear; else NULL (the
 * streams read). */
static struct push_carried *open_carried(struct push_hub *hub, const struct push_notify *n)
{
    static struct push_log_limit unopened = { .seconds = 60 };
    long len = push_notify_open(n, &hub->key, hub->opened, sizeof hub->opened);
    struct push_carried *m;

    if (len < 0) {
        if (hub->key.set) {
            push_log_limited(&unopened, PUSH_LOG_WARN, "a sealed wake-up did not open with "
                             "push.wake_key (the keys changed, or it was forged): its streams read "
                             "instead; reading the keys again");
            hub->rekey = 1;
        }
        return NULL;
    }
    m = push_json_carried_new(hub->opened, (size_t)len);
    if (m && (m->broadcast ? n->kind != PUSH_NOTIFY_ALL
                           : n->kind != PUSH_NOTIFY_USER || strcmp(n->user, m->user) != 0)) {
        push_json_carried_put(m); /* the seal is the program's own: its target must agree */
        m = NULL;
    }
    return m;
}

static void dispatch(struct push_hub *hub, const char *payload)
{
    struct push_notify n;
    struct push_carried *m = NULL;

    switch (push_notify_parse(payload, &n)) {
    case PUSH_NOTIFY_NOBODY:
        return;
    case PUSH_NOTIFY_EXPIRY:
        push_expiry_poke();
        return;
    default:
        break;
    }
    if (n.seal && __atomic_load_n(&hub->carry, __ATOMIC_ACQUIRE)) {
        int held = 1;
        /* a user none of whose streams is here: one lookup, and the seal stays shut (a stream
         * that comes meanwhile reads after registering, and that read sees the message) */
        if (n.kind == PUSH_NOTIFY_USER) {
            pthread_mutex_lock(&hub->lock);
            held = find_user(hub, n.user, 0) != NULL;
            pthread_mutex_unlock(&hub->lock);
        }
        if (held)
            m = open_carried(hub, &n);
    }
    pthread_mutex_lock(&hub->lock);
    if (n.kind == PUSH_NOTIFY_USER) {
        struct hub_user *u = find_user(hub, n.user, 0);
        if (u)
            wake_user(u, m);
    } else {
        wake_all(hub, m);
    }
    pthread_mutex_unlock(&hub->lock);
    push_json_carried_put(m);
    if (hub->observer)
        hub->observer(hub->observer_arg, n.user, 1);
}

static void set_listening(struct push_hub *hub, int up)
{
    pthread_mutex_lock(&hub->lock);
    hub->listening = up;
    if (up)
        wake_all(hub, NULL); /* what was notified while we were away is lost: everyone re-reads */
    int timing = hub->timing;
    pthread_mutex_unlock(&hub->lock);
    if (up && timing)
        push_expiry_poke(); /* (an 'x' among it) */
    if (hub->observer)
        hub->observer(hub->observer_arg, NULL, up);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Opens the connection and LISTENs; NULL on failure. */
static PGconn *listen_conn(struct push_hub *hub, int *complained)
{
    PGconn *conn = push_db_connect(hub->url, hub->appname);
    PGresult *res;
    char why[600];

    if (PQstatus(conn) == CONNECTION_OK && push_db_direct(conn, why, sizeof why) == 0) {
        if (!*complained) {
            push_log_error("cannot LISTEN: %s; retrying with backoff", why);
            *complained = 1;
        }
        PQfinish(conn);
        return NULL;
    }
    if (PQstatus(conn) == CONNECTION_OK) {
        res = PQexec(conn, PUSH_NOTIFY_LISTEN);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            PQclear(res);
            /* a primary new since the last connection (a standby promoted) moves the ids and
             * versions past those of the history it forked from, before the streams re-read:
             * a cursor the lost history handed out is then behind every new message
             * (0006_timeline.sql) */
            if (push_store_follow_timeline(conn) < 0) {
                char *msg = PQerrorMessage(conn);
                push_log_warn("push.follow_timeline() failed (%.*s): after a failover, ids may "
                              "be drawn again until the first message is published",
                              (int)strcspn(msg, "\n"), msg);
            }
            if (push_notify_keys(conn, &hub->key) < 0) {
                char *msg = PQerrorMessage(conn);
                push_log_warn("cannot read push.wake_key (%.*s): wake-ups cannot be opened, and "
                              "every stream reads each new message from the tables; grant "
                              "push_reader to this role (README \"Database roles\")",
                              (int)strcspn(msg, "\n"), msg);
            }
            hub->rekey = 0;
            return conn;
        }
        PQclear(res);
    }
    if (!*complained) {
        char *msg = PQerrorMessage(conn);
        push_log_error("cannot LISTEN: %.*s; retrying with backoff", (int)strcspn(msg, "\n"), msg);
        *complained = 1;
    }
    PQfinish(conn);
    return NULL;
}

static void dispatch_all(struct push_hub *hub, PGconn *conn)
{
    PGnotify *n;

    while ((n = PQnotifies(conn))) {
        push_metric_add(PUSH_M_WAKEUPS, 1);
        dispatch(hub, n->extra);
        PQfreemem(n);
    }
}

/* Lends conn to the borrower, if there is one, and waits for it back: 1 when it was lent. A
 * borrower's failure to watch it leaves the connection to this thread from then on. */
static int lend_and_wait(struct push_hub *hub, PGconn *conn)
{
    int (*lend)(void *, int);
    void *arg;

    pthread_mutex_lock(&hub->lend_lock);
    lend = hub->lend, arg = hub->lend_arg;
    if (lend) {
        hub->conn = conn;
        hub->quiet_since_ms = push_now_ms();
        hub->lent = 1;
    }
    pthread_mutex_unlock(&hub->lend_lock);
    if (!lend)
        return 0;
    if (lend(arg, PQsocket(conn)) < 0) {
        push_log_warn("the event loop cannot watch the LISTEN connection (%s): its thread reads "
                      "it and hands the wake-ups over", strerror(errno));
        pthread_mutex_lock(&hub->lend_lock);
        hub->lend = NULL;
        hub->lent = 0;
        pthread_mutex_unlock(&hub->lend_lock);
        return 0;
    }
    pthread_mutex_lock(&hub->lend_lock);
    while (hub->lent)
        pthread_cond_wait(&hub->lend_cond, &hub->lend_lock);
    pthread_mutex_unlock(&hub->lend_lock);
    return 1;
}

/* Reads notifications until the connection is lost: on this thread, or, lent to an event loop
 * (push_hub_lend), on the loop's, which gives it back for what may block (reading the keys again,
 * the check of a quiet connection) and when it is lost. */
static void serve(struct push_hub *hub, PGconn *conn)
{
    struct pollfd pfd[2] = { { PQsocket(conn), POLLIN, 0 }, { hub->efd, POLLIN, 0 } };

    for (;;) {
        int rc;

        if (lend_and_wait(hub, conn)) {
            rc = push_now_ms() - hub->quiet_since_ms >= QUIET_MS ? 0 : 1;
        } else {
            rc = poll(pfd, 2, QUIET_MS);
            if (rc < 0 && errno != EINTR)
                return;
            if (rc > 0 && pfd[1].revents) { /* a borrower came: lend it (after what is here) */
                uint64_t count;
                while (read(hub->efd, &count, sizeof count) < 0 && errno == EINTR)
                    ;
            }
        }
        if (!PQconsumeInput(conn))
            return;
        dispatch_all(hub, conn);
        if (hub->rekey) { /* (a failure leaves key.set 0: seals go unopened, streams read) */
            hub->rekey = 0;
            push_notify_keys(conn, &hub->key);
        }
        if (rc == 0) { /* quiet for 10 s: make sure the connection is still there */
            PGresult *res = PQexec(conn, "SELECT 1");
            int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
            PQclear(res);
            if (!ok)
                return;
            dispatch_all(hub, conn);
        }
    }
}

static void *listener_main(void *arg)
{
    struct push_hub *hub = arg;
    long backoff = BACKOFF_MIN_MS;
    int complained = 0;

    for (;;) {
        PGconn *conn = listen_conn(hub, &complained);
        if (!conn) {
            /* jitter, so that many processes do not reconnect in step */
            sleep_ms(backoff / 2 + rand() % (backoff / 2 + 1));
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (complained)
            push_log_info("listening again");
        complained = 0;
        backoff = BACKOFF_MIN_MS;
        set_listening(hub, 1);
        serve(hub, conn);
        set_listening(hub, 0);
        push_log_warn("lost the LISTEN connection; reconnecting");
        push_metric_add(PUSH_M_LISTEN_LOST, 1);
        PQfinish(conn);
    }
    return NULL;
}

struct push_hub *push_hub_start(const char *url, const char *appname, int max_streams,
                                int max_per_user)
{
    return push_hub_start_observed(url, appname, max_streams, max_per_user, NULL, NULL);
}

struct push_hub *push_hub_start_observed(const char *url, const char *appname, int max_streams,
                                         int max_per_user, push_hub_observer observer, void *arg)
{
    struct push_hub *hub = xcalloc(1, sizeof *hub);
    pthread_attr_t attr;
    pthread_t t;

    /* OpenSSL's own clean-up at exit would free what this thread may be using to open a seal at
     * that moment (a plain CGI stream's process ends with its request, a drained one on its own):
     * the process's memory goes anyway */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    pthread_mutex_init(&hub->lock, NULL);
    pthread_mutex_init(&hub->lend_lock, NULL);
    pthread_cond_init(&hub->lend_cond, NULL);
    hub->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (hub->efd < 0)
        abort();
    hub->url = url;
    hub->appname = appname;
    hub->max_streams = max_streams;
    hub->max_per_user = max_per_user;
    hub->observer = observer;
    hub->observer_arg = arg;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, listener_main, hub) != 0)
        abort();
    pthread_attr_destroy(&attr);
    return hub;
}

struct push_refusal push_hub_refusal(enum push_hub_err err)
{
    static struct push_log_limit too_many = { .seconds = 10 };

    if (err == PUSH_HUB_FULL) {
        push_log_limited(&too_many, PUSH_LOG_WARN, "refused a stream (503 too_many_streams): this "
                         "process holds all the streams it may (PUSH_MAX_STREAMS, or fewer when the "
                         "open-file limit is lower: see the line at start); raise them, or run more "
                         "processes");
        return (struct push_refusal){ 503, "too_many_streams",
                                      "this server holds all the streams it may", "Retry-After: 10\r\n" };
    }
    return (struct push_refusal){ 429, "too_many_user_streams",
                                  "this user has too many open streams; close some tabs",
                                  "Retry-After: 10\r\n" };
}

enum push_hub_err push_hub_reserve(struct push_hub *hub)
{
    enum push_hub_err err = PUSH_HUB_FULL;

    pthread_mutex_lock(&hub->lock);
    if (hub->streams < hub->max_streams) {
        hub->streams++;
        err = PUSH_HUB_OK;
    }
    pthread_mutex_unlock(&hub->lock);
    return err;
}

void push_hub_release(struct push_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    hub->streams--;
    pthread_mutex_unlock(&hub->lock);
}

static void on_reload(void *arg, const struct push_config *cfg)
{
    struct push_hub *hub = arg;

    pthread_mutex_lock(&hub->lock);
    hub->max_per_user = cfg->max_streams_per_user;
    pthread_mutex_unlock(&hub->lock);
}

void push_hub_follow_reloads(struct push_hub *hub)
{
    push_config_on_reload(on_reload, hub);
}

enum push_hub_err push_hub_join(struct push_hub *hub, struct push_waiter *w, const char *user)
{
    pthread_condattr_t ca;
    struct hub_user *u;

    pthread_mutex_lock(&hub->lock);
    if (hub->streams >= hub->max_streams) {
        pthread_mutex_unlock(&hub->lock);
        return PUSH_HUB_FULL;
    }
    u = find_user(hub, user, 1);
    if (u->count >= hub->max_per_user) {
        if (u->count == 0)
            drop_user(hub, u);
        pthread_mutex_unlock(&hub->lock);
        return PUSH_HUB_USER_FULL;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->lock, NULL);
    w->woken = 0;
    w->user = u;
    LIST_INSERT_HEAD(&u->waiters, w, link);
    u->count++;
    hub->streams++;
    /* the expiry timer's first run, when there is someone to tell (a process that never held a
     * stream never connects for it: nothing in its log about a database it never used) */
    int first = !hub->timing;
    hub->timing = 1;
    pthread_mutex_unlock(&hub->lock);
    if (first)
        push_expiry_poke();
    return PUSH_HUB_OK;
}

int push_hub_wait(struct push_hub *hub, struct push_waiter *w, const struct timespec *deadline)
{
    int changed;

    (void)hub;
    pthread_mutex_lock(&w->lock);
    while (!w->woken)
        if (pthread_cond_timedwait(&w->cond, &w->lock, deadline) == ETIMEDOUT)
            break;
    changed = w->woken;
    w->woken = 0;
    pthread_mutex_unlock(&w->lock);
    return changed;
}

void push_hub_leave(struct push_hub *hub, struct push_waiter *w)
{
    struct hub_user *u = w->user;

    pthread_mutex_lock(&hub->lock);
    LIST_REMOVE(w, link);
    hub->streams--;
    if (--u->count == 0)
        drop_user(hub, u);
    pthread_mutex_unlock(&hub->lock);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

void push_hub_carry(struct push_hub *hub)
{
    __atomic_store_n(&hub->carry, 1, __ATOMIC_RELEASE);
}

void push_hub_status(struct push_hub *hub, int *streams, int *listening)
{
    pthread_mutex_lock(&hub->lock);
    *streams = hub->streams;
    *listening = hub->listening;
    pthread_mutex_unlock(&hub->lock);
}

void push_hub_lend(struct push_hub *hub, int (*lend)(void *arg, int fd), void *arg)
{
    pthread_mutex_lock(&hub->lend_lock);
    hub->lend = lend;
    hub->lend_arg = arg;
    pthread_mutex_unlock(&hub->lend_lock);
    push_kick(hub->efd);
}

int push_hub_pump(struct push_hub *hub)
{
    if (!PQconsumeInput(hub->conn))
        return 1; /* lost: the LISTEN thread finds it so, and connects again */
    hub->quiet_since_ms = push_now_ms();
    dispatch_all(hub, hub->conn);
    return hub->rekey;
}

int push_hub_pump_due(struct push_hub *hub, long now_ms)
{
    return now_ms - hub->quiet_since_ms >= QUIET_MS;
}

void push_hub_give_back(struct push_hub *hub)
{
    pthread_mutex_lock(&hub->lend_lock);
    hub->lent = 0;
    pthread_cond_signal(&hub->lend_cond);
    pthread_mutex_unlock(&hub->lend_lock);
}
