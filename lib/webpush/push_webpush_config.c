/* push_webpush_config.c: the PUSH_WEBPUSH_* settings, and an endpoint's and a subscription's rules */
#include "config.h"

#include "webpush/push_webpush_config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/push_config.h"
#include "store/push_store.h"

const char push_webpush_config_help[] =
    "Web Push (push-webpush; push-poll reads the PUSH_WEBPUSH_HOSTS, _ALLOW_HTTP and\n"
    "_MAX_PER_USER rules for registrations):\n"
    "  PUSH_WEBPUSH_VAPID_KEY   the VAPID private key file (PEM, P-256, mode 0600), made by\n"
    "                           push-webpush --generate-vapid-keys FILE (required)\n"
    "  PUSH_WEBPUSH_SUBJECT     the contact push services see, mailto:you@example.org or an\n"
    "                           https: URL (required)\n"
    "  PUSH_WEBPUSH_HOSTS       push services an endpoint may name, comma-separated; .domain:\n"
    "                           its subdomains; on their https port only (default the\n"
    "                           browsers' vendors':\n"
    "                           " PUSH_WEBPUSH_HOSTS_DEFAULT ")\n"
    "  PUSH_WEBPUSH_ALLOW_HTTP  1: also http:// endpoints on 127.0.0.1 and localhost, for tests\n"
    "                           and the demo (default 0)\n"
    "  PUSH_WEBPUSH_CA_FILE     a PEM file of CAs trusted besides the system's (default none)\n"
    "  PUSH_WEBPUSH_MAX_PER_USER  subscriptions a user may have; one more replaces the one\n"
    "                           longest without a delivery (default 10, at most 100)\n"
    "  PUSH_WEBPUSH_TTL         seconds a push service keeps a push for a browser that is\n"
    "                           offline (default 86400, at most 2419200)\n"
    "  PUSH_WEBPUSH_URGENCY     the Urgency of a kind's pushes, kind=urgency,... with\n"
    "                           very-low, low, normal or high; default=...: the others'\n"
    "                           (default: normal for all)\n"
    "  PUSH_WEBPUSH_TOPIC       1: pushes carry Topic, so that a push service holding an\n"
    "                           undelivered push for an offline browser replaces it with the\n"
    "                           newer one, whose counts are current; 0: every push is kept\n"
    "                           (default 1)\n"
    "  PUSH_WEBPUSH_RATE        pushes sent per second, at most, a broadcast's included\n"
    "                           (default 200)\n"
    "  PUSH_WEBPUSH_HOST_CONNECTIONS  requests in flight to one push service (default 16)\n"
    "  PUSH_WEBPUSH_TIMEOUT     seconds a request may take (default 10)\n"
    "  PUSH_WEBPUSH_BACKOFF_MAX  the longest wait, in seconds, after a push service's 429 or\n"
    "                           5xx (default 300; its Retry-After is honoured up to this)\n"
    "  PUSH_WEBPUSH_ACTIVE      subscriptions worked on at once (default 1024)\n"
    "  PUSH_WEBPUSH_BATCH       entries read per subscription and read (default 10); what is\n"
    "                           read waits in memory: ACTIVE x BATCH pushes of up to 4 KiB\n"
    "  PUSH_WEBPUSH_PAYLOAD_MAX  a push's bytes before encryption (default and at most 3993,\n"
    "                           so that the body is 4096 bytes, what every service takes)\n"
    "  PUSH_WEBPUSH_STATS_INTERVAL  seconds between the log lines of what was sent (default 60)\n";

static int fail(char *err, size_t errlen, const char *name, const char *why)
{
    snprintf(err, errlen, "%s: %s", name, why);
    return -1;
}

static const char *const urgencies[] = { "very-low", "low", "normal", "high" };

static int urgency_word(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof urgencies / sizeof urgencies[0]; i++)
        if (strlen(urgencies[i]) == n && memcmp(urgencies[i], w, n) == 0)
            return (int)i;
    return -1;
}

/* PUSH_WEBPUSH_URGENCY: kind=urgency pairs, comma-separated; kind is a kind or "default". */
static int urgency_valid(const char *text)
{
    const char *p = text;

    if (!*p)
        return 1;
    for (;;) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        if (!eq || eq > end || !push_store_kind_valid(p, (size_t)(eq - p))
            || urgency_word(eq + 1, (size_t)(end - eq - 1)) < 0)
            return 0;
        if (!*end)
            return 1;
        p = end + 1;
    }
}

/* One host name of PUSH_WEBPUSH_HOSTS, or an endpoint's: letters, digits, dots and hyphens. */
static int host_chars_ok(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9')
              || h[i] == '.' || h[i] == '-'))
            return 0;
    return 1;
}

static int hosts_valid(const char *text)
{
    const char *p = text;

    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!host_chars_ok(*p == '.' ? p + 1 : p, *p == '.' ? n - 1 : n))
            return 0;
        if (!end)
            return 1;
        p = end + 1;
    }
}

static int subject_valid(const char *s)
{
    if (strncmp(s, "mailto:", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

int push_webpush_config_load(struct push_webpush_config *c, char *const *envp, char *err,
                             size_t errlen)
{
    const struct {
        const char *name;
        char *field;
        size_t size;
    } strings[] = {
        { "PUSH_WEBPUSH_VAPID_KEY", c->vapid_key, sizeof c->vapid_key },
        { "PUSH_WEBPUSH_SUBJECT", c->subject, sizeof c->subject },
        { "PUSH_WEBPUSH_HOSTS", c->hosts, sizeof c->hosts },
        { "PUSH_WEBPUSH_CA_FILE", c->ca_file, sizeof c->ca_file },
        { "PUSH_WEBPUSH_URGENCY", c->urgency, sizeof c->urgency },
    };
    const struct push_env_number numbers[] = {
        { "PUSH_WEBPUSH_ALLOW_HTTP", 0, 1, &c->allow_http },
        { "PUSH_WEBPUSH_MAX_PER_USER", 1, 100, &c->max_per_user },
        { "PUSH_WEBPUSH_TTL", 0, 2419200, &c->ttl },
        { "PUSH_WEBPUSH_TOPIC", 0, 1, &c->topic },
        { "PUSH_WEBPUSH_RATE", 1, 100000, &c->rate },
        { "PUSH_WEBPUSH_HOST_CONNECTIONS", 1, 256, &c->host_connections },
        { "PUSH_WEBPUSH_TIMEOUT", 1, 300, &c->timeout },
        { "PUSH_WEBPUSH_BACKOFF_MAX", 1, 86400, &c->backoff_max },
        { "PUSH_WEBPUSH_ACTIVE", 1, 1000000, &c->active },
        { "PUSH_WEBPUSH_BATCH", 1, 100, &c->batch },
        { "PUSH_WEBPUSH_PAYLOAD_MAX", PUSH_WEBPUSH_PAYLOAD_MIN, PUSH_WEBPUSH_PLAIN_MAX, &c->payload_max },
        { "PUSH_WEBPUSH_STATS_INTERVAL", 1, 86400, &c->stats_interval },
    };
    const char *v;

    memset(c, 0, sizeof *c);
    snprintf(c->hosts, sizeof c->hosts, "%s", PUSH_WEBPUSH_HOSTS_DEFAULT);
    c->max_per_user = 10;
    c->ttl = 86400;
    c->topic = 1;
    c->rate = 200;
    c->host_connections = 16;
    c->timeout = 10;
    c->backoff_max = 300;
    c->active = 1024;
    c->batch = 10;
    c->payload_max = PUSH_WEBPUSH_PLAIN_MAX;
    c->stats_interval = 60;
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        if (!(v = push_env_get(envp, strings[i].name)))
            continue;
        if (strlen(v) >= strings[i].size)
            return fail(err, errlen, strings[i].name, "too long");
        memcpy(strings[i].field, v, strlen(v) + 1);
    }
    if (push_env_numbers(envp, numbers, sizeof numbers / sizeof numbers[0], err, errlen) < 0)
        return -1;
    if (!hosts_valid(c->hosts))
        return fail(err, errlen, "PUSH_WEBPUSH_HOSTS",
                    "host names (or .domain) separated by commas, nothing else");
    if (!urgency_valid(c->urgency))
        return fail(err, errlen, "PUSH_WEBPUSH_URGENCY",
                    "kind=urgency pairs separated by commas, urgency very-low, low, normal or high");
    if (c->subject[0] && !subject_valid(c->subject))
        return fail(err, errlen, "PUSH_WEBPUSH_SUBJECT",
                    "a mailto: or https: URI without spaces, quotes or backslashes");
    return 0;
}

/* Is host (n bytes, lowercase) one of c->hosts? */
static int host_allowed(const struct push_webpush_config *c, const char *host, size_t n)
{
    const char *p = c->hosts;

    for (;;) {
        const char *end = strchr(p, ',');
        size_t m = end ? (size_t)(end - p) : strlen(p);
        if (*p == '.') { /* a subdomain of it, at any depth */
            if (n > m && strncasecmp(host + n - m, p, m) == 0)
                return 1;
        } else if (m == n && strncasecmp(host, p, n) == 0) {
            return 1;
        }
        if (!end)
            return 0;
        p = end + 1;
    }
}

int push_webpush_endpoint_ok(const struct push_webpush_config *c, const char *url,
                             char origin[PUSH_WEBPUSH_ORIGIN_MAX + 1])
{
    return push_webpush_endpoint_normal(c, url, NULL, 0, origin);
}

int push_webpush_endpoint_normal(const struct push_webpush_config *c, const char *url, char *normal,
                                 size_t size, char origin[PUSH_WEBPUSH_ORIGIN_MAX + 1])
{
    size_t len = strlen(url), hn;
    const char *host, *p, *path;
    char lower[254], own[PUSH_WEBPUSH_ORIGIN_MAX + 1];
    int https = strncmp(url, "https://", 8) == 0, port = 0, loopback;

    if (len > PUSH_WEBPUSH_ENDPOINT_MAX || (!https && !(c->allow_http && strncmp(url, "http://", 7) == 0)))
        return 0;
    host = url + (https ? 8 : 7);
    for (hn = 0; host[hn] && host[hn] != '/' && host[hn] != ':'; hn++)
        ;
    if (!host_chars_ok(host, hn) || host[0] == '.' || host[0] == '-' || host[hn - 1] == '.')
        return 0;
    for (size_t i = 0; i < hn; i++)
        lower[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
    lower[hn] = '\0';
    loopback = strcmp(lower, "127.0.0.1") == 0 || strcmp(lower, "localhost") == 0;
    p = host + hn;
    if (*p == ':') { /* a port: 1 to 65535, digits only */
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
            port = port * 10 + (*p - '0');
        if (digits == 0 || digits > 5 || port < 1 || port > 65535)
            return 0;
        /* the push services listen on the scheme's port: another one is a service of nobody's
         * (a registration's way to make push-webpush knock on ports of an allowed host) but on
         * this machine, for tests */
        if (!loopback && port != (https ? 443 : 80))
            return 0;
    }
    if (*p != '/')
        return 0; /* (no path: no push service's URL looks so; an '@' or '?' right after the host
                   * lands here too) */
    path = p;
    for (; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr("\"'<>\\#`{}|^", *p))
            return 0;
    if (!https && !loopback)
        return 0; /* plain http only ever on this machine */
    if (!host_allowed(c, lower, hn))
        return 0;
    if (!origin)
        origin = own;
    /* as URLs have it (VAPID's aud must be the same): the scheme's default port left out */
    if (port && port != (https ? 443 : 80))
        snprintf(origin, PUSH_WEBPUSH_ORIGIN_MAX + 1, "%s://%s:%d", https ? "https" : "http", lower, port);
    else
        snprintf(origin, PUSH_WEBPUSH_ORIGIN_MAX + 1, "%s://%s", https ? "https" : "http", lower);
    if (normal && (size_t)snprintf(normal, size, "%s%s", origin, path) >= size)
        return 0;
    return 1;
}

const char *push_webpush_urgency(const struct push_webpush_config *c, const char *kind)
{
    const char *found = NULL, *fallback = "normal";
    const char *p = c->urgency;

    if (!*p)
        return fallback;
    for (;;) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        size_t kn = (size_t)(eq - p);
        int w;
        if (!end)
            end = p + strlen(p);
        w = urgency_word(eq + 1, (size_t)(end - eq - 1)); /* (checked at load) */
        if (kind && strlen(kind) == kn && memcmp(kind, p, kn) == 0)
            found = urgencies[w];
        else if (kn == 7 && memcmp(p, "default", 7) == 0)
            fallback = urgencies[w];
        if (!*end)
            break;
        p = end + 1;
    }
    return found ? found : fallback;
}

static const char *member_string(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    /* a string with a NUL inside is never any of these fields */
    if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return NULL;
    return json_object_get_string(v);
}

enum push_webpush_sub_err push_webpush_subscription_parse(const struct push_webpush_config *c,
                                                          json_object *s,
                                                          struct push_webpush_subscription *out)
{
    struct push_webpush_target t;
    json_object *keys;

    memset(out, 0, sizeof *out);
    if (!s || !json_object_is_type(s, json_type_object) || !json_object_object_get_ex(s, "keys", &keys)
        || !json_object_is_type(keys, json_type_object) || !(out->endpoint = member_string(s, "endpoint"))
        || !(out->p256dh = member_string(keys, "p256dh")) || !(out->auth = member_string(keys, "auth")))
        return PUSH_WEBPUSH_SUB_BAD;
    if (push_webpush_keys_parse(out->p256dh, out->auth, &t) < 0)
        return PUSH_WEBPUSH_SUB_BAD;
    if (!push_webpush_endpoint_normal(c, out->endpoint, out->normal, sizeof out->normal, NULL))
        return PUSH_WEBPUSH_SUB_ENDPOINT;
    out->endpoint = out->normal;
    return PUSH_WEBPUSH_SUB_OK;
}
