/* push_http.h: HTTP answers through CGI/FastCGI: status, headers, JSON errors, request bodies */
#ifndef PUSH_HTTP_H
#define PUSH_HTTP_H

#include <stddef.h>

#include "http/push_request.h"

/* An error answer, as data: every transport writes it its own way (push_http_refuse for a
 * CGI/FastCGI request; push-ws, which speaks HTTP itself before the upgrade, from the same
 * fields), so that a refusal has one status, code and message whatever the transport. */
struct push_refusal {
    int status;
    const char *code;    /* the JSON "error" */
    const char *message; /* the JSON "message" */
    const char *headers; /* more header lines, each ending "\r\n", or NULL */
};

/* Answers f: push_http_error with its fields. */
int push_http_refuse(struct push_request *r, struct push_refusal f);

/* The reason phrase of an HTTP status ("Not Found"); "Unknown" for codes we never send. */
const char *push_http_reason(int status);

/* Writes a whole answer: status, Content-Type and Content-Length, the extra header lines in
 * headers (each ending "\r\n"; may be NULL), a blank line, then body (NULL for none).
 * Returns 0, or -1 when the client is gone. */
int push_http_respond(struct push_request *r, int status, const char *headers,
                      const char *content_type, const char *body, size_t len);

/* Writes a JSON error answer {"error": code, "message": message}; code is a stable
 * machine-readable word, message a sentence for people. */
int push_http_error(struct push_request *r, int status, const char *code, const char *message,
                    const char *headers);

/* A whole HTTP/1.1 answer, for what speaks HTTP itself on a socket (push-ws before the upgrade,
 * the daemons' status listener, runtime/push_statusd): the status line, Content-Type and
 * Content-Length, Cache-Control: no-store, Connection: close, the extra header lines in headers
 * (each ending "\r\n"; may be NULL), a blank line and body. malloc'd; its length in *len. */
char *push_http_raw_answer(int status, const char *headers, const char *content_type,
                           const char *body, size_t blen, size_t *len);

/* The same with the JSON error body {"error": code, "message": message}. Not counted as a
 * refusal: the caller counts what is one (push_ws_http_error). */
char *push_http_raw_error(int status, const char *code, const char *message, const char *headers,
                          size_t *len);

enum push_body_err {
    PUSH_BODY_OK,
    PUSH_BODY_NO_LENGTH, /* CONTENT_LENGTH missing or not a number */
    PUSH_BODY_TOO_LARGE,
    PUSH_BODY_SHORT,     /* the client sent less than it announced */
};

/* Reads the request body (at most max bytes) into a new NUL-terminated buffer *body, which
 * the caller frees. */
enum push_body_err push_http_read_body(struct push_request *r, size_t max, char **body,
                                       size_t *len);

/* Does an If-None-Match header value match etag (a quoted string)? Handles lists, "*" and
 * weak validators (W/"..."). header may be NULL. */
int push_http_etag_match(const char *header, const char *etag);

/* Is the media type of a Content-Type header type (e.g. "application/json"), ignoring case
 * and parameters? */
int push_http_content_type_is(const char *header, const char *type);

/* May a page of origin (an Origin header's value) make this request? Yes when it is the
 * request's own origin, scheme ("http" or "https": how the request reached the web server) and
 * host (its Host header) alike, or one of allowed: origins as scheme://host[:port], separated by
 * commas or spaces, "*" for any. "null" (sandboxed frames, file: pages) never. Origins compare
 * without regard to case. */
int push_http_origin_allowed(const char *origin, const char *scheme, const char *host,
                             const char *allowed);

#endif
