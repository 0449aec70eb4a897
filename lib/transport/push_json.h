/* push_json.h: messages, unread counts and cursors as the JSON every transport sends */
#ifndef PUSH_JSON_H
#define PUSH_JSON_H

#include <json-c/json.h>
#include <libpq-fe.h>

#include "core/push_cursor.h"

/* {"total": N, "by_kind": {"kind": n, ...}} from a push_store_unread result. */
json_object *push_json_unread(const PGresult *res);

/* One message object from row of a push_store_messages result:
 * {"id", "cursor", "kind", "title", "body", "data", "link", "created_at", "read", "broadcast"}.
 * pos is the cursor before the message; it is moved past the message, and "cursor" is the
 * text of the new position (resuming from it skips this message and nothing else). */
json_object *push_json_message(const PGresult *res, int row, const char *tag,
                               struct push_cursor *pos);

/* All rows of a push_store_messages result as an array, moving pos past each. */
json_object *push_json_messages(const PGresult *res, const char *tag, struct push_cursor *pos);

/* The answer of push-poll, push-longpoll and push-longpoll's current state, one shape for all:
 *   {"user", "cursor", "unread", "messages", "more"[, "timeout"]}
 * "messages" are the first limit rows of msgs (NULL: none), each with its cursor, moving from pos;
 * a row past limit (asked for only to know) makes "more" true. "cursor" is where the client goes
 * on: head when given (after the newest list, the head of the stream), else past the last
 * message. unread (push_json_unread) is consumed; timeout < 0 leaves "timeout" out. */
json_object *push_json_answer(const char *user, const char *tag, const PGresult *msgs, int limit,
                              struct push_cursor pos, const struct push_cursor *head,
                              json_object *unread, int timeout);

/* json_object_new_string for a cursor. */
json_object *push_json_cursor(const struct push_cursor *c, const char *tag);

/* Serializes o compactly; the text belongs to o. */
const char *push_json_text(json_object *o, size_t *len);

#endif
