/* push_program.c: the shared start of every program */
#include "config.h"

#include "runtime/push_program.h"

#include <stdio.h>
#include <string.h>

#include "core/push_log.h"
#include "store/push_db.h"
#include "http/push_server.h"

extern char **environ;

static void usage(const struct push_program *p, FILE *out)
{
    fprintf(out,
            "Usage: %s [--listen ADDR] [--check] [--help] [--version]\n\n%s\n"
            "%s\n\n"
            "Options:\n"
            "  --listen ADDR  serve on a socket path or [host]:port (as %s)\n"
            "  --check        check the configuration and the database, then exit\n"
            "  --help         show this help\n"
            "  --version      show the version\n\n%s\n"
            "Errors are answered as JSON: {\"error\": CODE, \"message\": TEXT}.\n"
            "Documentation: %s/README.md\n",
            p->name, p->about,
            p->modes ? p->modes
                     : "Runs as a CGI program, as a FastCGI program spawned by the web server (mod_fcgid,\n"
                       "lighttpd bin-path), or as an external FastCGI server with --listen or PUSH_LISTEN.",
            /* push-ws, the one program with modes of its own, listens on PUSH_WS_LISTEN */
            p->modes ? "PUSH_WS_LISTEN" : "PUSH_LISTEN", push_config_help, PUSH_DOCDIR);
}

void push_program_version(const char *name)
{
    printf("%s (%s) %s\n", name, PACKAGE_NAME, PACKAGE_VERSION);
}

int push_program_check_database(const char *name, const struct push_config *cfg)
{
    struct push_db db;
    enum push_db_err err;
    char msg[512];

    push_db_init(&db, cfg->database_url, name);
    if (!push_db_get(&db, &err, msg, sizeof msg)) {
        fprintf(stderr, "%s: %s\n", name, msg);
        return 1;
    }
    push_db_close(&db);
    printf("%s: configuration and database are fine (schema version %d)\n", name,
           PUSH_SCHEMA_VERSION);
    return 0;
}

int push_program_init(const struct push_program *p, int argc, char **argv,
                      struct push_config *cfg)
{
    const char *listen = NULL;
    int check = 0;
    char err[512];

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
        } else {
            fprintf(stderr, "%s: unknown option %s (see --help)\n", p->name, argv[i]);
            return 2;
        }
    }
    if (push_config_load(cfg, environ, err, sizeof err) < 0) {
        fprintf(stderr, "%s: configuration error: %s\n", p->name, err);
        return 1;
    }
    if (listen) {
        if (strlen(listen) >= sizeof cfg->listen) {
            fprintf(stderr, "%s: --listen: too long\n", p->name);
            return 1;
        }
        snprintf(cfg->listen, sizeof cfg->listen, "%s", listen);
        snprintf(cfg->ws_listen, sizeof cfg->ws_listen, "%s", listen); /* push-ws: --listen wins */
    }
    push_log_init(p->name, cfg->log_level, cfg->log_time);
    push_server_signals();
    if (check)
        return push_program_check_database(p->name, cfg);
    if (cfg->demo)
        push_log_warn("demo mode is on: any ?user=NAME is trusted; never use it in production");
    if (push_env_get(environ, "PUSH_EVENT_LOOP"))
        push_log_warn("PUSH_EVENT_LOOP is set but no longer read: streams of FastCGI requests always "
                      "live in the event loop (plain CGI holds its one stream in its process)");
    return -1;
}
