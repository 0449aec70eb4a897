/* push-mqtt.c: the MQTT bridge daemon: LISTENs on PostgreSQL, publishes to a Mosquitto broker */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "core/push_config.h"
#include "core/push_log.h"
#include "core/push_metrics.h"
#include "core/push_util.h"
#include "store/push_db.h"
#include "store/push_notify.h"
#include "store/push_pool.h"
#include "store/push_store.h"
#include "runtime/push_expiry.h"
#include "runtime/push_program.h"
#include "runtime/push_statusd.h"
#include "mqtt/push_mqtt_bridge.h"
#include "mqtt/push_mqtt_config.h"
#include "mqtt/push_mqtt_pub.h"
#include "mqtt/push_mqtt_topic.h"

#define DIRTY_MAX 256        /* users remembered between passes; more, and everything is read */
#define IDLE_CHECK_MS 10000  /* a silent LISTEN connection is checked this often */
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 5000

extern char **environ;

static volatile sig_atomic_t stopping;

/* For the status listener's thread (PUSH_MQTT_STATUS_LISTEN): relaxed atomics */
static int listen_up; /* the connection is set up: it LISTENs */
static int in_pass;   /* ... and is reading and publishing now */

/* The users named by notifications and MQTT logins since the last pass; all = read everything;
 * carried = messages queued from their wake-ups (push_mqtt_bridge_carry). */
struct dirty {
    int all, n, carried;
    char user[DIRTY_MAX][PUSH_USER_MAX + 1];
    unsigned char login[DIRTY_MAX]; /* logged in over MQTT: record them (push.mqtt_seen) */
};

static void on_signal(int sig)
{
    stopping = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: push-mqtt [--config FILE] [--check] [--help] [--version]\n\n"
            "Publishes every pgpush message to an MQTT broker (Mosquitto): each user's\n"
            "messages on PREFIX/user/USER/message, messages to everyone on\n"
            "PREFIX/broadcast/message (QoS 1) and each user's unread counts, retained, on\n"
            "PREFIX/user/USER/unread. It LISTENs on one PostgreSQL connection and resumes from\n"
            "push.mqtt_cursor, moved only after the broker acknowledged, so restarts of either\n"
            "side lose nothing. A user's next message, proven so by its sealed wake-up, is\n"
            "published from the wake-up without a read. Run one per database.\n\n"
            "Options:\n"
            "  --config FILE  the configuration file (or PUSH_CONFIG=FILE); default\n"
            "                 %s, which may be absent; the\n"
            "                 environment overrides it key by key\n"
            "  --check        check the configuration and the database: the schema's version,\n"
            "                 the role's privileges, and push-mqtt's statements, tried as user\n"
            "                 pgpush-check (what they write rolled back); then exit\n"
            "  --help         show this help\n"
            "  --version      show the version\n\n"
            "Signals: SIGTERM and SIGINT stop it; SIGHUP re-reads the configuration file: the log\n"
            "level and PUSH_LOG_TIME change, the PUSH_MQTT_* settings and the database need a\n"
            "restart (README \"Reload (SIGHUP)\").\n\n"
            "%s%s\nDocumentation: %s/README.md\n",
            PUSH_SYSCONFDIR "/pgpush/pgpush.conf", push_config_help, push_mqtt_config_help, PUSH_DOCDIR);
}

/* Adds user (login: who logged in over MQTT) to d. */
static void mark_user(struct dirty *d, const char *user, int login)
{
    if (!push_mqtt_user_ok(user))
        return; /* no MQTT client can have this name */
    for (int i = 0; i < d->n; i++) {
        if (strcmp(d->user[i], user) == 0) {
            d->login[i] |= login;
            return;
        }
    }
    if (d->n == DIRTY_MAX) {
        d->all = 1;
        return;
    }
    d->login[d->n] = (unsigned char)login;
    snprintf(d->user[d->n++], sizeof d->user[0], "%s", user);
}

/* The wake-up keys (push.wake_key), read at each connection: unset, no seal is opened. */
static struct push_notify_key keys;

/* Queues n's sealed message for the next pass when it is provably the next of its user's stream:
 * 1, 0 (nothing to do), or -1 (its user must be read). */
static int carry(struct push_mqtt_bridge *b, PGconn *conn, const struct push_notify *n)
{
    static char text[PUSH_NOTIFY_OPEN_MAX];
    static long rekeyed_ms;
    struct push_carried *m;
    long len;
    int rc;

    if (!keys.set || !n->seal || !push_mqtt_bridge_keeps(b, n->user))
        return -1; /* (a user not kept is read: the seal stays shut) */
    len = push_notify_open(n, &keys, text, sizeof text);
    if (len < 0 && push_now_ms() - rekeyed_ms > 1000) { /* the keys may have been replaced */
        rekeyed_ms = push_now_ms();
        if (push_notify_keys(conn, &keys) == 0)
            len = push_notify_open(n, &keys, text, sizeof text);
    }
    if (len < 0 || !(m = push_json_carried_new(text, (size_t)len)))
        return -1;
    rc = !m->broadcast && strcmp(m->user, n->user) == 0 ? push_mqtt_bridge_carry(b, m) : -1;
    push_json_carried_put(m);
    if (rc < 0) /* (carried messages are counted when the broker has them) */
        push_metric_add(PUSH_M_CARRY_MISSES, 1);
    return rc;
}

static void mark(struct push_mqtt_bridge *b, PGconn *conn, struct dirty *d, const char *payload)
{
    struct push_notify n;
    int rc;

    switch (push_notify_parse(payload, &n)) {
    case PUSH_NOTIFY_USER:
        if ((rc = carry(b, conn, &n)) >= 0) {
            d->carried += rc;
            break;
        }
        push_mqtt_bridge_forget(b, n.user); /* (its stream or counts changed otherwise) */
        mark_user(d, n.user, 0);
        break;
    case PUSH_NOTIFY_NOBODY: break;
    case PUSH_NOTIFY_EXPIRY: /* the timer looks again; the expiry's wake-ups come once marked */
        push_expiry_poke();
        break;
    case PUSH_NOTIFY_ALL: /* reading too much is always safe */
        push_mqtt_bridge_forget(b, NULL);
        d->all = 1;
        break;
    }
}

/* The users the auth plugin announced since the last call. */
static void take_logins(struct push_mqtt_pub *pub, struct dirty *d)
{
    static char names[PUSH_MQTT_LOGINS_MAX][PUSH_USER_MAX + 1];
    int lost, n = push_mqtt_pub_logins(pub, names, PUSH_MQTT_LOGINS_MAX, &lost);

    for (int i = 0; i < n; i++)
        mark_user(d, names[i], 1);
    if (lost) /* too many at once: the counts of everyone known, at least */
        d->all = 1;
}

static void drain(struct push_mqtt_bridge *b, PGconn *conn, struct dirty *d)
{
    PGnotify *n;

    while ((n = PQnotifies(conn))) {
        push_metric_add(PUSH_M_WAKEUPS, 1);
        mark(b, conn, d, n->extra);
        PQfreemem(n);
    }
}

/* Waits up to ms for notifications and MQTT logins; -1 when the connection is lost. */
static int wait_notify(struct push_mqtt_bridge *b, PGconn *conn, struct dirty *d, int ms)
{
    struct pollfd pfd[2] = { { PQsocket(conn), POLLIN, 0 },
                             { push_mqtt_pub_logins_fd(b->pub), POLLIN, 0 } };
    int rc;

    /* A notification that came in while the last pass ran its queries is already in libpq's queue,
     * not on the socket: polling first would leave it there until the next one (or the idle
     * check, 10 s later). */
    drain(b, conn, d);
    if (d->all || d->n || d->carried)
        ms = 0;
    rc = poll(pfd, 2, ms);

    if (rc < 0 && errno != EINTR)
        return -1;
    if (!PQconsumeInput(conn))
        return -1;
    if (rc == 0 && ms >= IDLE_CHECK_MS) { /* quiet: is the connection still there? */
        PGresult *res = PQexec(conn, "SELECT 1");
        int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        if (!ok)
            return -1;
    }
    drain(b, conn, d);
    take_logins(b->pub, d);
    return 0;
}

/* Takes the session lock that makes this the database's one bridge: 1 taken, 0 held by another
 * bridge, -1 error. */
static int take_bridge_lock(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT pg_try_advisory_lock(hashtext('pgpush mqtt bridge'))");
    int rc = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

/* A new connection: one bridge per database (a session advisory lock), LISTEN, statements. */
static int setup(struct push_db *db, PGconn *conn)
{
    static int waiting_said, pooled_said;
    char why[600];
    int locked;
    PGresult *res;
    int ok;

    if (push_db_direct(conn, why, sizeof why) == 0) {
        if (!pooled_said++)
            push_log_error("cannot LISTEN: %s; retrying with backoff", why);
        return -1;
    }
    pooled_said = 0;
    locked = take_bridge_lock(conn);
    if (locked == 0) {
        if (!waiting_said++)
            push_log_warn("another push-mqtt serves this database; waiting for it to stop");
        return -1;
    }
    waiting_said = 0;
    res = PQexec(conn, PUSH_NOTIFY_LISTEN);
    ok = locked == 1 && PQresultStatus(res) == PGRES_COMMAND_OK
         && push_store_prepare(db, conn) == 0;
    PQclear(res);
    /* a primary new since the last connection (a standby promoted) moves the ids past those of
     * the history it forked from, before this bridge reads from its cursors */
    if (ok && push_store_follow_timeline(conn) < 0)
        ok = 0;
    /* (without them, every wake-up is read: a role that may not read them still works) */
    if (ok && push_notify_keys(conn, &keys) < 0)
        push_log_debug("the wake-up keys could not be read: every message is read from the tables");
    if (ok)
        push_expiry_poke(); /* (an 'x' may have been sent while nothing listened) */
    return ok ? 0 : -1;
}

/* The connection is gone (or given up): closed, and a lost LISTEN counted. */
static void lose(struct push_db *db)
{
    if (__atomic_exchange_n(&listen_up, 0, __ATOMIC_RELAXED))
        push_metric_add(PUSH_M_LISTEN_LOST, 1);
    push_db_close(db);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stopping)
        ;
}

/* One pass: publishes what the wake-ups carried, records who logged in over MQTT, then reads
 * everything after a (re)connect or '*', else the users notified. On failure what was to do is
 * kept, as everything, and nothing is kept in memory. */
static enum push_mqtt_bridge_err pass(struct push_mqtt_bridge *b, PGconn *conn, struct dirty *d)
{
    static struct dirty now;
    enum push_mqtt_bridge_err err = PUSH_MQTT_BRIDGE_OK;

    now = *d;
    d->all = 0;
    d->n = 0;
    d->carried = 0;
    __atomic_store_n(&in_pass, 1, __ATOMIC_RELAXED);
    /* what the wake-ups carried first: a read below starts from the cursors they moved (were it
     * the other way round, they would be published twice) */
    err = push_mqtt_bridge_carried(b, conn);
    for (int i = 0; i < now.n && !err; i++)
        if (now.login[i])
            err = push_mqtt_bridge_seen(conn, now.user[i]);
    if (!err && now.all)
        err = push_mqtt_bridge_all(b, conn);
    for (int i = 0; i < now.n && !err && !now.all; i++)
        err = push_mqtt_bridge_user(b, conn, now.user[i]);
    __atomic_store_n(&in_pass, 0, __ATOMIC_RELAXED);
    if (err == PUSH_MQTT_BRIDGE_DB || now.all || now.n) /* (a pass of carried messages only reads nothing) */
        push_metric_add(err == PUSH_MQTT_BRIDGE_DB ? PUSH_M_READ_FAILURES : PUSH_M_READS, 1);
    if (err) {
        push_mqtt_bridge_forget(b, NULL);
        for (int i = 0; i < now.n; i++)
            if (now.login[i])
                mark_user(d, now.user[i], 1);
        d->all = 1;
    }
    return err;
}

static void serve(const struct push_config *cfg, struct push_mqtt_bridge *b)
{
    static struct dirty d;
    struct push_db db;
    unsigned session = 0;
    long retry = RETRY_MIN_MS;

    /* its one connection LISTENs: PUSH_LISTEN_DATABASE_URL when set, which reaches PostgreSQL */
    push_db_init(&db, push_config_listen_url(cfg), "push-mqtt");
    while (!stopping) {
        enum push_db_err derr;
        char msg[512];
        PGconn *conn = push_db_get(&db, &derr, msg, sizeof msg);
        unsigned now;
        if (conn && !db.prepared) { /* a new connection: notifications were missed */
            if (setup(&db, conn) < 0) {
                push_db_close(&db);
                conn = NULL;
            } else {
                __atomic_store_n(&listen_up, 1, __ATOMIC_RELAXED);
            }
            d.all = 1;
            push_mqtt_bridge_forget(b, NULL); /* notifications were missed */
            b->live = 0; /* catching up: old messages, whose lag says nothing */
        }
        if (!conn) {
            sleep_ms(retry);
            retry = retry * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry * 2;
            continue;
        }
        if (!(now = push_mqtt_pub_session(b->pub))) {
            push_mqtt_pub_connect(b->pub);
            if (wait_notify(b, conn, &d, 500) < 0)
                lose(&db);
            continue;
        }
        if (now != session) { /* a new broker connection: publish again what is not acked */
            session = now;
            d.all = 1;
            b->live = 0;
        }
        if (d.all || d.n || d.carried) {
            enum push_mqtt_bridge_err err = pass(b, conn, &d);
            if (err == PUSH_MQTT_BRIDGE_DB && push_db_lost(&db)) {
                lose(&db);
                continue;
            }
            if (err) {
                if (err == PUSH_MQTT_BRIDGE_DB)
                    push_db_log_failure(PQerrorMessage(conn));
                sleep_ms(retry);
                retry = retry * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry * 2;
                continue;
            }
            retry = RETRY_MIN_MS;
            b->live = 1; /* caught up: from now on what comes is new */
        }
        if (wait_notify(b, conn, &d, d.all || d.n || d.carried ? 0 : IDLE_CHECK_MS) < 0) {
            push_log_warn("lost the PostgreSQL connection; reconnecting");
            lose(&db);
        }
    }
    lose(&db);
}

/* --- status (PUSH_MQTT_STATUS_LISTEN): push_statusd's thread asks */

struct status {
    struct push_mqtt_pub *pub;
    struct push_db db; /* the health check's own connection: the bridge's is its thread's */
};

static void status_state(void *arg, struct push_metrics_state *st)
{
    struct status *s = arg;
    int up = __atomic_load_n(&listen_up, __ATOMIC_RELAXED);

    *st = (struct push_metrics_state){
        .program = "push-mqtt", .transport = "mqtt", .streams = -1,
        .db_pool = up, .db_busy = up && __atomic_load_n(&in_pass, __ATOMIC_RELAXED),
        .listening = up, .broker = push_mqtt_pub_session(s->pub) != 0,
    };
}

static struct push_db *status_db(void *arg)
{
    return &((struct status *)arg)->db;
}

static void status_db_release(void *arg, struct push_db *db)
{
    (void)arg;
    (void)db; /* kept open for the next check */
}

static int status_start(const struct push_config *cfg, const struct push_mqtt_config *mcfg,
                        struct push_mqtt_pub *pub)
{
    static struct status s;
    const struct push_statusd_source src = { status_state, status_db, status_db_release, &s };
    char err[512];

    if (!mcfg->status_listen[0])
        return 0;
    s.pub = pub;
    push_db_init(&s.db, cfg->database_url, "push-mqtt status");
    if (push_statusd_start(mcfg->status_listen, cfg->socket_mode, &src, err, sizeof err) < 0) {
        push_log_error("%s", err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct push_config cfg;
    static struct push_mqtt_config mcfg;
    struct push_mqtt_bridge bridge;
    struct sigaction sa;
    int want_check = 0;
    const char *config = NULL;
    char err[1200], **env;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            push_program_version("push-mqtt");
            return 0;
        } else if (strcmp(argv[i], "--check") == 0) {
            want_check = 1;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else {
            fprintf(stderr, "push-mqtt: unknown option %s (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (push_program_configure("push-mqtt", config, &cfg) < 0)
        return 1;
    /* its own settings, from the same file under the same environment */
    env = push_config_env(push_program_source(), environ, err, sizeof err);
    if (!env || push_mqtt_config_load(&mcfg, env, err, sizeof err) < 0) {
        fprintf(stderr, "push-mqtt: configuration error: %s\n", err);
        push_config_env_free(env);
        return 1;
    }
    push_config_env_free(env);
    push_log_init("push-mqtt", cfg.log_level, cfg.log_time);
    push_db_allow_owner(cfg.allow_owner);
    push_db_named_statements(cfg.db_prepare);
    if (want_check)
        return push_program_check_database("push-mqtt", &cfg, PUSH_USES_READ,
                                           push_mqtt_bridge_check);
    if (push_program_listen_direct("push-mqtt", &cfg) < 0)
        return 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (push_program_serve_reloads() < 0) /* before the publisher's thread */
        return 1;
    bridge.cfg = &mcfg;
    bridge.live = 0;
    bridge.held = NULL;
    if (!(bridge.pub = push_mqtt_pub_start(&mcfg, err, sizeof err))) {
        push_log_error("%s", err);
        return 1;
    }
    if (status_start(&cfg, &mcfg, bridge.pub) < 0)
        return 1;
    /* the deletes of expired messages are published once they are marked: this process marks
     * them too, when they come (a site may run no streaming program), on a connection of its own */
    push_expiry_start(push_pool_new(cfg.database_url, "push-mqtt", 1));
    push_log_info("publishing to %s:%d under %s/", mcfg.host, mcfg.port, mcfg.prefix);
    serve(&cfg, &bridge);
    push_log_info("stopping");
    push_mqtt_pub_stop(bridge.pub);
    push_mqtt_bridge_free(&bridge);
    return 0;
}
