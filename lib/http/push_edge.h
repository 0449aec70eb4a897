/* push_edge.h: what every program answers at its edge: who is asking, and the common errors */
#ifndef PUSH_EDGE_H
#define PUSH_EDGE_H

#include "core/push_config.h"
#include "core/push_cursor.h"
#include "store/push_db.h"
#include "store/push_store.h"
#include "http/push_auth.h"
#include "http/push_query.h"
#include "http/push_request.h"

/* 400 bad_cursor, or 403 cursor_user for another user's cursor (a request for what is not theirs) */
struct push_refusal push_refusal_cursor(enum push_cursor_err err);

/* 400 cursor_future: the cursor is ahead of every message */
struct push_refusal push_refusal_cursor_future(void);

/* 503 database_unavailable (msg unused), database_role (a superuser or the schema's owner,
 * refused: msg, which names the role, goes to the log only) or schema_mismatch (msg says what),
 * with Retry-After */
struct push_refusal push_refusal_db(enum push_db_err err, const char *msg);

/* Parses the query string into q and identifies the user into id. When it cannot, it answers
 * (400/414 bad_query; push_edge_refuse_identity) and returns -1. */
int push_edge_identify(struct push_request *r, const struct push_config *cfg,
                       struct push_query *q, struct push_identity *id);

/* Answers a request whose user could not be identified: 401 unauthorized/bad_token, or 403
 * identity_ambiguous (push_auth_status, push_auth_code), after logging why, with the client's
 * address (push_auth_log_refusal; id is what the failed identification left). */
void push_edge_refuse_identity(struct push_request *r, enum push_auth_err err,
                               const struct push_identity *id);

/* push_edge_identify for the request that opens a stream (push-sse, push-iframe): a stream
 * ticket in ?ticket= counts as a token (push_auth_identify_stream). */
int push_edge_identify_stream(struct push_request *r, const struct push_config *cfg,
                              struct push_query *q, struct push_identity *id);

/* What a GET that reads a user's stream from a cursor (push-sse, push-iframe, push-longpoll)
 * names: who asks, their cursor tag, and the cursor. */
struct push_edge_stream {
    struct push_identity id;
    char tag[PUSH_CURSOR_TAG_LEN + 1];
    struct push_cursor from;
    int has_from; /* 0: no cursor given (a stream starts now; a long poll answers at once) */
    char kinds[PUSH_KINDS_TEXT_MAX]; /* ?kinds= (push_edge_kinds); "": every kind */
};

/* The filter of ?kinds=a,b (1 to PUSH_KINDS_MAX kinds) into out (PUSH_KINDS_TEXT_MAX bytes; ""
 * when absent or empty); answers 400 bad_kinds and returns -1 when it is not one. */
int push_edge_kinds(struct push_request *r, const struct push_query *q, char *out);

/* The same without answering (push-ws answers before its upgrade): 0, or -1 when ?kinds= is not a
 * filter; and that refusal, 400 bad_kinds. */
int push_edge_kinds_parse(const struct push_query *q, char *out);
struct push_refusal push_refusal_kinds(void);

/* The filter's text for the reads: NULL for every kind. */
#define PUSH_EDGE_KINDS(k) ((k)[0] ? (k) : NULL)

/* The first checks of such a request: who asks (push_edge_identify; with tickets, which the
 * requests that open a stream take, push_edge_identify_stream), GET only (405 else), and the
 * kinds filter (push_edge_kinds). Fills s->id, s->tag and s->kinds; answers and returns -1 when
 * it cannot be served. */
int push_edge_stream_open(struct push_request *r, const struct push_config *cfg,
                          struct push_query *q, int tickets, struct push_edge_stream *s);

/* Where the request opened by push_edge_stream_open starts: the first that is not empty of the
 * Last-Event-ID header and ?lastEventId= (with event_source: how an EventSource resumes, and how a
 * page names one itself), and ?since=; parsed into s->from (push_edge_cursor). Answers and returns
 * -1 when the cursor is not one of this user's. */
int push_edge_stream_from(struct push_request *r, const struct push_query *q, int event_source,
                          struct push_edge_stream *s);

/* Parses a cursor given by the client into c; answers 400 bad_cursor or 403 cursor_user and returns
 * -1 when it is not one of this user's. */
int push_edge_cursor(struct push_request *r, const char *text, const char *tag,
                     struct push_cursor *c);

/* 400 cursor_future. */
void push_edge_cursor_future(struct push_request *r);

/* Reads ?name= as a number from min to max into *out (def when absent); answers 400 with
 * code and returns -1 when it is not. */
int push_edge_number(struct push_request *r, const struct push_query *q, const char *name,
                     int min, int max, int def, const char *code, int *out);

/* 503 database_unavailable / database_role / schema_mismatch, with Retry-After. */
void push_edge_db_error(struct push_request *r, enum push_db_err err, const char *msg);

/* 500 internal, after logging the connection's error (never sent to the client). */
void push_edge_query_failed(struct push_request *r, const char *error_text);

/* The scheme the client used to reach the web server: "https" when it says so (HTTPS=on, or
 * REQUEST_SCHEME), else "http". */
const char *push_edge_scheme(struct push_request *r);

/* Does the browser say the request comes from another site (Sec-Fetch-Site: cross-site, or an
 * Origin that is neither this request's own scheme and host nor in PUSH_ALLOWED_ORIGINS)?
 * Clients that are not browsers send neither header and are not cross-site. */
int push_edge_cross_site(struct push_request *r, const struct push_config *cfg);

struct json_object;

/* Reads a POST body that must be a JSON object of at most max bytes, sent same-site
 * (push_edge_cross_site) as application/json (no HTML form can send that without a CORS
 * preflight, which pgpush never grants). Returns it, or answers (403, 411, 413, 415, 400
 * bad_json) and returns NULL. Free it with json_object_put. */
struct json_object *push_edge_json_body(struct push_request *r, const struct push_config *cfg,
                                        size_t max);

/* 405 for methods other than those in allow ("GET" or "GET, POST"). */
void push_edge_method(struct push_request *r, const char *allow);

#endif
