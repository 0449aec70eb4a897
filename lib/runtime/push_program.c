/* push_program.c: the shared start of every program */
#include "config.h"

#include "runtime/push_program.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/push_log.h"
#include "store/push_db.h"
#include "store/push_pool.h"
#include "store/push_store.h"
#include "http/push_server.h"

extern char **environ;

static void usage(const struct push_program *p, FILE *out)
{
    fprintf(out,
            "Usage: %s [--listen ADDR] [--config FILE] [--check] [--help] [--version]\n\n%s\n"
            "%s\n\n"
            "Options:\n"
            "  --listen ADDR  serve on a socket path or [host]:port (as %s)\n"
            "  --config FILE  the configuration file (or PUSH_CONFIG=FILE); default\n"
            "                 %s, which may be absent. KEY=VALUE lines\n"
            "                 of the settings below and libpq's PG* variables, # comments; the\n"
            "                 environment overrides it key by key\n"
            "  --check        check the configuration and the database: the schema's version,\n"
            "                 the role's privileges, and what the program does, tried as user\n"
            "                 pgpush-check (marks and publishing rolled back); then exit\n"
            "  --help         show this help\n"
            "  --version      show the version\n\n"
            "Signals: SIGTERM drains and exits; SIGHUP, to a daemon (--listen, PUSH_LISTEN, push-ws,\n"
            "a systemd service), re-reads the file and the secret files: the token secrets, the log\n"
            "and the limits change, open streams stay (README \"Reload (SIGHUP)\").\n\n%s\n"
            "Errors are answered as JSON: {\"error\": CODE, \"message\": TEXT}.\n"
            "Documentation: %s/README.md\n",
            p->name, p->about,
            p->modes ? p->modes
                     : "Runs as a CGI program, as a FastCGI program spawned by the web server (mod_fcgid,\n"
                       "lighttpd bin-path), or as an external FastCGI server with --listen or PUSH_LISTEN.",
            /* push-ws, the one program with modes of its own, listens on PUSH_WS_LISTEN */
            p->modes ? "PUSH_WS_LISTEN" : "PUSH_LISTEN", PUSH_SYSCONFDIR "/pgpush/pgpush.conf",
            push_config_help, PUSH_DOCDIR);
}

void push_program_version(const char *name)
{
    printf("%s (%s) %s\n", name, PACKAGE_NAME, PACKAGE_VERSION);
}

static struct push_config_source source;

struct push_config_source *push_program_source(void)
{
    return &source;
}

int push_program_configure(const char *name, const char *config, struct push_config *cfg)
{
    char err[1200];

    push_config_source_init(&source, config, environ);
    if (push_config_read(cfg, &source, environ, 1, err, sizeof err) < 0) {
        fprintf(stderr, "%s: configuration error: %s\n", name, err);
        return -1;
    }
    push_config_publish(cfg);
    return 0;
}

/* The one thread that takes SIGHUP: each one re-reads the configuration, here, not in a handler */
static void *reloader_main(void *arg)
{
    sigset_t set;
    int sig;

    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    for (;;)
        if (sigwait(&set, &sig) == 0)
            push_config_reload(&source, environ);
    return NULL;
}

int push_program_serve_reloads(void)
{
    sigset_t set;
    pthread_t t;
    int rc;

    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if ((rc = pthread_create(&t, NULL, reloader_main, NULL)) != 0) {
        push_log_error("cannot start the reload thread: %s", strerror(rc));
        return -1;
    }
    pthread_detach(t);
    return 0;
}

/* A service of systemd's (pgpush@.service): its own daemon, whose SIGHUP is ExecReload's. A
 * FastCGI program spawned by a web server has the server for parent, never PID 1. */
static int systemd_service(void)
{
    const char *id = getenv("INVOCATION_ID");

    return id && *id && getppid() == 1;
}

/* --check's trials of what the programs do, in this order */
static const struct {
    unsigned use;
    const char *what;
    push_dbcheck_fn fn;
} trials[] = {
    { PUSH_USES_READ, "read as user " PUSH_DBCHECK_USER, push_dbcheck_read },
    { PUSH_USES_MARK, "mark read as user " PUSH_DBCHECK_USER " (rolled back)", push_dbcheck_mark },
    { PUSH_USES_PUBLISH, "publish to user " PUSH_DBCHECK_USER " (rolled back)", push_dbcheck_publish },
};

/* Who the connection works as, for people. */
static const char *role_kind(const struct push_db_role *role)
{
    if (role->superuser)
        return "a superuser, allowed by PUSH_ALLOW_OWNER";
    if (role->owner)
        return "the schema's owner, allowed by PUSH_ALLOW_OWNER";
    return "neither a superuser nor the schema's owner";
}

/* The privileges role has that the connection's role lacks, said on stdout. */
static void say_privileges(const char *name, PGconn *conn, const char *role)
{
    static char missing[4096];
    int n = push_dbcheck_missing(conn, role, missing, sizeof missing);

    if (n < 0)
        printf("%s: privileges: no role %s to compare with\n", name, role);
    else if (n == 0)
        printf("%s: privileges: all of %s's\n", name, role);
    else
        printf("%s: privileges: lacks %d of %s's: %s\n", name, n, role, missing);
}

/* One trial, said on stdout when it worked (0), on stderr with PostgreSQL's reason when not (1). */
static int try_one(const char *name, PGconn *conn, const char *what, push_dbcheck_fn fn)
{
    char why[512];

    if (push_dbcheck_try(conn, fn, why, sizeof why) == 0) {
        printf("%s: %s: ok\n", name, what);
        return 0;
    }
    fprintf(stderr, "%s: %s: failed: %s\n", name, what,
            *why ? why : "an answer of an unexpected shape (is the schema of this version?)");
    return 1;
}

/* Tries what the program does, all of it; 0 when all of it worked, else 1. */
static int try_uses(const char *name, PGconn *conn, unsigned uses, push_dbcheck_fn extra)
{
    int failed = 0;

    for (size_t i = 0; i < sizeof trials / sizeof trials[0]; i++)
        if (uses & trials[i].use)
            failed |= try_one(name, conn, trials[i].what, trials[i].fn);
    if (extra)
        failed |= try_one(name, conn, "its own statements (rolled back)", extra);
    return failed;
}

int push_program_check_database(const char *name, const struct push_config *cfg, unsigned uses,
                                push_dbcheck_fn extra)
{
    const char *group = uses & PUSH_USES_PUBLISH ? "push_publisher" : "push_reader";
    struct push_db db;
    enum push_db_err err;
    char msg[512];
    PGconn *conn;
    int failed;

    char about[1200];

    setvbuf(stdout, NULL, _IOLBF, 0); /* its lines in order with stderr's, even into a pipe */
    push_config_source_describe(&source, about, sizeof about);
    printf("%s: %s\n", name, about);
    push_db_init(&db, cfg->database_url, name);
    if (!(conn = push_db_get(&db, &err, msg, sizeof msg))) {
        fprintf(stderr, "%s: %s\n", name, msg);
        return 1;
    }
    printf("%s: database role %s (%s)\n", name, db.role.name, role_kind(&db.role));
    printf("%s: schema version %d\n", name, PUSH_SCHEMA_VERSION);
    say_privileges(name, conn, group);
    if (push_store_prepare(&db, conn) < 0) {
        fprintf(stderr, "%s: cannot prepare the statements: %.*s\n", name,
                (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
        failed = 1;
    } else {
        failed = try_uses(name, conn, uses, extra);
    }
    if (failed) {
        char *quoted = PQescapeIdentifier(conn, db.role.name, strlen(db.role.name));
        fprintf(stderr, "%s: the database role %s cannot do what %s does: a database "
                        "administrator grants it %s (GRANT %s TO %s;), see README \"Database roles\"\n",
                name, db.role.name, name, group, group, quoted ? quoted : db.role.name);
        PQfreemem(quoted);
    }
    push_db_close(&db);
    if (!failed)
        printf("%s: configuration and database are fine\n", name);
    return failed;
}

int push_program_listen_direct(const char *name, const struct push_config *cfg)
{
    PGconn *conn = push_db_connect(push_config_listen_url(cfg), name);
    char msg[600];
    int rc = 0;

    if (PQstatus(conn) == CONNECTION_OK && push_db_direct(conn, msg, sizeof msg) == 0) {
        push_log_error("refusing to start: the LISTEN connection (PUSH_LISTEN_DATABASE_URL, else "
                       "PUSH_DATABASE_URL): %s", msg);
        rc = -1;
    }
    PQfinish(conn);
    return rc;
}

struct push_pool *push_program_pool(const char *name, const struct push_config *cfg)
{
    struct push_pool *pool = push_pool_new(cfg->database_url, name, cfg->db_pool);

    if (cfg->replica_database_url[0]) {
        push_pool_replicas(pool, cfg->replica_database_url, name, cfg->replica_wait_ms);
        push_log_info("stream reads go to the replica (PUSH_REPLICA_DATABASE_URL) once it has "
                      "replayed past the primary's position, waiting up to %d ms "
                      "(PUSH_REPLICA_WAIT), else to the primary", cfg->replica_wait_ms);
    }
    return pool;
}

int push_program_init(const struct push_program *p, int argc, char **argv,
                      struct push_config *cfg)
{
    const char *listen = NULL, *config = NULL;
    int check = 0;

    /* no clean-up of OpenSSL's at exit, under a thread that may still sign or open a seal (a
     * drained process exits while its threads run) */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(p, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            push_program_version(p->name);
            return 0;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[++i];
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else {
            fprintf(stderr, "%s: unknown option %s (see --help)\n", p->name, argv[i]);
            return 2;
        }
    }
    if (push_program_configure(p->name, config, cfg) < 0)
        return 1;
    if (listen) {
        if (strlen(listen) >= sizeof cfg->listen) {
            fprintf(stderr, "%s: --listen: too long\n", p->name);
            return 1;
        }
        snprintf(cfg->listen, sizeof cfg->listen, "%s", listen);
        snprintf(cfg->ws_listen, sizeof cfg->ws_listen, "%s", listen); /* push-ws: --listen wins */
        push_config_publish(cfg);
    }
    push_log_init(p->name, cfg->log_level, cfg->log_time);
    push_db_allow_owner(cfg->allow_owner);
    push_db_named_statements(cfg->db_prepare);
    push_server_signals();
    if (check)
        return push_program_check_database(p->name, cfg, p->uses, NULL);
    /* push-ws (p->modes: listeners of its own) is always its own daemon */
    if ((p->modes || cfg->listen[0] || systemd_service()) && push_program_serve_reloads() < 0)
        return 1;
    if (cfg->demo)
        push_log_warn("demo mode is on: any ?user=NAME is trusted; never use it in production");
    if (push_env_get(environ, "PUSH_EVENT_LOOP"))
        push_log_warn("PUSH_EVENT_LOOP is set but no longer read: streams of FastCGI requests always "
                      "live in the event loop (plain CGI holds its one stream in its process)");
    return -1;
}
