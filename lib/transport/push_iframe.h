/* push_iframe.h: the hidden-iframe encoder: an HTML document of <script> calls into the parent */
#ifndef PUSH_IFRAME_H
#define PUSH_IFRAME_H

#include <stddef.h>

#include "transport/push_emit.h"

#define PUSH_IFRAME_CALLBACK_MAX 64
#define PUSH_IFRAME_PADDING 2048

/* One stream's settings: the parent's function to call and the CSP nonce of its scripts. */
struct push_iframe {
    char callback[PUSH_IFRAME_CALLBACK_MAX + 1];
    char nonce[33];
};

/* The document (text/html; charset=utf-8), after a first chunk padded past PUSH_IFRAME_PADDING
 * bytes so browsers start running scripts at once, is one script element per event:
 *   <script nonce="N">parent.CALLBACK("open",null,{"retry":3000})</script>
 *   ... ("unread", "CURSOR", {"total":N,"by_kind":{...}})   at the start and on every change
 *   ... ("message", "CURSOR", {message})                   cursor resumes right after it
 *   ... ("heartbeat", null, null)                          every PUSH_HEARTBEAT s of silence
 *   ... ("close", null, {"reason":"lifetime"})             then the document ends
 * A temporary refusal (429, 5xx: push_emit_refuse) is such a document too: "open" with the retry
 * to wait, then ("error", null, {"error", "message", "status", "retry"}), and the end.
 * The JSON is escaped for a script element (see push_iframe_escape), and the response carries a
 * Content-Security-Policy that runs only scripts with this response's nonce, so a message that
 * got past the escaping still could not run. arg is a struct push_iframe. */
extern const struct push_encoder push_iframe_encoder;

/* Is name a callback we accept: [A-Za-z_$][A-Za-z0-9_$]{0,63}, and not a property that a
 * cross-origin parent exposes (postMessage and the like are refused). */
int push_iframe_callback_ok(const char *name);

/* Fills it->callback and a fresh random nonce. Returns -1 when name is not accepted. */
int push_iframe_init(struct push_iframe *it, const char *name);

/* Writes JSON text (json-c's output: every control character already escaped) so that it is
 * safe inside <script> and still the same JavaScript value: < > & as \u003c \u003e \u0026,
 * U+2028 and U+2029 as \u2028 \u2029, and each byte of invalid UTF-8 (a stray continuation
 * byte, a truncated or overlong sequence, a surrogate, past U+10FFFF) as \ufffd. Calls put
 * with pieces of the output; returns -1 as soon as put does, else 0. */
int push_iframe_escape(const char *json, size_t len, int (*put)(void *ctx, const char *s, size_t n),
                       void *ctx);

#endif
