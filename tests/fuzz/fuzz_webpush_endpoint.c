/* fuzz_webpush_endpoint.c: a Web Push endpoint, which a browser's user chooses and push-webpush
 * POSTs to. Properties: push_webpush_endpoint_ok accepts exactly what an independent reading of the
 * rule accepts (a POSIX regular expression and a host list walked apart from the parser: https://,
 * a host of the allowed list, no port but 443 (any on 127.0.0.1), a path of printable ASCII without
 * "'<>\#`{}|^ and spaces, at most 1024 bytes), and the origin it returns is "https://" the host in
 * lowercase and the port's number, without it when it is 443. */
#include "config.h"
#include "fuzz.h"

#include <ctype.h>
#include <regex.h>
#include <strings.h>

#include "webpush/push_webpush_config.h"

static const char *const allowed[] = { "fcm.googleapis.com", "updates.push.services.mozilla.com",
                                       "127.0.0.1" };
static const char *const allowed_domains[] = { "notify.windows.com", "push.apple.com" };

static int host_listed(const char *h)
{
    size_t n = strlen(h);

    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (strcasecmp(h, allowed[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof allowed_domains / sizeof allowed_domains[0]; i++) {
        size_t m = strlen(allowed_domains[i]);
        if (n > m + 1 && h[n - m - 1] == '.' && strcasecmp(h + n - m, allowed_domains[i]) == 0)
            return 1;
    }
    return 0;
}

/* 1 with want (the origin) when the rule accepts url */
static int by_rule(const char *url, char *want, size_t size)
{
    static regex_t re;
    static int ready;
    regmatch_t m[5];
    char host[300], port[8] = "";
    long p = 0;

    if (!ready) {
        if (regcomp(&re, "^https://([A-Za-z0-9.-]+)(:([0-9]+))?(/.*)$", REG_EXTENDED) != 0)
            abort();
        ready = 1;
    }
    if (strlen(url) > 1024 || regexec(&re, url, 5, m, 0) != 0)
        return 0;
    if (m[1].rm_eo - m[1].rm_so > 253)
        return 0;
    memcpy(host, url + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
    host[m[1].rm_eo - m[1].rm_so] = '\0';
    if (host[0] == '.' || host[0] == '-' || host[strlen(host) - 1] == '.')
        return 0;
    if (m[3].rm_so >= 0) {
        if (m[3].rm_eo - m[3].rm_so > 5)
            return 0;
        memcpy(port, url + m[3].rm_so, (size_t)(m[3].rm_eo - m[3].rm_so));
        port[m[3].rm_eo - m[3].rm_so] = '\0';
        p = strtol(port, NULL, 10);
        if (p < 1 || p > 65535)
            return 0;
        if (p != 443 && strcasecmp(host, "127.0.0.1") != 0) /* (localhost is not in the list) */
            return 0;
    }
    for (const char *c = url + m[4].rm_so; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || strchr("\"'<>\\#`{}|^", *c))
            return 0;
    if (!host_listed(host))
        return 0;
    for (char *c = host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (p && p != 443) /* the origin as URLs have it: the number, the scheme's default left out */
        snprintf(want, size, "https://%s:%ld", host, p);
    else
        snprintf(want, size, "https://%s", host);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct push_webpush_config c;
    static int ready;
    char *url = malloc(size + 1), origin[PUSH_WEBPUSH_ORIGIN_MAX + 1], want[PUSH_WEBPUSH_ORIGIN_MAX + 40];
    int ok, rule;

    if (!ready) {
        char err[200];
        char *env[] = { "PUSH_WEBPUSH_HOSTS=fcm.googleapis.com,updates.push.services.mozilla.com,"
                        ".notify.windows.com,.push.apple.com,127.0.0.1", NULL };
        if (push_webpush_config_load(&c, env, err, sizeof err) < 0)
            abort();
        ready = 1;
    }
    if (!url)
        abort();
    memcpy(url, data, size);
    url[size] = '\0';
    ok = push_webpush_endpoint_ok(&c, url, origin);
    rule = by_rule(url, want, sizeof want);
    PROPERTY(ok == rule, "[%s]: the parser says %d, the rule %d", url, ok, rule);
    if (ok)
        PROPERTY(strcmp(origin, want) == 0, "[%s]: origin %s, the rule's %s", url, origin, want);
    free(url);
    return 0;
}
