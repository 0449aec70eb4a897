/* push_program.h: what every program does before serving: command line, environment, logging */
#ifndef PUSH_PROGRAM_H
#define PUSH_PROGRAM_H

#include "core/push_config.h"
#include "store/push_dbcheck.h"

struct push_program {
    const char *name;  /* "push-poll" */
    const char *about; /* what it does and which requests it takes, for --help */
    const char *modes; /* how it runs, for --help; NULL: CGI, spawned or external FastCGI */
    unsigned uses;     /* what it does with the database (enum push_dbcheck_use): --check tries it */
};

/* Reads the command line (--help, --version, --check, --listen ADDR, --config FILE), the
 * configuration file and the environment into cfg (push_program_configure), and sets up logging;
 * a daemon (--listen or PUSH_LISTEN, push-ws, a systemd service) serves reloads on SIGHUP. Returns -1 when the program should go on to serve; otherwise the
 * exit status to leave with (after --help, or a configuration error, reported on stderr). */
int push_program_init(const struct push_program *p, int argc, char **argv,
                      struct push_config *cfg);

/* Reads the configuration as every program does: the file (config: --config's argument, or NULL
 * for PUSH_CONFIG or the default), under the environment, with the file's PG* variables exported
 * to libpq where the environment does not set them (call before any thread). Publishes it
 * (push_config_publish). Returns 0, or -1 after saying why on stderr, as name. The file read is
 * push_program_source's. */
int push_program_configure(const char *name, const char *config, struct push_config *cfg);

/* Where the configuration came from (push_program_configure). */
struct push_config_source *push_program_source(void);

/* Makes SIGHUP reload the configuration (push_config_reload) instead of ending the process: blocks
 * it in this thread and every thread started after it, and starts the one thread that takes it.
 * Call before any other thread, and only in a process that is its own daemon: a FastCGI program
 * spawned by the web server keeps SIGHUP's default, as the server expects (Apache sends its process
 * group SIGHUP on a restart). Returns 0, or -1 (logged). */
int push_program_serve_reloads(void);

/* What --version prints, the same for every program: "push-sse (pgpush) 0.1.0". */
void push_program_version(const char *name);

/* What --check does once the configuration is read: says which configuration file was read
 * (push_program_configure), connects once, as application_name name
 * (refused as every connection is: push_db_get), says who it works as, at which schema version,
 * and which privileges of push_reader (push_publisher, for PUSH_USES_PUBLISH) that role lacks,
 * then tries what the program does (uses, then extra unless NULL), each in a transaction rolled
 * back. Says on stdout what it found and that all is fine, or on stderr what failed and what to
 * grant. Returns the exit status: 0, or 1. */
int push_program_check_database(const char *name, const struct push_config *cfg, unsigned uses,
                                push_dbcheck_fn extra);

/* At the start of a process that LISTENs (a streaming program as FastCGI, push-ws): connects once
 * on push_config_listen_url(cfg) and returns -1, having logged why, when a connection pooler
 * answers there (push_db_direct), which would take the LISTEN and deliver nothing. 0 otherwise,
 * also when PostgreSQL cannot be reached now (the LISTEN connection retries, and checks again). */
int push_program_listen_direct(const char *name, const struct push_config *cfg);

struct push_pool;

/* The query connections of a process with the event loop or a plain-CGI stream: PUSH_DB_POOL of
 * them on PUSH_DATABASE_URL, with reads sent to PUSH_REPLICA_DATABASE_URL when it is set
 * (push_pool_replicas). cfg's strings are borrowed for the pool's life. */
struct push_pool *push_program_pool(const char *name, const struct push_config *cfg);

#endif
