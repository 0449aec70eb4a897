/* push_ws.h: the push-ws protocol: client commands parsed, server events written as JSON text */
#ifndef PUSH_WS_H
#define PUSH_WS_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "core/push_cursor.h"
#include "store/push_db.h"
#include "transport/push_command.h"
#include "transport/push_emit.h"

#define PUSH_WS_MSG_MAX 4096  /* bytes: the largest client message; larger closes with 1009 */
#define PUSH_WS_REF_MAX 64    /* bytes: the largest "ref" echoed back */

/* Close codes (RFC 6455 7.4 and push-ws's own 4000s). */
enum push_ws_close {
    PUSH_WS_CLOSE_NORMAL = 1000,
    PUSH_WS_CLOSE_SHUTDOWN = 1001,    /* the server is stopping: reconnect */
    PUSH_WS_CLOSE_UNSUPPORTED = 1003, /* a binary message */
    PUSH_WS_CLOSE_TOO_BIG = 1009,     /* a message over PUSH_WS_MSG_MAX */
    PUSH_WS_CLOSE_AUTH = 4401,        /* the token expired: reconnect with a fresh one */
};

enum push_ws_cmd_type { PUSH_WS_CMD_MARK, PUSH_WS_CMD_RESUME };

/* One client command, as push-poll's POST body plus "cmd" and an optional "ref". */
struct push_ws_cmd {
    enum push_ws_cmd_type type;
    int named;                        /* "cmd" was one of ours: replies name it */
    struct push_mark mark;            /* mark: its fields, by push_command's rules */
    struct push_cursor cursor;        /* resume */
    char ref[PUSH_WS_REF_MAX + 3];    /* "ref" as JSON text (a string or an integer), "" when none */
};

/* Parses one text message. Returns 0, or -1 with *code (a stable word: bad_json,
 * unknown_command, and push_command's bad_request, bad_cursor, cursor_user) and *why (a
 * sentence); c->ref is set whenever the message had a usable "ref", so that the error can name
 * it. A mark's fields are push_command_parse_mark's; resume's "cursor" push_command_parse_cursor's. */
int push_ws_cmd_parse(const char *text, size_t len, const char *tag, struct push_ws_cmd *c,
                      const char **code, const char **why);

/* The name of a command type for replies: "mark" or "resume". */
const char *push_ws_cmd_name(enum push_ws_cmd_type type);

/* Finishes o as a reply to c (adds "type" and, when c had one, "ref"), serializes it and puts
 * it. Returns a malloc'd NUL-terminated text. c may be NULL. */
char *push_ws_reply(const struct push_ws_cmd *c, const char *type, json_object *o);

/* {"type": "error", "ref": ..., "cmd": ..., "error": code, "message": why} as malloc'd text. */
char *push_ws_error(const struct push_ws_cmd *c, const char *code, const char *why);

/* {"type": type, "cursor": cursor, key: json} where json is already JSON text; malloc'd.
 * type "message" uses key "message", "unread" uses "unread". */
char *push_ws_event(const char *type, const char *cursor, const char *key, const char *json,
                    size_t len);

/* Runs command c of user on db as push-poll's POST does (push_command runs the mark; push_db_run
 * retries once on a lost connection) and returns the reply as malloc'd text: an ack (a mark's
 * with the counts, of the socket's kinds only when kinds is not NULL), or an error
 * (bad_cursor, cursor_future ..., and database_unavailable when the database cannot be reached;
 * a failed query is logged). A resume that succeeded sets *resumed and *to, the cursor to go on
 * from. */
char *push_ws_run(struct push_db *db, const char *user, const char *tag, const char *kinds,
                  const struct push_ws_cmd *c,
                  int *resumed, struct push_cursor *to);

/* A whole HTTP/1.1 answer refusing the upgrade: status, the JSON error body, Connection: close
 * and headers (each line ending "\r\n"; NULL: none). malloc'd; its length in *len. */
char *push_ws_http_error(int status, const char *code, const char *message, const char *headers,
                         size_t *len);

/* {"type": "close", "reason": reason}, with "retry": retry_ms when it is above 0 (a draining
 * server: come back after that long), sent before the close frame; malloc'd. */
char *push_ws_close_event(const char *reason, int retry_ms);

/* The transport's encoder: each event is one text message (the request io of a socket makes a
 * message of what was written at each flush): {"type": "message" | "unread", "cursor": ...}, and
 * "close" at the end. Pings are the socket's own, not text: heartbeat writes nothing. */
extern const struct push_encoder push_ws_encoder;

#endif
