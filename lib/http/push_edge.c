/* push_edge.c: common answers of the programs */
#include "config.h"

#include "http/push_edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "core/push_log.h"
#include "http/push_http.h"

typedef enum push_auth_err (*identify_fn)(const struct push_config *cfg, char *const *envp,
                                           const struct push_query *q, int64_t now,
                                           struct push_identity *id);

static int identify(struct push_request *r, const struct push_config *cfg, struct push_query *q,
                    identify_fn how, struct push_identity *id)
{
    enum push_query_err qerr = push_query_parse(q, push_request_env(r, "QUERY_STRING"));
    enum push_auth_err aerr;

    if (qerr != PUSH_QUERY_OK) {
        push_http_error(r, qerr == PUSH_QUERY_TOO_LONG ? 414 : 400, "bad_query",
                        push_query_strerror(qerr), NULL);
        return -1;
    }
    aerr = how(cfg, r->envp, q, time(NULL), id);
    if (aerr != PUSH_AUTH_OK) {
        push_edge_refuse_identity(r, aerr, id);
        return -1;
    }
    return 0;
}

void push_edge_refuse_identity(struct push_request *r, enum push_auth_err err,
                               const struct push_identity *id)
{
    push_auth_log_refusal(err, id, "a request", push_request_env(r, "REMOTE_ADDR"));
    push_http_error(r, push_auth_status(err), push_auth_code(err), push_auth_strerror(err),
                    err == PUSH_AUTH_AMBIGUOUS ? NULL : "WWW-Authenticate: Bearer realm=\"pgpush\"\r\n");
}

int push_edge_identify(struct push_request *r, const struct push_config *cfg,
                       struct push_query *q, struct push_identity *id)
{
    return identify(r, cfg, q, push_auth_identify, id);
}

int push_edge_identify_stream(struct push_request *r, const struct push_config *cfg,
                              struct push_query *q, struct push_identity *id)
{
    return identify(r, cfg, q, push_auth_identify_stream, id);
}

struct push_refusal push_refusal_cursor(enum push_cursor_err err)
{
    if (err == PUSH_CURSOR_WRONG_USER)
        return (struct push_refusal){ 403, "cursor_user", push_cursor_strerror(err), NULL };
    return (struct push_refusal){ 400, "bad_cursor", push_cursor_strerror(err), NULL };
}

struct push_refusal push_refusal_cursor_future(void)
{
    return (struct push_refusal){ 400, "cursor_future", "the cursor is ahead of every message", NULL };
}

struct push_refusal push_refusal_db(enum push_db_err err, const char *msg)
{
    if (err == PUSH_DB_UNREACHABLE)
        return (struct push_refusal){ 503, "database_unavailable",
                                      "the database is unavailable; try again shortly",
                                      "Retry-After: 5\r\n" };
    if (err == PUSH_DB_ROLE) /* the role's name and the remedy are for the log, not for clients */
        return (struct push_refusal){ 503, "database_role",
                                      "the server's database role is refused; its log says why",
                                      "Retry-After: 5\r\n" };
    return (struct push_refusal){ 503, "schema_mismatch", msg, "Retry-After: 5\r\n" };
}

int push_edge_cursor(struct push_request *r, const char *text, const char *tag,
                     struct push_cursor *c)
{
    enum push_cursor_err err = push_cursor_parse(text, tag, c);

    if (err == PUSH_CURSOR_OK)
        return 0;
    push_http_refuse(r, push_refusal_cursor(err));
    return -1;
}

int push_edge_stream_open(struct push_request *r, const struct push_config *cfg,
                          struct push_query *q, int tickets, struct push_edge_stream *s)
{
    const char *method = push_request_env(r, "REQUEST_METHOD");

    if ((tickets ? push_edge_identify_stream(r, cfg, q, &s->id)
                 : push_edge_identify(r, cfg, q, &s->id)) < 0)
        return -1;
    if (!method || strcmp(method, "GET") != 0) {
        push_edge_method(r, "GET");
        return -1;
    }
    push_cursor_tag(s->id.user, s->tag);
    return push_edge_kinds(r, q, s->kinds);
}

_Static_assert(PUSH_KINDS_MAX == 16, "push_refusal_kinds names the bound");

struct push_refusal push_refusal_kinds(void)
{
    return (struct push_refusal){ 400, "bad_kinds",
                                  "kinds must be 1 to 16 kinds ([a-z0-9][a-z0-9_.-]*, at most 32 "
                                  "characters each) separated by commas", NULL };
}

int push_edge_kinds_parse(const struct push_query *q, char *out)
{
    const char *v = push_query_get(q, "kinds");

    out[0] = '\0';
    if (!v || !*v)
        return 0;
    if (!push_store_kinds_valid(v, strlen(v)))
        return -1;
    snprintf(out, PUSH_KINDS_TEXT_MAX, "%s", v);
    return 0;
}

int push_edge_kinds(struct push_request *r, const struct push_query *q, char *out)
{
    if (push_edge_kinds_parse(q, out) == 0)
        return 0;
    push_http_refuse(r, push_refusal_kinds());
    return -1;
}

int push_edge_stream_from(struct push_request *r, const struct push_query *q, int event_source,
                          struct push_edge_stream *s)
{
    const char *text = NULL;

    if (event_source) {
        text = push_request_env(r, "HTTP_LAST_EVENT_ID");
        if (!text || !*text)
            text = push_query_get(q, "lastEventId");
    }
    if (!text || !*text)
        text = push_query_get(q, "since");
    s->has_from = text && *text;
    return s->has_from ? push_edge_cursor(r, text, s->tag, &s->from) : 0;
}

void push_edge_cursor_future(struct push_request *r)
{
    push_http_refuse(r, push_refusal_cursor_future());
}

int push_edge_number(struct push_request *r, const struct push_query *q, const char *name,
                     int min, int max, int def, const char *code, int *out)
{
    const char *v = push_query_get(q, name);
    char *end, msg[128];
    long n;

    *out = def;
    if (!v)
        return 0;
    n = strtol(v, &end, 10);
    if (*v && !*end && strlen(v) <= 9 && n >= min && n <= max) {
        *out = (int)n;
        return 0;
    }
    snprintf(msg, sizeof msg, "%s must be a number from %d to %d", name, min, max);
    push_http_error(r, 400, code, msg, NULL);
    return -1;
}

void push_edge_db_error(struct push_request *r, enum push_db_err err, const char *msg)
{
    push_http_refuse(r, push_refusal_db(err, msg));
}

void push_edge_query_failed(struct push_request *r, const char *error_text)
{
    push_db_log_failure(error_text);
    push_http_error(r, 500, "internal", "the database query failed", NULL);
}

void push_edge_method(struct push_request *r, const char *allow)
{
    char headers[64];

    snprintf(headers, sizeof headers, "Allow: %s\r\n", allow);
    push_http_error(r, 405, "method_not_allowed",
                    strchr(allow, ',') ? "use GET to read, POST to mark read" : "use GET",
                    headers);
}

const char *push_edge_scheme(struct push_request *r)
{
    const char *https = push_request_env(r, "HTTPS");
    const char *scheme = push_request_env(r, "REQUEST_SCHEME");

    if (https && (strcasecmp(https, "on") == 0 || strcmp(https, "1") == 0))
        return "https";
    return scheme && strcasecmp(scheme, "https") == 0 ? "https" : "http";
}

int push_edge_cross_site(struct push_request *r, const struct push_config *cfg)
{
    cfg = push_config_current(cfg); /* PUSH_ALLOWED_ORIGINS reloads */
    const char *origin = push_request_env(r, "HTTP_ORIGIN");
    const char *fetch_site = push_request_env(r, "HTTP_SEC_FETCH_SITE");

    if (origin)
        return !push_http_origin_allowed(origin, push_edge_scheme(r),
                                         push_request_env(r, "HTTP_HOST"), cfg->allowed_origins);
    return fetch_site && strcmp(fetch_site, "cross-site") == 0;
}

json_object *push_edge_json_body(struct push_request *r, const struct push_config *cfg, size_t max)
{
    json_tokener *tok;
    json_object *body;
    char *text, msg[96];
    size_t len;

    if (!push_http_content_type_is(push_request_env(r, "CONTENT_TYPE"), "application/json")) {
        push_http_error(r, 415, "unsupported_media_type", "send the body as application/json", NULL);
        return NULL;
    }
    if (push_edge_cross_site(r, cfg)) {
        push_http_error(r, 403, "origin_forbidden", "cross-site requests are not allowed", NULL);
        return NULL;
    }
    switch (push_http_read_body(r, max, &text, &len)) {
    case PUSH_BODY_OK: break;
    case PUSH_BODY_NO_LENGTH:
        push_http_error(r, 411, "length_required", "a Content-Length is required", NULL);
        return NULL;
    case PUSH_BODY_TOO_LARGE:
        snprintf(msg, sizeof msg, "the body may have at most %zu bytes", max);
        push_http_error(r, 413, "body_too_large", msg, NULL);
        return NULL;
    case PUSH_BODY_SHORT:
        push_http_error(r, 400, "bad_request", "the body ended early", NULL);
        return NULL;
    }
    tok = json_tokener_new_ex(8);
    body = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    if (!body || json_tokener_get_error(tok) != json_tokener_success
        || json_tokener_get_parse_end(tok) != len || !json_object_is_type(body, json_type_object)) {
        push_http_error(r, 400, "bad_json", "the body is not a JSON object", NULL);
        json_object_put(body);
        body = NULL;
    }
    if (tok)
        json_tokener_free(tok);
    free(text);
    return body;
}
