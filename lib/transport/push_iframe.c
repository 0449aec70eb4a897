/* push_iframe.c: writing events as <script> calls in an HTML document (hidden-iframe streaming) */
#include "config.h"

#include "transport/push_iframe.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "http/push_request.h"

int push_iframe_callback_ok(const char *name)
{
    /* what a cross-origin frame may still reach on its parent (HTML's WindowProxy allow-list) */
    static const char *const exposed[] = { "blur", "close", "closed", "focus", "frames", "length",
                                           "location", "opener", "parent", "postMessage", "self",
                                           "top", "window" };
    static const char head[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$";
    static const char rest[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$0123456789";
    size_t len;

    if (!name || !*name || !strchr(head, name[0]))
        return 0;
    len = strlen(name);
    if (len > PUSH_IFRAME_CALLBACK_MAX || strspn(name, rest) != len)
        return 0;
    for (size_t i = 0; i < sizeof exposed / sizeof exposed[0]; i++)
        if (strcmp(name, exposed[i]) == 0)
            return 0;
    return 1;
}

int push_iframe_init(struct push_iframe *it, const char *name)
{
    unsigned char raw[16];
    size_t got = 0;

    if (!push_iframe_callback_ok(name))
        return -1;
    memcpy(it->callback, name, strlen(name) + 1); /* at most PUSH_IFRAME_CALLBACK_MAX: checked */
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(it->nonce + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        if (s[0] == 0xE0)
            lo = 0xA0; /* overlong */
        else if (s[0] == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        if (s[0] == 0xF0)
            lo = 0x90; /* overlong */
        else if (s[0] == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0, C1, F5..FF */
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

int push_iframe_escape(const char *json, size_t len, int (*put)(void *ctx, const char *s, size_t n),
                       void *ctx)
{
    const unsigned char *s = (const unsigned char *)json;
    char out[256];
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        const char *esc = NULL;
        size_t n = utf8_valid(s + i, len - i);

        if (n == 0)
            esc = "\\ufffd";
        else if (s[i] == '<')
            esc = "\\u003c";
        else if (s[i] == '>')
            esc = "\\u003e";
        else if (s[i] == '&')
            esc = "\\u0026";
        else if (n == 3 && s[i] == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
            esc = s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
        if (o + 8 > sizeof out) {
            if (put(ctx, out, o) < 0)
                return -1;
            o = 0;
        }
        if (esc) {
            memcpy(out + o, esc, 6);
            o += 6;
            i += n ? n : 1;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    return o && put(ctx, out, o) < 0 ? -1 : 0;
}

/* --- the encoder */

static int put(struct push_request *r, const char *s)
{
    return push_request_write(r, s, strlen(s));
}

static int put_request(void *ctx, const char *s, size_t n)
{
    return push_request_write(ctx, s, n);
}

/* <script nonce="N">parent.CB("type",CURSOR,DATA)</script>, CURSOR and DATA as JavaScript
 * (the cursor alphabet is [0-9a-f-], so quoting it is enough). */
static int call(struct push_request *r, const struct push_iframe *it, const char *type,
                const char *cursor, const char *json, size_t len)
{
    char head[200];

    snprintf(head, sizeof head, "<script nonce=\"%s\">parent.%s(\"%s\",", it->nonce, it->callback,
             type);
    if (put(r, head) < 0)
        return -1;
    if (cursor ? put(r, "\"") < 0 || put(r, cursor) < 0 || put(r, "\",") < 0 : put(r, "null,") < 0)
        return -1;
    if (json ? push_iframe_escape(json, len, put_request, r) < 0 : put(r, "null") < 0)
        return -1;
    return put(r, ")</script>\n");
}

static int iframe_headers(struct push_request *r, void *arg)
{
    const struct push_iframe *it = arg;
    char line[200];

    /* only this response's scripts run; only a page of the same origin may frame it */
    snprintf(line, sizeof line,
             "Content-Security-Policy: default-src 'none'; script-src 'nonce-%s'; "
             "frame-ancestors 'self'\r\n",
             it->nonce);
    return put(r, line);
}

static int iframe_begin(struct push_request *r, const struct push_config *cfg, void *arg)
{
    static const char doc[] = "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
                              "<title>pgpush</title></head><body>\n<!-- ";
    char pad[256], open[32];
    int rc;

    /* browsers (older ones, and some proxies' sniffers) wait for a first kilobyte or two before
     * they run anything: a comment of spaces gets the document past that at once */
    memset(pad, ' ', sizeof pad);
    rc = put(r, doc);
    for (size_t n = sizeof doc - 1; rc == 0 && n < PUSH_IFRAME_PADDING; n += sizeof pad)
        rc = push_request_write(r, pad, sizeof pad);
    if (rc < 0 || put(r, " -->\n") < 0)
        return -1;
    snprintf(open, sizeof open, "{\"retry\":%d}", cfg->retry_ms);
    if (call(r, arg, "open", NULL, open, strlen(open)) < 0)
        return -1;
    return push_request_flush(r);
}

static int iframe_message(struct push_request *r, const char *cursor, const char *json, size_t len,
                          void *arg)
{
    return call(r, arg, "message", cursor, json, len);
}

static int iframe_change(struct push_request *r, const char *name, const char *cursor,
                         const char *json, size_t len, void *arg)
{
    return call(r, arg, name, cursor, json, len);
}

static int iframe_unread(struct push_request *r, const char *cursor, const char *json, size_t len,
                         void *arg)
{
    return call(r, arg, "unread", cursor, json, len);
}

static int iframe_heartbeat(struct push_request *r, void *arg)
{
    return call(r, arg, "heartbeat", NULL, NULL, 0);
}

static int iframe_end(struct push_request *r, const char *reason, int retry_ms, void *arg)
{
    char data[96];

    if (retry_ms > 0)
        snprintf(data, sizeof data, "{\"reason\":\"%s\",\"retry\":%d}", reason, retry_ms);
    else
        snprintf(data, sizeof data, "{\"reason\":\"%s\"}", reason);
    if (call(r, arg, retry_ms > 0 ? "reconnect" : "close", NULL, data, strlen(data)) < 0)
        return -1;
    return put(r, "</body></html>\n");
}

static int iframe_refused(struct push_request *r, const char *json, size_t len, void *arg)
{
    if (call(r, arg, "error", NULL, json, len) < 0)
        return -1;
    return put(r, "</body></html>\n");
}

const struct push_encoder push_iframe_encoder = {
    .headers = "Content-Type: text/html; charset=utf-8\r\n"
               "X-Content-Type-Options: nosniff\r\n"
               "X-Frame-Options: SAMEORIGIN\r\n"
               "Referrer-Policy: no-referrer\r\n"
               "Cache-Control: no-cache, no-store\r\n"
               "X-Accel-Buffering: no\r\n",
    .arg_size = sizeof(struct push_iframe),
    .more_headers = iframe_headers,
    .begin = iframe_begin,
    .message = iframe_message,
    .change = iframe_change,
    .unread = iframe_unread,
    .heartbeat = iframe_heartbeat,
    .end = iframe_end,
    .refused = iframe_refused,
};
