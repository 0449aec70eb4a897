/* push_command.h: the mark-read command, one module for every transport (push-poll's POST and
 * push-ws's "mark" and "resume"): its fields parsed by one set of rules, and run against the store
 *
 * The contract. A mark is a JSON object; the transport's own keys ("cmd", "ref", "ticket") and any
 * key not named here are ignored. Fields, checked in this order:
 *
 *   "mark"    "one" | "upto" | "all" | "kind", exactly (a string; no other spelling)   bad_request
 *   "cursor"  upto: required; all, kind: optional (up to there, not everything now);   bad_request
 *             one: ignored. A string that push_cursor_parse accepts for this user:      (missing)
 *             not a string, not a cursor                                               bad_cursor
 *             another user's cursor                                                    cursor_user
 *   "id"      one: required. A string of 1 to 19 decimal digits without a leading       bad_request
 *             zero, sign, space or anything else, from 1 to 9223372036854775807 (the
 *             message ids are bigint): "5"; not "+5", " 5", "5 ", "05", "0", "-1", "",
 *             "9223372036854775808". A JSON integer is taken by the same rule on its
 *             digits (5, not 0, -5, 5.0 or 9223372036854775808).
 *   "kind"    kind: required. 1 to PUSH_COMMAND_KIND_MAX of a-z 0-9 _ . -                 bad_request
 *
 * A string with a NUL in it (\u0000) is never any of these. Running a parsed mark can still refuse
 * it: cursor_future (its cursor is ahead of every message ever sent), not_found (mark one of a
 * message the user cannot see), unknown_kind (mark kind of a kind no message ever had).
 *
 * The codes are the stable words of README's error table; each transport wraps them in its own
 * envelope (push-poll: the HTTP status and {"error", "message"}; push-ws: an "error" event). The
 * table tests/lib/mark-cases.tsv holds the cases every transport must answer alike. */
#ifndef PUSH_COMMAND_H
#define PUSH_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "core/push_cursor.h"

#define PUSH_COMMAND_KIND_MAX 32

enum push_mark_type { PUSH_MARK_ONE, PUSH_MARK_UPTO, PUSH_MARK_ALL, PUSH_MARK_KIND };

/* A parsed mark: what push_command_parse_mark read, what push_command_run_mark runs. */
struct push_mark {
    enum push_mark_type type;
    int64_t id;                           /* one */
    int has_cursor;                       /* upto (always), all and kind (optional) */
    struct push_cursor cursor;
    char kind[PUSH_COMMAND_KIND_MAX + 1]; /* kind */
};

enum push_command_err {
    PUSH_COMMAND_OK,
    PUSH_COMMAND_BAD_REQUEST,   /* bad_request: a field missing or not by its rule */
    PUSH_COMMAND_BAD_CURSOR,    /* bad_cursor */
    PUSH_COMMAND_CURSOR_USER,   /* cursor_user: the cursor is another user's */
    PUSH_COMMAND_CURSOR_FUTURE, /* cursor_future: ahead of every message (found when run) */
    PUSH_COMMAND_NOT_FOUND,     /* not_found: mark one of a message the user cannot see (run) */
    PUSH_COMMAND_UNKNOWN_KIND,  /* unknown_kind: no message ever had that kind (run) */
};

/* Why a command was refused: err, and a sentence (static text) for the client. */
struct push_command_error {
    enum push_command_err err;
    const char *why;
};

/* The stable word for err ("bad_request", "cursor_user", ...; "ok" for PUSH_COMMAND_OK). */
const char *push_command_code(enum push_command_err err);

/* The id rule on text of len bytes: 0 with *id, or -1. */
int push_command_parse_id(const char *text, size_t len, int64_t *id);

/* The "cursor" field of o, for the user with tag: 0 with *has 0 when o has none, 0 with *has 1
 * and *c when it is one of the user's cursors, or -1 with e (bad_cursor, cursor_user). */
int push_command_parse_cursor(json_object *o, const char *tag, int *has, struct push_cursor *c,
                              struct push_command_error *e);

/* Reads o's mark fields into m (all of it written) by the rules above. 0, or -1 with e. */
int push_command_parse_mark(json_object *o, const char *tag, struct push_mark *m,
                            struct push_command_error *e);

/* Whether c is ahead of every message ever sent: 0 no, 1 yes (e: cursor_future), -1 a database
 * error (its text on conn). */
int push_command_check_cursor(PGconn *conn, const char *user, const struct push_cursor *c,
                              struct push_command_error *e);

/* Runs m for user on conn (a connection push_store_prepare readied): 0 done, 1 refused (e:
 * cursor_future, not_found, unknown_kind; nothing changed), -1 a database error (its text on
 * conn). The caller reads the new counts (push_store_unread) for its answer. */
int push_command_run_mark(PGconn *conn, const char *user, const struct push_mark *m,
                          struct push_command_error *e);

#endif
