/* push_json.h: messages, unread counts and cursors as the JSON every transport sends */
#ifndef PUSH_JSON_H
#define PUSH_JSON_H

#include <json-c/json.h>
#include <libpq-fe.h>

#include <stddef.h>
#include <stdint.h>

#include "core/push_cursor.h"
#include "core/push_user.h"
#include "store/push_store.h"

/* {"total": N, "by_kind": {"kind": n, ...}} from a push_store_unread result. */
json_object *push_json_unread(const PGresult *res);

/* The same, of the kinds of a filter only (push_store_kinds_has; NULL: every kind). */
json_object *push_json_unread_kinds(const PGresult *res, const char *kinds);

/* One message object from row of a push_store_messages result:
 * {"id", "cursor", "kind", "title", "body", "data", "link", "created_at", "read", "broadcast"}.
 * pos is the cursor before the message; it is moved past the message, and "cursor" is the
 * text of the new position (resuming from it skips this message and nothing else). */
json_object *push_json_message(const PGresult *res, int row, const char *tag,
                               struct push_cursor *pos);

/* An entry of a push_store_messages result that is not a message (push_store_entry): an update,
 * the message as it is now, whose "cursor" is its own position (marking read up to it means what
 * it did when it came); a delete, {"id"}. pos is moved past the change. */
json_object *push_json_change(const PGresult *res, int row, const char *tag,
                              struct push_cursor *pos);

/* The event name of an entry: "message", "update" or "delete". */
const char *push_json_event(enum push_entry e);

/* All entries of a push_store_messages result as an array, moving pos past each: messages as
 * push_json_message makes them, changes as {"event", "message"} (push_json_change's). */
json_object *push_json_messages(const PGresult *res, const char *tag, struct push_cursor *pos);

/* The answer of push-poll, push-longpoll and push-longpoll's current state, one shape for all:
 *   {"user", "cursor", "unread", "messages", "changes", "more"[, "timeout"]}
 * "messages" are the new messages among the first limit entries of msgs (NULL: none), each with
 * its cursor, moving from pos; "changes" the changes among them, in order, each
 * {"event": "update" | "delete", "message": ...} (push_json_change's). An entry past limit (asked
 * for only to know) makes "more" true. "cursor" is where the client goes on: head when given
 * (after the newest list, the head of the stream), else past the last entry, or msgs' head when
 * no entry was left out. unread (push_json_unread) is consumed; timeout < 0 leaves "timeout"
 * out. */
json_object *push_json_answer(const char *user, const char *tag, const PGresult *msgs, int limit,
                              struct push_cursor pos, const struct push_cursor *head,
                              json_object *unread, int timeout);

/* A message as its wake-up carried it (the JSON a sealed notification holds, push_notify_open;
 * sql/migrations/0005_carry.sql), made once and written to every stream it wakes: its text before
 * and after the cursor, the one part that differs by stream. Shared by those streams (held and
 * put from any thread); the last put frees it. */
struct push_carried {
    int refs;
    int64_t id, prev;   /* its id, and the id before it in its stream (0: the first) */
    int broadcast;
    char user[PUSH_USER_MAX + 1]; /* the recipient; "" for a broadcast */
    char kind[64];
    char *created_at;   /* as the reads give it */
    char *head, *tail;  /* {"id":"N","cursor":  and  ,"kind":...,"read":false,"broadcast":B} */
    size_t head_len, tail_len;
};

/* Makes a carried message of json (len bytes): NULL when it is not one (a field missing or of
 * another type, an invalid user or kind). It starts with one reference. */
struct push_carried *push_json_carried_new(const char *json, size_t len);
void push_json_carried_hold(struct push_carried *c);
void push_json_carried_put(struct push_carried *c);

/* The message's JSON for a stream at *pos, which is moved past it: the text push_json_message
 * makes of the same message read from the tables, unread, byte for byte (tests/unit checks it).
 * Allocated; *len its length. */
char *push_json_carried_text(const struct push_carried *c, const char *tag, struct push_cursor *pos,
                             size_t *len);

/* The counts text after one more unread message of kind: counts is push_json_unread's text
 * (kinds in order), and so is the result, as push_json_unread would make it had the read counted
 * the message too. Allocated; NULL when counts is not such a text. */
char *push_json_unread_add(const char *counts, const char *kind);

/* json_object_new_string for a cursor. */
json_object *push_json_cursor(const struct push_cursor *c, const char *tag);

/* Serializes o compactly; the text belongs to o. */
const char *push_json_text(json_object *o, size_t *len);

#endif
