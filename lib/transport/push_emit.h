/* push_emit.h: how a transport writes events, and writing one read's messages and counts to a stream */
#ifndef PUSH_EMIT_H
#define PUSH_EMIT_H

#include <stddef.h>

#include <libpq-fe.h>

struct json_object;

#include "core/push_config.h"
#include "core/push_cursor.h"
#include "http/push_http.h"
#include "http/push_request.h"

#define PUSH_STREAM_BATCH 32 /* messages read per query while streaming: a client that reads
                              * nothing holds at most one batch (32 x 50 KiB at worst) */

/* How one transport writes; each function returns 0, or -1 when the client is gone. Every
 * transport is one of these: SSE (push_sse), the hidden iframe (push_iframe), WebSocket
 * (push_ws), and the two that answer once, long polling and short polling (below). A
 * streaming transport sets begin, message, unread, heartbeat and end; a transport that answers
 * once sets answer instead. */
struct push_encoder {
    const char *headers; /* Content-Type and the rest, each line ending "\r\n" (answer: the
                          * headers besides Content-Type) */
    size_t arg_size;     /* bytes of the arg the functions take (copied when a stream moves to
                          * the event loop); 0 when they take none */
    /* optional: headers that vary by stream (a CSP nonce), written after headers */
    int (*more_headers)(struct push_request *r, void *arg);
    int (*begin)(struct push_request *r, const struct push_config *cfg, void *arg);
    /* one message; json is the message object, cursor resumes right after it */
    int (*message)(struct push_request *r, const char *cursor, const char *json, size_t len,
                   void *arg);
    /* a message the client may hold changed (event "update": json is the message as it is now)
     * or is gone ("delete": json is {"id"}); cursor resumes right after the change */
    int (*change)(struct push_request *r, const char *event, const char *cursor, const char *json,
                  size_t len, void *arg);
    /* the unread counts changed (always sent once at the start) */
    int (*unread)(struct push_request *r, const char *cursor, const char *json, size_t len,
                  void *arg);
    int (*heartbeat)(struct push_request *r, void *arg);
    /* the stream ends cleanly (reason "lifetime", "token_expired", "shutdown"); the client
     * resumes from its last cursor: at once when retry_ms is 0, else after retry_ms (a draining
     * process spreads its clients' return: "retry:" and a "reconnect" event) */
    int (*end)(struct push_request *r, const char *reason, int retry_ms, void *arg);
    /* optional, for a stream: a temporary refusal (json: {"error", "message", "status",
     * "retry"}) as an event of this transport, after begin, and the end of the answer: a client
     * that gives up on any status but 200 (EventSource) retries it (push_emit_refuse) */
    int (*refused)(struct push_request *r, const char *json, size_t len, void *arg);
    /* the whole answer at once: o (push_json_answer's shape) with headers and more (each line
     * ending "\r\n"; NULL: none), then the request ends */
    int (*answer)(struct push_request *r, const char *headers, const char *more,
                  struct json_object *o, void *arg);
};

/* One stream as the encoder sees it: where it is, and the counts it last sent. */
struct push_emitter {
    struct push_request *r;
    const struct push_encoder *enc;
    void *arg;
    const char *tag;
    const char *kinds; /* the stream's filter (kinds=): its counts are of these only; NULL: all */
    struct push_cursor pos;
    char *sent_unread; /* the counts last sent, as JSON text (free it at the end) */
    int live;          /* its messages are new (not a first read's): their lag is measured */
};

/* The answer's start: "Status: 200 OK", enc's headers and more_headers, the blank line, then
 * enc's begin. 0, or -1 when the client is gone. */
int push_emit_begin(struct push_request *r, const struct push_config *cfg,
                    const struct push_encoder *enc, void *arg);

/* Writes the entries of msgs (at most PUSH_STREAM_BATCH; *more says whether msgs held one more):
 * messages and changes, each through its own encoder function; with nothing left out, the
 * position moves to the read's head. Then, when they changed, the counts, and flushes. Returns the
 * number of entries written, or -1 when the client is gone. */
int push_emit(struct push_emitter *e, const PGresult *msgs, const PGresult *unread, int *more);

struct push_carried;

/* Writes m, a message its wake-up carried (push_json_carried_text: e->pos moves past it), then
 * the counts text counts (push_json_unread_add's), which becomes e->sent_unread (taken: freed with
 * it), then flushes. The caller has proved m is the next message of e's stream and unread. 0, or
 * -1 when the client is gone. */
int push_emit_carried(struct push_emitter *e, const struct push_carried *m, char *counts);

/* The answer to a held long poll at *pos (moved past m) with m, a message its wake-up carried, and
 * the counts text counts (push_json_unread_add's): what push_emit_longpoll answers had it read m. */
void push_emit_longpoll_carried(struct push_request *r, const char *user, const char *tag,
                                struct push_cursor *pos, const struct push_carried *m,
                                const char *counts);

/* Answers refusal f through enc (NULL: none). A temporary one (429, 5xx) to a transport with
 * refused (SSE, the iframe) is a 200 answer: the start with a retry of f's Retry-After (else
 * cfg->retry_ms) plus up to half as much again at random, so that a crowd refused together does
 * not come back together, then the error event. Anything else is f's status with its JSON
 * body (push_http_refuse). 0, or -1 when the client is gone. */
int push_emit_refuse(struct push_request *r, const struct push_config *cfg,
                     const struct push_encoder *enc, void *arg, struct push_refusal f);

/* Answers o (push_json_answer's shape, consumed) through enc, a transport that answers once,
 * with more headers (NULL: none). 0, or -1 when the client is gone. */
int push_emit_answer(struct push_request *r, const struct push_encoder *enc, const char *more,
                     struct json_object *o);

/* The same with the answer's JSON text (len bytes) as push_emit_answer would have written it:
 * what push-poll kept of an earlier answer (push_answercache). A JSON encoder only (the poll's and
 * the long poll's). */
int push_emit_answer_text(struct push_request *r, const struct push_encoder *enc, const char *more,
                          const char *text, size_t len);

/* The answer to a long poll, push-poll's shape plus "timeout", through push_longpoll_encoder:
 * the messages of msgs after pos (at most limit; NULL: none, and "more" tells whether msgs held
 * one more) and the counts (a JSON object, consumed). */
void push_emit_longpoll(struct push_request *r, const char *user, const char *tag,
                        struct push_cursor pos, const PGresult *msgs, struct json_object *unread,
                        int limit, int timeout);

/* The two transports that answer once: a long poll's answer and the current
 * state, never cached (Cache-Control: no-store); push-poll's answer, with the caller's
 * caching headers (its ETag). */
extern const struct push_encoder push_longpoll_encoder;
extern const struct push_encoder push_poll_encoder;

#endif
