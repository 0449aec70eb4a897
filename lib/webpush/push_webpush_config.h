/* push_webpush_config.h: Web Push's settings (PUSH_WEBPUSH_*), read once at start, and the rules
 * a subscription's endpoint and keys must meet (push-poll's registration, push-webpush's sends)
 *
 * An endpoint is where push-webpush POSTs, so it is a URL a browser's user chose: the rules keep
 * it to the push services a site allows (PUSH_WEBPUSH_HOSTS), over https, with no redirects
 * followed, so that a registration cannot point push-webpush at the site's own network. */
#ifndef PUSH_WEBPUSH_CONFIG_H
#define PUSH_WEBPUSH_CONFIG_H

#include <stddef.h>

#include <json-c/json.h>

#include "webpush/push_webpush_crypto.h"

#define PUSH_WEBPUSH_ENDPOINT_MAX 1024 /* bytes of an endpoint URL (push.webpush_subscription) */
#define PUSH_WEBPUSH_UA_MAX 256        /* bytes of a User-Agent kept with a subscription */
#define PUSH_WEBPUSH_HOSTS_MAX 1024    /* bytes of PUSH_WEBPUSH_HOSTS */
#define PUSH_WEBPUSH_ORIGIN_MAX 300    /* "https://" host ":" port */
#define PUSH_WEBPUSH_PAYLOAD_MIN 256   /* a 413 halves the payload down to this, then gives up */
#define PUSH_WEBPUSH_URGENCY_MAX 512   /* bytes of PUSH_WEBPUSH_URGENCY */

/* The push services of the browsers' vendors (Chrome and Edge's FCM, Firefox's autopush,
 * Windows' WNS, Safari's APNs): PUSH_WEBPUSH_HOSTS's default. A leading dot: that domain's
 * subdomains. */
#define PUSH_WEBPUSH_HOSTS_DEFAULT \
    "fcm.googleapis.com,updates.push.services.mozilla.com,.notify.windows.com,.push.apple.com"

struct push_webpush_config {
    char vapid_key[512];          /* PUSH_WEBPUSH_VAPID_KEY: the key file (push-webpush only) */
    char subject[256];            /* PUSH_WEBPUSH_SUBJECT: mailto: or https: contact */
    char hosts[PUSH_WEBPUSH_HOSTS_MAX + 1]; /* PUSH_WEBPUSH_HOSTS: allowed push services */
    int allow_http;               /* PUSH_WEBPUSH_ALLOW_HTTP: http:// to 127.0.0.1 (tests, demo) */
    char ca_file[512];            /* PUSH_WEBPUSH_CA_FILE: CAs besides the system's ("": none) */
    int max_per_user;             /* PUSH_WEBPUSH_MAX_PER_USER, default 10 */
    int ttl;                      /* PUSH_WEBPUSH_TTL, s: how long a push service keeps a push */
    char urgency[PUSH_WEBPUSH_URGENCY_MAX + 1]; /* PUSH_WEBPUSH_URGENCY: kind=urgency,... */
    int topic;                    /* PUSH_WEBPUSH_TOPIC: 1: a newer push replaces an undelivered one */
    int rate;                     /* PUSH_WEBPUSH_RATE: pushes per second, at most */
    int host_connections;         /* PUSH_WEBPUSH_HOST_CONNECTIONS: requests at once per service */
    int timeout;                  /* PUSH_WEBPUSH_TIMEOUT, s: one request, at most */
    int backoff_max;              /* PUSH_WEBPUSH_BACKOFF_MAX, s: the longest wait on a service */
    int active;                   /* PUSH_WEBPUSH_ACTIVE: subscriptions worked on at once */
    int batch;                    /* PUSH_WEBPUSH_BATCH: entries read per subscription and read (10) */
    int payload_max;              /* PUSH_WEBPUSH_PAYLOAD_MAX: plaintext bytes of a push */
    int stats_interval;           /* PUSH_WEBPUSH_STATS_INTERVAL, s: the log line's period */
};

/* Fills c from envp (defaults for what is unset). 0, or -1 with a one-line reason in err naming
 * the variable at fault. */
int push_webpush_config_load(struct push_webpush_config *c, char *const *envp, char *err,
                             size_t errlen);

/* The --help text for the variables above. */
extern const char push_webpush_config_help[];

/* Is url an endpoint c allows? https:// (or, with allow_http, http:// to 127.0.0.1 or
 * localhost), a host of c->hosts, no port but the scheme's (any on 127.0.0.1 and localhost, for
 * tests), a path of printable ASCII without quotes,
 * spaces, backslashes or angle brackets, no user:password@, no fragment, at most
 * PUSH_WEBPUSH_ENDPOINT_MAX bytes. 1 with the origin ("https://host[:port]", lowercase host, the
 * port a number and left out when it is the scheme's default, as URLs' origins are:
 * VAPID's audience and the key of push-webpush's per-service state) in origin when not NULL,
 * else 0. */
int push_webpush_endpoint_ok(const struct push_webpush_config *c, const char *url,
                             char origin[PUSH_WEBPUSH_ORIGIN_MAX + 1]);

/* The same, and the endpoint in its one spelling into normal (size bytes; NULL: not wanted): the
 * origin as above and the path as it is, so that the same push target is one subscription
 * whatever case or port spelling a registration used. 0 when not allowed or it does not fit. */
int push_webpush_endpoint_normal(const struct push_webpush_config *c, const char *url, char *normal,
                                 size_t size, char origin[PUSH_WEBPUSH_ORIGIN_MAX + 1]);

/* The Urgency header for a message of kind (NULL: none): PUSH_WEBPUSH_URGENCY's word for it,
 * else its "default", else "normal". */
const char *push_webpush_urgency(const struct push_webpush_config *c, const char *kind);

/* A registration's fields, as push-poll's POST {"webpush": "subscribe", "subscription": S}
 * carries them: S is a browser's PushSubscription.toJSON(), {"endpoint", "expirationTime",
 * "keys": {"p256dh", "auth"}}. */
struct push_webpush_subscription {
    const char *endpoint;                 /* normal's, once parsed */
    const char *p256dh, *auth;            /* pointing into the JSON */
    char normal[PUSH_WEBPUSH_ENDPOINT_MAX + 1]; /* the endpoint in its one spelling */
};

enum push_webpush_sub_err {
    PUSH_WEBPUSH_SUB_OK,
    PUSH_WEBPUSH_SUB_BAD,      /* bad_subscription: not of that shape, keys malformed, off the curve */
    PUSH_WEBPUSH_SUB_ENDPOINT, /* bad_endpoint: the endpoint is not one c allows */
};

/* Reads S into out by the rules above (keys: push_webpush_keys_parse's; the endpoint in its one
 * spelling, push_webpush_endpoint_normal's). */
enum push_webpush_sub_err push_webpush_subscription_parse(const struct push_webpush_config *c,
                                                          json_object *s,
                                                          struct push_webpush_subscription *out);

#endif
