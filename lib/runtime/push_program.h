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

/* Reads the command line (--help, --version, --check, --listen ADDR) and the environment into
 * cfg, and sets up logging. Returns -1 when the program should go on to serve; otherwise the
 * exit status to leave with (after --help, or a configuration error, reported on stderr). */
int push_program_init(const struct push_program *p, int argc, char **argv,
                      struct push_config *cfg);

/* What --version prints, the same for every program: "push-sse (pgpush) 0.1.0". */
void push_program_version(const char *name);

/* What --check does once the configuration is read: connects once, as application_name name
 * (refused as every connection is: push_db_get), says who it works as, at which schema version,
 * and which privileges of push_reader (push_publisher, for PUSH_USES_PUBLISH) that role lacks,
 * then tries what the program does (uses, then extra unless NULL), each in a transaction rolled
 * back. Says on stdout what it found and that all is fine, or on stderr what failed and what to
 * grant. Returns the exit status: 0, or 1. */
int push_program_check_database(const char *name, const struct push_config *cfg, unsigned uses,
                                push_dbcheck_fn extra);

#endif
