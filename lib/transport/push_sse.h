/* push_sse.h: the Server-Sent Events encoder (text/event-stream) */
#ifndef PUSH_SSE_H
#define PUSH_SSE_H

#include "transport/push_emit.h"

/* Events:
 *   retry: <PUSH_RETRY>                        once, at the start
 *   id: <cursor> / event: message / data: <message JSON>
 *   id: <cursor> / event: unread  / data: {"total": N, "by_kind": {...}}
 *   : heartbeat                                 a comment, every PUSH_HEARTBEAT s of silence
 *   event: close / data: {"reason": "lifetime"} then the response ends; EventSource reconnects
 *                                               with Last-Event-ID and nothing is lost
 * A temporary refusal (429, 5xx: push_emit_refuse) is a 200 stream too, since EventSource gives
 * up for good on any other status: "retry: <Retry-After, with jitter>", then
 *   event: error / data: {"error": code, "message": ..., "status": 503, "retry": ms}
 * and the end; a bare EventSource comes back after retry, pgpush.js backs off on its onerror.
 * The JSON is one line (json-c escapes CR and LF), so no event can be split or forged. */
extern const struct push_encoder push_sse_encoder;

#endif
