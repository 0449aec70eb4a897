/* push_webpush_payload.h: what a push carries, before encryption, cut to fit
 *
 *     {"v": 1, "type": "message", "message": M, "unread": U}
 *
 * M is the message as every transport sends it (push_json_message: id, cursor, kind, title, body,
 * data, link, created_at, read, broadcast) and U the user's unread counts when it was read
 * (push_json_unread). The cutting rule, for a limit of max bytes (README "Web Push"), stops at the
 * first step after which the text fits:
 *   1. as it is;
 *   2. without its data (null), "truncated": true in M;
 *   3. its body cut, at a character's boundary, as much as needed (to "" at most);
 *   4. its title cut likewise;
 *   5. without its link (null);
 *   6. {"v": 1, "type": "message", "message": {"id", "truncated": true}, "unread": {"total"}},
 *      which a service worker can still show as "a new message", and whose id it can read.
 * A limit below PUSH_WEBPUSH_PAYLOAD_MIN is never asked for; 6 always fits in it. */
#ifndef PUSH_WEBPUSH_PAYLOAD_H
#define PUSH_WEBPUSH_PAYLOAD_H

#include <stddef.h>

#include <json-c/json.h>

/* Takes message (push_json_message's) and unread (push_json_unread's), both consumed, and writes
 * the payload's text, at most max bytes, NUL-terminated, into a new string (free()): its length
 * in *len. Never NULL. */
char *push_webpush_payload(json_object *message, json_object *unread, size_t max, size_t *len);

#endif
