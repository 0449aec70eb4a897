/* push_http.c: writing answers, reading bodies */
#include "config.h"

#include "http/push_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "core/push_metrics.h"
#include "core/push_util.h"

const char *push_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    }
    return "Unknown";
}

int push_http_respond(struct push_request *r, int status, const char *headers,
                      const char *content_type, const char *body, size_t len)
{
    char head[512];
    int n;

    if (body && content_type)
        n = snprintf(head, sizeof head, "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                     status, push_http_reason(status), content_type, len);
    else
        n = snprintf(head, sizeof head, "Status: %d %s\r\n", status, push_http_reason(status));
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    if (push_request_write(r, head, (size_t)n) < 0
        || (headers && push_request_write(r, headers, strlen(headers)) < 0)
        || push_request_write(r, "\r\n", 2) < 0
        || (body && push_request_write(r, body, len) < 0))
        return -1;
    return push_request_flush(r);
}

int push_http_refuse(struct push_request *r, struct push_refusal f)
{
    return push_http_error(r, f.status, f.code, f.message, f.headers);
}

int push_http_error(struct push_request *r, int status, const char *code, const char *message,
                    const char *headers)
{
    static const char no_store[] = "Cache-Control: no-store\r\n";
    json_object *o = json_object_new_object();
    size_t hlen = headers ? strlen(headers) : 0;
    char *all_headers = malloc(sizeof no_store + hlen);
    const char *text;
    int rc;

    if (!all_headers)
        abort();
    push_metric_refused(status);
    memcpy(all_headers, no_store, sizeof no_store - 1);
    memcpy(all_headers + sizeof no_store - 1, headers ? headers : "", hlen + 1);
    json_object_object_add(o, "error", json_object_new_string(code));
    json_object_object_add(o, "message", json_object_new_string(message));
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    rc = push_http_respond(r, status, all_headers, "application/json; charset=utf-8", text,
                           strlen(text));
    json_object_put(o);
    free(all_headers);
    return rc;
}

char *push_http_raw_answer(int status, const char *headers, const char *content_type,
                           const char *body, size_t blen, size_t *len)
{
    size_t size = blen + strlen(headers ? headers : "") + strlen(content_type) + 256;
    char *raw = xmalloc(size);
    int n = snprintf(raw, size,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                     status, push_http_reason(status), content_type, blen, headers ? headers : "");

    memcpy(raw + n, body, blen); /* (the body may hold any byte) */
    *len = (size_t)n + blen;
    return raw;
}

char *push_http_raw_error(int status, const char *code, const char *message, const char *headers,
                          size_t *len)
{
    json_object *o = json_object_new_object();
    size_t blen;
    const char *body;
    char *raw;

    json_object_object_add(o, "error", json_object_new_string(code));
    json_object_object_add(o, "message", json_object_new_string(message));
    body = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &blen);
    raw = push_http_raw_answer(status, headers, "application/json; charset=utf-8", body, blen, len);
    json_object_put(o);
    return raw;
}

enum push_body_err push_http_read_body(struct push_request *r, size_t max, char **body,
                                       size_t *len)
{
    const char *cl = push_request_env(r, "CONTENT_LENGTH");
    unsigned long long want;
    char *end, *buf;
    size_t got = 0;

    *body = NULL;
    *len = 0;
    if (!cl || !*cl || cl[0] == '-')
        return PUSH_BODY_NO_LENGTH;
    errno = 0;
    want = strtoull(cl, &end, 10);
    if (errno || *end)
        return PUSH_BODY_NO_LENGTH;
    if (want > max)
        return PUSH_BODY_TOO_LARGE;
    buf = xmalloc((size_t)want + 1);
    while (got < want) {
        long n = r->io->read(r->io_ctx, buf + got, (size_t)want - got);
        if (n <= 0) {
            free(buf);
            return PUSH_BODY_SHORT;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *body = buf;
    *len = got;
    return PUSH_BODY_OK;
}

int push_http_etag_match(const char *header, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = header;

    while (p && *p) {
        p += strspn(p, " \t,");
        if (*p == '*')
            return 1;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, elen) == 0 && (p[elen] == '\0' || strchr(" \t,", p[elen])))
            return 1;
        p = strchr(p, ',');
    }
    return 0;
}

int push_http_content_type_is(const char *header, const char *type)
{
    size_t tlen = strlen(type);

    if (!header)
        return 0;
    while (*header == ' ')
        header++;
    return strncasecmp(header, type, tlen) == 0
           && (header[tlen] == '\0' || header[tlen] == ';' || header[tlen] == ' ');
}

int push_http_origin_allowed(const char *origin, const char *scheme, const char *host,
                             const char *allowed)
{
    size_t olen = strlen(origin), slen = strlen(scheme);

    if (strcmp(origin, "null") == 0)
        return 0;
    /* the page's own origin: the scheme the request came with, and its Host */
    if (host && *host && olen > slen + 3 && strncasecmp(origin, scheme, slen) == 0
        && strncmp(origin + slen, "://", 3) == 0 && strcasecmp(origin + slen + 3, host) == 0)
        return 1;
    for (const char *s = allowed ? allowed : ""; *s;) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, " \t,");
        if ((n == 1 && *s == '*') || (n == olen && strncasecmp(s, origin, olen) == 0))
            return 1;
        s += n;
    }
    return 0;
}
