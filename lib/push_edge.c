/* push_edge.c: common answers of the programs */
#include "config.h"

#include "push_edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "push_http.h"
#include "push_log.h"

int push_edge_identify(struct push_request *r, const struct push_config *cfg,
                       struct push_query *q, struct push_identity *id)
{
    enum push_query_err qerr = push_query_parse(q, push_request_env(r, "QUERY_STRING"));
    enum push_auth_err aerr;

    if (qerr != PUSH_QUERY_OK) {
        push_http_error(r, qerr == PUSH_QUERY_TOO_LONG ? 414 : 400, "bad_query",
                        push_query_strerror(qerr), NULL);
        return -1;
    }
    aerr = push_auth_identify(cfg, r->envp, q, time(NULL), id);
    if (aerr != PUSH_AUTH_OK) {
        push_http_error(r, 401, aerr == PUSH_AUTH_MISSING ? "unauthorized" : "bad_token",
                        push_auth_strerror(aerr), "WWW-Authenticate: Bearer realm=\"pgpush\"\r\n");
        return -1;
    }
    return 0;
}

int push_edge_cursor(struct push_request *r, const char *text, const char *tag,
                     struct push_cursor *c)
{
    enum push_cursor_err err = push_cursor_parse(text, tag, c);

    if (err == PUSH_CURSOR_OK)
        return 0;
    push_http_error(r, 400, err == PUSH_CURSOR_WRONG_USER ? "cursor_user" : "bad_cursor",
                    push_cursor_strerror(err), NULL);
    return -1;
}

void push_edge_cursor_future(struct push_request *r)
{
    push_http_error(r, 400, "cursor_future", "the cursor is ahead of every message", NULL);
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
    int down = err == PUSH_DB_UNREACHABLE;

    push_http_error(r, 503, down ? "database_unavailable" : "schema_mismatch",
                    down ? "the database is unavailable; try again shortly" : msg,
                    "Retry-After: 5\r\n");
}

void push_edge_query_failed(struct push_request *r, const char *error_text)
{
    push_log_error("query failed: %.*s", (int)strcspn(error_text, "\n"), error_text);
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
