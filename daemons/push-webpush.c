/* push-webpush.c: the Web Push sender: LISTENs on PostgreSQL and sends each browser subscription
 * its user's new messages through the browser vendor's push service (RFC 8030 delivery, RFC 8291
 * encryption, RFC 8292 VAPID), one after the other, moving its cursor only once the push service
 * accepted (201)
 *
 * One thread: libpq's socket and libcurl's multi interface in one poll. Work is per subscription:
 * a subscription that has something after its cursor is "active" (at most PUSH_WEBPUSH_ACTIVE of
 * them); it reads up to PUSH_WEBPUSH_BATCH entries of its user's streams, sends the messages among
 * them one at a time, in order, and records each acceptance (push.webpush_ack) before the next.
 * Changes (edits, retractions) and the stream's head move the cursor without a push. A push
 * service is known by its origin; each has its own backoff (429, 5xx, no answer) and its own
 * bound on requests in flight, so a slow or failing one holds up only its own subscriptions. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "core/push_config.h"
#include "core/push_cursor.h"
#include "core/push_log.h"
#include "core/push_util.h"
#include "store/push_db.h"
#include "store/push_notify.h"
#include "store/push_store.h"
#include "transport/push_json.h"
#include "runtime/push_program.h"
#include "webpush/push_webpush_config.h"
#include "webpush/push_webpush_crypto.h"
#include "webpush/push_webpush_payload.h"

#define DIRTY_MAX 256          /* users remembered between rounds; more, and everything is read */
#define PAGE 256               /* subscriptions read per query of push.webpush_due */
#define IDLE_CHECK_MS 10000    /* a silent LISTEN connection is checked this often */
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 5000
#define JWT_LIFE_S (12 * 3600) /* a VAPID JWT's exp: 12 h ahead (RFC 8292: at most 24 h) */
#define JWT_RENEW_S 3600       /* ... made anew when it has less than this left */
#define SUB_WAIT_MIN_S 60L     /* a subscription's own wait after a 400, 401 or 403 ... */
#define SUB_WAIT_MAX_S 21600L  /* ... doubling up to 6 hours */
#define AUTH_MAX 1200          /* the Authorization header */
#define GIVE_UP_4XX 10         /* a subscription answered 400, 401 or 403 this many times in a row
                                * (over some 14 hours of waits) is removed: made with another
                                * VAPID key, or a push service's that no longer takes it */

extern char **environ;

static volatile sig_atomic_t stopping;
static struct push_webpush_config wcfg;
static struct push_vapid vapid;
static CURLM *multi;

/* --- push services, by origin */

struct host {
    char origin[PUSH_WEBPUSH_ORIGIN_MAX + 1];
    int in_flight;
    long wait_until;  /* push_now_ms: no request before (a 429, 5xx or no answer) */
    int strikes;      /* failures in a row: the wait doubles with each */
    char auth[AUTH_MAX];
    time_t auth_exp;  /* the JWT's exp */
    int refs;         /* active subscriptions of this service */
    struct host *next;
};

static struct host *hosts;

static struct host *host_find(const char *origin)
{
    for (struct host *h = hosts; h; h = h->next)
        if (strcmp(h->origin, origin) == 0)
            return h;
    return NULL;
}

/* Forgets the services no active subscription uses and that are not waiting: there are as many as
 * subscriptions' origins, and an origin is a registration's choice (within PUSH_WEBPUSH_HOSTS). */
static void hosts_sweep(void)
{
    long now = push_now_ms();

    for (struct host **hp = &hosts; *hp;) {
        struct host *h = *hp;
        if (h->refs == 0 && h->in_flight == 0 && h->wait_until <= now) {
            *hp = h->next;
            free(h);
        } else {
            hp = &h->next;
        }
    }
}

static struct host *host_of(const char *origin)
{
    struct host *h = host_find(origin);

    if (h)
        return h;
    h = xcalloc(1, sizeof *h);
    snprintf(h->origin, sizeof h->origin, "%s", origin);
    h->next = hosts;
    hosts = h;
    return h;
}

/* The Authorization header for h, signed anew when its JWT nears its exp. */
static const char *host_auth(struct host *h)
{
    time_t now = time(NULL);

    if (h->auth_exp - now < JWT_RENEW_S) {
        h->auth_exp = now + JWT_LIFE_S;
        if (push_vapid_header(&vapid, h->origin, (long)h->auth_exp, wcfg.subject, h->auth, sizeof h->auth) < 0) {
            h->auth_exp = 0;
            return NULL;
        }
    }
    return h->auth;
}

/* --- subscriptions being worked on */

struct entry {
    char *payload;    /* the push's plaintext; NULL: nothing to send (a change, the head) */
    size_t len;
    int64_t id;       /* the message's (for the log) */
    char kind[33];
    int64_t at_p, at_b; /* the position after it */
};

struct sub {
    int64_t id;
    char user[PUSH_USER_MAX + 1];
    char tag[PUSH_CURSOR_TAG_LEN + 1];
    char *endpoint;
    char auth_b64[PUSH_WEBPUSH_AUTH_B64 + 1];
    struct push_webpush_target keys;
    struct host *host;
    int64_t sent_p, sent_b; /* accepted up to here (recorded, or to record: unacked) */
    int unacked;            /* sent_p/sent_b are ahead of what push.webpush_ack recorded */
    struct entry *q;        /* read, not yet accepted: q[next..n) */
    int n, next;
    int read_again;         /* the last read was cut, or a wake-up came: read when q is done */
    int drop;               /* removed, gone, no longer this user's, or waiting after a failure
                             * (push.webpush_due leaves it out until then): freed once idle */
    int payload_max;        /* halved by each 413 */
    long wait_until;        /* its own wait (400, 401, 403) */
    int strikes;
    CURL *easy;             /* in flight */
    struct curl_slist *headers;
    unsigned char *body;
};

static struct sub **active;
static int nactive;

/* What the notifications asked for since the last round. */
static struct {
    int all;          /* every subscription with something due */
    int64_t after;    /* ... paging through push.webpush_due from this id (0: from the start) */
    int n;
    char user[DIRTY_MAX][PUSH_USER_MAX + 1];
} dirty;

static struct {
    long sent, failed, gone, too_large, r429, r5xx, rnet, rother;
} stats;

static double tokens; /* the rate's bucket: pushes that may start now */
static long tokens_ms;
static long rescan_at; /* push_now_ms when subscriptions left out (waiting) may be due again; 0: none */

static void rescan_by(long at)
{
    if (!rescan_at || at < rescan_at)
        rescan_at = at;
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: push-webpush [--config FILE] [--check] [--help] [--version]\n"
            "       push-webpush --generate-vapid-keys FILE\n\n"
            "Sends every pgpush message to its user's browsers that subscribed to Web Push (the\n"
            "Push API: pgpush-sw.js and pgpush.js's webPush.enable()), through each browser\n"
            "vendor's push service: encrypted for the browser (RFC 8291), signed with the site's\n"
            "VAPID key (RFC 8292). Each subscription has a cursor in PostgreSQL, moved only after\n"
            "its push service accepted a push, so restarts of either side lose nothing. It LISTENs\n"
            "on one PostgreSQL connection. Run one per database.\n\n"
            "Options:\n"
            "  --generate-vapid-keys FILE  write a new VAPID key pair to FILE (PEM, mode 0600; it\n"
            "                 must not exist) and print its public key; then exit\n"
            "  --config FILE  the configuration file (or PUSH_CONFIG=FILE); default\n"
            "                 %s, which may be absent; the\n"
            "                 environment overrides it key by key\n"
            "  --check        check the configuration, the key and the database, then exit\n"
            "  --help         show this help\n"
            "  --version      show the version\n\n"
            "Signals: SIGTERM and SIGINT stop it after the pushes in flight are answered (at most\n"
            "PUSH_WEBPUSH_TIMEOUT); SIGHUP re-reads the configuration file: the log level and\n"
            "PUSH_LOG_TIME change, the PUSH_WEBPUSH_* settings need a restart.\n\n"
            "%s%s\nDocumentation: %s/README.md\n",
            PUSH_SYSCONFDIR "/pgpush/pgpush.conf", push_config_help, push_webpush_config_help, PUSH_DOCDIR);
}

static void mark_user(const char *user)
{
    for (int i = 0; i < dirty.n; i++)
        if (strcmp(dirty.user[i], user) == 0)
            return;
    if (dirty.n == DIRTY_MAX) {
        dirty.all = 1;
        return;
    }
    snprintf(dirty.user[dirty.n++], sizeof dirty.user[0], "%s", user);
}

static void take_notifications(PGconn *conn)
{
    PGnotify *n;
    struct push_notify pn;

    while ((n = PQnotifies(conn))) {
        switch (push_notify_parse(n->extra, &pn)) {
        case PUSH_NOTIFY_USER: mark_user(pn.user); break;
        case PUSH_NOTIFY_ALL: dirty.all = 1; break;
        case PUSH_NOTIFY_NOBODY:
        case PUSH_NOTIFY_EXPIRY: break; /* (an expiry moves no cursor of ours: reads skip it) */
        }
        PQfreemem(n);
    }
}

/* --- the queue of one subscription */

static void entries_free(struct sub *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->q[i].payload);
    free(s->q);
    s->q = NULL;
    s->n = s->next = 0;
}

static void sub_free(struct sub *s)
{
    entries_free(s);
    if (s->host)
        s->host->refs--;
    free(s->endpoint);
    free(s);
}

static struct sub *find_active(int64_t id)
{
    for (int i = 0; i < nactive; i++)
        if (active[i]->id == id)
            return active[i];
    return NULL;
}

/* Takes a row of push.webpush_due into the active set: 1 added (or woken if there already), 0 no
 * room, -1 its endpoint or keys no longer pass (left as it is: it sends nothing). */
static int take_row(const PGresult *res, int row)
{
    int64_t id = strtoll(PQgetvalue(res, row, PUSH_WCOL_ID), NULL, 10);
    char origin[PUSH_WEBPUSH_ORIGIN_MAX + 1];
    struct sub *s = find_active(id);

    if (s) {
        s->read_again = 1;
        return 1;
    }
    if (nactive >= wcfg.active)
        return 0;
    if (push_webpush_endpoint_ok(&wcfg, PQgetvalue(res, row, PUSH_WCOL_ENDPOINT), origin)) {
        struct host *h = host_find(origin);
        if (h && h->wait_until > push_now_ms()) { /* its service waits: it holds no place meanwhile */
            rescan_by(h->wait_until);
            return -1;
        }
    }
    s = xcalloc(1, sizeof *s);
    s->id = id;
    snprintf(s->user, sizeof s->user, "%s", PQgetvalue(res, row, PUSH_WCOL_USER));
    push_cursor_tag(s->user, s->tag);
    if (!push_webpush_endpoint_ok(&wcfg, PQgetvalue(res, row, PUSH_WCOL_ENDPOINT), origin)
        || push_webpush_keys_parse(PQgetvalue(res, row, PUSH_WCOL_P256DH),
                                   PQgetvalue(res, row, PUSH_WCOL_AUTH), &s->keys) < 0) {
        /* registered under other rules (PUSH_WEBPUSH_HOSTS changed since): never POSTed to */
        push_log_debug("subscription %" PRId64 ": its endpoint is not allowed now; skipped", id);
        free(s);
        return -1;
    }
    s->endpoint = xstrdup(PQgetvalue(res, row, PUSH_WCOL_ENDPOINT));
    snprintf(s->auth_b64, sizeof s->auth_b64, "%s", PQgetvalue(res, row, PUSH_WCOL_AUTH));
    s->host = host_of(origin);
    s->host->refs++;
    s->sent_p = strtoll(PQgetvalue(res, row, PUSH_WCOL_SENT_P), NULL, 10);
    s->sent_b = strtoll(PQgetvalue(res, row, PUSH_WCOL_SENT_B), NULL, 10);
    s->strikes = (int)strtol(PQgetvalue(res, row, PUSH_WCOL_FAILURES), NULL, 10);
    s->read_again = 1;
    s->payload_max = wcfg.payload_max;
    active[nactive++] = s;
    return 1;
}

/* Loads the subscriptions the notifications named: 0, or -1 on a database error. */
static int load(PGconn *conn)
{
    PGresult *res;

    for (int i = 0; i < dirty.n; i++) {
        if (!(res = push_store_webpush_due(conn, dirty.user[i], 0, PAGE)))
            return -1;
        for (int r = 0; r < PQntuples(res); r++)
            if (take_row(res, r) == 0)
                dirty.all = 1; /* no room: found again when there is */
        PQclear(res);
    }
    dirty.n = 0;
    /* a broadcast's pages leave an eighth of the places to the users notifications name, so that
     * a large one does not hold up everyone's own messages */
    while (dirty.all && nactive < wcfg.active - wcfg.active / 8) {
        int rows, r;
        if (!(res = push_store_webpush_due(conn, NULL, dirty.after, PAGE)))
            return -1;
        rows = PQntuples(res);
        for (r = 0; r < rows && take_row(res, r) != 0; r++)
            dirty.after = strtoll(PQgetvalue(res, r, PUSH_WCOL_ID), NULL, 10);
        PQclear(res);
        if (r == rows && rows < PAGE) { /* all of them seen */
            long ms = push_store_webpush_next_retry(conn);
            dirty.all = 0;
            dirty.after = 0;
            if (ms >= 0) /* (some wait after a failure: they are due again then) */
                rescan_by(push_now_ms() + ms + 10);
        }
        if (r < rows)
            break; /* full: go on from dirty.after when a place frees */
    }
    return 0;
}

/* Reads s's next entries: 0, or -1 on a database error. */
static int read_entries(PGconn *conn, struct sub *s)
{
    struct push_cursor pos = { s->sent_p, s->sent_b }, head;
    PGresult *msgs, *unread = NULL;
    int n, rc = -1;

    head.personal = head.broadcast = -1;
    if (!(msgs = push_store_messages(conn, s->user, &pos, wcfg.batch, NULL))
        || !(unread = push_store_unread(conn, s->user)))
        goto done;
    n = push_store_entries(msgs, &head);
    s->q = xcalloc((size_t)n + 1, sizeof *s->q);
    for (int row = 0; row < n; row++) {
        struct entry *e = &s->q[s->n++];
        if (push_store_entry(msgs, row) == PUSH_ENTRY_MESSAGE) {
            json_object *m = push_json_message(msgs, row, s->tag, &pos);
            e->id = strtoll(PQgetvalue(msgs, row, PUSH_COL_ID), NULL, 10);
            snprintf(e->kind, sizeof e->kind, "%s", PQgetvalue(msgs, row, PUSH_COL_KIND));
            e->payload = push_webpush_payload(m, push_json_unread(unread), (size_t)s->payload_max, &e->len);
        } else { /* a change of a message sent before: Web Push has nothing to say of it */
            json_object_put(push_json_change(msgs, row, s->tag, &pos));
        }
        e->at_p = pos.personal;
        e->at_b = pos.broadcast;
    }
    /* not cut: everything up to the head was seen (what it had no reason to return included) */
    s->read_again = n >= wcfg.batch;
    if (!s->read_again && head.personal >= 0 && (head.personal > pos.personal || head.broadcast > pos.broadcast)) {
        struct entry *e = &s->q[s->n++];
        e->at_p = head.personal > pos.personal ? head.personal : pos.personal;
        e->at_b = head.broadcast > pos.broadcast ? head.broadcast : pos.broadcast;
    }
    rc = 0;
done:
    PQclear(msgs);
    PQclear(unread);
    return rc;
}

/* Records s's cursor (when it moved): 0 (or nothing to do), -1 on a database error. A
 * subscription that is no longer this user's with these keys is dropped. */
static int record(PGconn *conn, struct sub *s)
{
    int rc;

    if (!s->unacked)
        return 0;
    if (!conn)
        return -1;
    rc = push_store_webpush_ack(conn, s->id, s->user, s->auth_b64, s->sent_p, s->sent_b);
    if (rc < 0)
        return -1;
    s->unacked = 0;
    if (rc == 0) {
        push_log_info("subscription %" PRId64 " was removed or changed hands; what was read for it is dropped", s->id);
        s->drop = 1;
    }
    return 0;
}

/* Moves s past the entries at the front of its queue that send nothing. */
static void skip_silent(struct sub *s)
{
    while (s->next < s->n && !s->q[s->next].payload) {
        s->sent_p = s->q[s->next].at_p;
        s->sent_b = s->q[s->next].at_b;
        s->unacked = 1;
        s->next++;
    }
}

/* --- sending */

static long backoff_ms(int strikes, long retry_after_s)
{
    long ms = 1000L << (strikes > 16 ? 16 : strikes - 1), max = wcfg.backoff_max * 1000L;

    if (ms > max)
        ms = max;
    ms = ms / 2 + rand() % (ms / 2 + 1); /* jitter: many services failing at once spread out */
    if (retry_after_s > 0)
        ms = retry_after_s * 1000L > max ? max : retry_after_s * 1000L;
    return ms;
}

/* An answer's body: nothing in it is needed (the status and Retry-After say it all); dropped, not
 * written to stdout as libcurl would by default. */
static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

static int start(struct sub *s)
{
    struct entry *e = &s->q[s->next];
    const char *auth = host_auth(s->host);
    char line[AUTH_MAX + 32];
    long len;

    if (!auth) {
        push_log_error("cannot sign a VAPID JWT for %s", s->host->origin);
        return -1;
    }
    s->body = xmalloc(e->len + PUSH_WEBPUSH_OVERHEAD);
    if ((len = push_webpush_encrypt(&s->keys, (const unsigned char *)e->payload, e->len, NULL, NULL, s->body)) < 0) {
        push_log_error("subscription %" PRId64 ": encryption failed", s->id);
        free(s->body);
        s->body = NULL;
        return -1;
    }
    snprintf(line, sizeof line, "TTL: %d", wcfg.ttl);
    s->headers = curl_slist_append(NULL, line);
    snprintf(line, sizeof line, "Urgency: %s", push_webpush_urgency(&wcfg, e->kind[0] ? e->kind : NULL));
    s->headers = curl_slist_append(s->headers, line);
    if (wcfg.topic) /* one topic for all of a subscription's pushes: the newest replaces the rest */
        s->headers = curl_slist_append(s->headers, "Topic: pgpush");
    s->headers = curl_slist_append(s->headers, "Content-Encoding: aes128gcm");
    s->headers = curl_slist_append(s->headers, "Content-Type: application/octet-stream");
    snprintf(line, sizeof line, "Authorization: %s", auth);
    s->headers = curl_slist_append(s->headers, line);
    s->headers = curl_slist_append(s->headers, "Expect:"); /* (no 100-continue round trip) */
    s->easy = curl_easy_init();
    if (!s->headers || !s->easy)
        abort();
    curl_easy_setopt(s->easy, CURLOPT_URL, s->endpoint);
    curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, wcfg.allow_http ? "http,https" : "https");
    curl_easy_setopt(s->easy, CURLOPT_FOLLOWLOCATION, 0L); /* never elsewhere than the endpoint */
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, len);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, wcfg.timeout * 1000L);
    curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(s->easy, CURLOPT_PIPEWAIT, 1L); /* share the service's HTTP/2 connection */
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "pgpush-webpush/" PACKAGE_VERSION);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
    if (wcfg.ca_file[0])
        curl_easy_setopt(s->easy, CURLOPT_CAINFO, wcfg.ca_file);
    curl_multi_add_handle(multi, s->easy);
    s->host->in_flight++;
    return 0;
}

static void finish(struct sub *s)
{
    curl_multi_remove_handle(multi, s->easy);
    curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    free(s->body);
    s->easy = NULL;
    s->headers = NULL;
    s->body = NULL;
    s->host->in_flight--;
}

/* Retry-After: seconds, or an HTTP date; 0 when absent or unreadable. */
static long retry_after(CURL *easy)
{
    struct curl_header *h;
    long v;
    char *end;

    if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return 0;
    v = strtol(h->value, &end, 10);
    if (end != h->value && *end == '\0' && v >= 0)
        return v;
    v = (long)(curl_getdate(h->value, NULL) - time(NULL));
    return v > 0 ? v : 0;
}

/* A 413: the same message again, cut to half the size; below the smallest, given up. */
static void shrink(struct sub *s)
{
    struct entry *e = &s->q[s->next];
    json_object *o = json_tokener_parse(e->payload), *m = NULL, *u = NULL;

    /* half, down to PUSH_WEBPUSH_PAYLOAD_MIN, then given up */
    s->payload_max = s->payload_max > PUSH_WEBPUSH_PAYLOAD_MIN && s->payload_max / 2 < PUSH_WEBPUSH_PAYLOAD_MIN
                         ? PUSH_WEBPUSH_PAYLOAD_MIN
                         : s->payload_max / 2;
    if (s->payload_max < PUSH_WEBPUSH_PAYLOAD_MIN || !o || !json_object_object_get_ex(o, "message", &m)
        || !json_object_object_get_ex(o, "unread", &u)) {
        push_log_warn("subscription %" PRId64 ": message %" PRId64 " is too large for %s even cut to %d bytes; not pushed",
                      s->id, e->id, s->host->origin, PUSH_WEBPUSH_PAYLOAD_MIN);
        stats.too_large++;
        free(e->payload);
        e->payload = NULL; /* passed over, as a change is */
        s->payload_max = wcfg.payload_max;
    } else {
        free(e->payload);
        e->payload = push_webpush_payload(json_object_get(m), json_object_get(u), (size_t)s->payload_max, &e->len);
    }
    json_object_put(o);
}

/* A push service's answer to s's request. */
static void answered(PGconn *conn, struct sub *s, CURLcode cc)
{
    long status = 0, wait_s = 0, ms;
    struct host *h = s->host;
    char why[120];
    int n, own = 0;

    if (cc == CURLE_OK)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status == 429 || status >= 500)
        wait_s = retry_after(s->easy);
    finish(s);
    if (status == 201 || status == 200 || status == 202) {
        struct entry *e = &s->q[s->next++];
        s->sent_p = e->at_p;
        s->sent_b = e->at_b;
        s->unacked = 1;
        s->strikes = 0;
        s->payload_max = wcfg.payload_max; /* (a 413's halving was for that message) */
        h->strikes = 0;
        stats.sent++;
        if (record(conn, s) < 0)
            push_log_debug("subscription %" PRId64 ": its cursor is recorded once PostgreSQL answers", s->id);
        return;
    }
    stats.failed++;
    if (status == 404 || status == 410) {
        push_log_info("subscription %" PRId64 " of %s is gone (%ld from %s): removed", s->id, s->user,
                      status, h->origin);
        stats.gone++;
        if (conn && push_store_webpush_gone(conn, s->id) < 0)
            push_log_warn("subscription %" PRId64 ": could not remove it: %s", s->id, PQerrorMessage(conn));
        s->drop = 1;
        return;
    }
    if (status == 413) {
        shrink(s);
        return;
    }
    if (cc != CURLE_OK || status == 429 || status >= 500) { /* the service's trouble: it waits */
        ms = backoff_ms(++h->strikes, wait_s);
        if (cc != CURLE_OK) {
            stats.rnet++;
            snprintf(why, sizeof why, "%s", curl_easy_strerror(cc));
        } else {
            if (status == 429)
                stats.r429++;
            else
                stats.r5xx++;
            snprintf(why, sizeof why, "HTTP %ld", status);
        }
        h->wait_until = push_now_ms() + ms;
        push_log_warn("%s: %s; waiting %ld ms before its next push (%d failure%s in a row)", h->origin, why,
                      ms, h->strikes, h->strikes == 1 ? "" : "s");
    } else { /* 400, 401, 403, ...: this subscription's (another VAPID key, say): it waits */
        own = 1;
        stats.rother++;
        snprintf(why, sizeof why, "HTTP %ld", status);
        /* a minute, doubling, up to SUB_WAIT_MAX_S: ten in a row take some 14 hours, time enough
         * to put back a VAPID key replaced by mistake before the subscriptions go */
        ms = (SUB_WAIT_MIN_S << (s->strikes > 9 ? 9 : s->strikes)) * 1000L;
        if (ms > SUB_WAIT_MAX_S * 1000L)
            ms = SUB_WAIT_MAX_S * 1000L;
        ms = ms / 2 + rand() % (ms / 2 + 1);
        push_log_warn("subscription %" PRId64 " of %s: %s from %s (a subscription made with another VAPID key "
                      "answers 403); retrying in %ld s", s->id, s->user, why, h->origin, ms / 1000);
    }
    s->strikes++;
    n = conn ? push_store_webpush_failed(conn, s->id, why, ms) : -1;
    if (n >= GIVE_UP_4XX && own) {
        push_log_warn("subscription %" PRId64 " of %s: %d refusals in a row from %s: removed", s->id, s->user, n,
                      h->origin);
        stats.gone++;
        if (push_store_webpush_gone(conn, s->id) < 0)
            push_log_warn("subscription %" PRId64 ": could not remove it: %s", s->id, PQerrorMessage(conn));
        s->drop = 1;
    } else if (n >= 0 && record(conn, s) == 0) {
        /* recorded, with when to try again: push.webpush_due leaves it out until then, so that it
         * holds no place among the active ones meanwhile (what it had read is read again) */
        s->drop = 1;
        rescan_by(push_now_ms() + ms + 10);
    } else { /* no database: it waits here */
        s->wait_until = push_now_ms() + ms;
    }
}

static void take_answers(PGconn *conn)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(multi, &left))) {
        struct sub *s;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        answered(conn, s, m->data.result);
    }
}

static void refill(void)
{
    long now = push_now_ms();
    double cap = wcfg.rate / 5.0 < 1 ? 1 : wcfg.rate / 5.0;

    tokens += (double)(now - tokens_ms) * wcfg.rate / 1000.0;
    if (tokens > cap)
        tokens = cap;
    tokens_ms = now;
}

static int in_flight(void)
{
    int n = 0;

    for (int i = 0; i < nactive; i++)
        n += active[i]->easy != NULL;
    return n;
}

/* One round over the active subscriptions: reads what they need, starts what may start, drops
 * what is done. The time to wait for in *wait_ms. -1 on a database error. */
static int round_robin(PGconn *conn, long *wait_ms)
{
    static int rr;
    long now = push_now_ms();
    int err = 0;

    refill();
    for (int k = 0; k < nactive; k++) {
        int i = (rr + k) % nactive;
        struct sub *s = active[i];
        if (s->easy)
            continue;
        if (s->next == s->n && !s->drop && conn && !err) {
            if (record(conn, s) < 0) {
                err = -1;
                continue;
            }
            if (s->read_again && !s->drop && !stopping) {
                entries_free(s);
                if (read_entries(conn, s) < 0) {
                    err = -1;
                    continue;
                }
            }
        }
        if (s->drop)
            continue; /* (what it holds is dropped, its cursor is not moved any more) */
        skip_silent(s);
        if (s->host->wait_until > now && !s->unacked) {
            /* its service waits: it holds no place meanwhile, and is due again then */
            rescan_by(s->host->wait_until);
            s->drop = 1;
            continue;
        }
        /* the last push's acceptance recorded before the next goes: a subscription that changed
         * hands meanwhile gets nothing more of what was read for its previous user (and while
         * PostgreSQL is away nothing goes that could not be recorded) */
        if (s->next < s->n && s->unacked && (!conn || err || record(conn, s) < 0 || s->drop))
            continue;
        if (s->next < s->n && !s->drop && !stopping) {
            long until = s->wait_until > s->host->wait_until ? s->wait_until : s->host->wait_until;
            if (until > now) {
                if (until - now < *wait_ms)
                    *wait_ms = until - now;
            } else if (s->host->in_flight < wcfg.host_connections) {
                if (tokens < 1) {
                    long ms = (long)((1 - tokens) * 1000 / wcfg.rate) + 1;
                    if (ms < *wait_ms)
                        *wait_ms = ms;
                } else if (start(s) == 0) {
                    tokens -= 1;
                }
            }
        }
    }
    /* the done: nothing queued, nothing in flight, cursor recorded */
    for (int i = 0; i < nactive;) {
        struct sub *s = active[i];
        if (!s->easy && (s->drop || (!s->unacked && s->next == s->n && !s->read_again))) {
            sub_free(s);
            active[i] = active[--nactive];
        } else {
            i++;
        }
    }
    rr = nactive ? (rr + 1) % nactive : 0;
    return err;
}

static int queued(void)
{
    int q = 0;

    for (int i = 0; i < nactive; i++)
        q += active[i]->n - active[i]->next;
    return q;
}

static void log_stats(void)
{
    static long last_ms;
    long now = push_now_ms();

    if (now - last_ms < wcfg.stats_interval * 1000L)
        return;
    last_ms = now;
    hosts_sweep();
    if (stats.sent || stats.failed || nactive)
        push_log_info("sent %ld, failed %ld (429: %ld, 5xx: %ld, no answer: %ld, other: %ld), gone %ld, "
                      "too large %ld; %d subscriptions with %d pushes queued%s",
                      stats.sent, stats.failed, stats.r429, stats.r5xx, stats.rnet, stats.rother, stats.gone,
                      stats.too_large, nactive, queued(), dirty.all ? ", more waiting for room" : "");
    memset(&stats, 0, sizeof stats);
}

/* --- PostgreSQL */

static int take_lock(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT pg_try_advisory_lock(hashtext('pgpush webpush sender'))");
    int rc = -1;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

static int setup(struct push_db *db, PGconn *conn)
{
    static int waiting_said;
    char why[600];
    PGresult *res;
    int locked, ok;

    if (push_db_direct(conn, why, sizeof why) == 0) {
        push_log_error("cannot LISTEN: %s; retrying", why);
        return -1;
    }
    if ((locked = take_lock(conn)) == 0) {
        if (!waiting_said++)
            push_log_warn("another push-webpush serves this database; waiting for it to stop");
        return -1;
    }
    waiting_said = 0;
    res = PQexec(conn, PUSH_NOTIFY_LISTEN);
    ok = locked == 1 && PQresultStatus(res) == PGRES_COMMAND_OK && push_store_prepare(db, conn) == 0
         && push_store_webpush_set_key(conn, vapid.public_b64) == 0;
    PQclear(res);
    if (!ok)
        push_log_error("setting up the connection failed: %s", PQerrorMessage(conn));
    return ok ? 0 : -1;
}

/* Waits for PostgreSQL's socket (fd, -1: none) and libcurl's, up to ms. -1 when the connection
 * is lost. */
static int wait_io(PGconn *conn, long ms)
{
    struct curl_waitfd extra = { conn ? PQsocket(conn) : -1, CURL_WAIT_POLLIN, 0 };
    int running;

    if (conn) { /* (a notification libpq read during a query is in its queue, not on the socket) */
        take_notifications(conn);
        if (dirty.n || (dirty.all && nactive < wcfg.active - wcfg.active / 8))
            ms = 0;
    }
    if (ms < 0)
        ms = 0;
    curl_multi_poll(multi, conn ? &extra : NULL, conn ? 1 : 0, (int)ms, NULL);
    curl_multi_perform(multi, &running);
    if (conn) {
        if (!PQconsumeInput(conn))
            return -1;
        take_notifications(conn);
    }
    return 0;
}

static void serve(const struct push_config *cfg)
{
    struct push_db db;
    long retry = RETRY_MIN_MS, next_try = 0, last_io = push_now_ms(), stop_by = 0;

    push_db_init(&db, push_config_listen_url(cfg), "push-webpush");
    for (;;) {
        long wait_ms = IDLE_CHECK_MS, now = push_now_ms();
        PGconn *conn = db.conn && db.prepared ? db.conn : NULL;
        if (stopping) {
            if (!stop_by)
                stop_by = now + wcfg.timeout * 1000L + 1000;
            if (in_flight() == 0 || now > stop_by)
                break;
        }
        if (!conn && now >= next_try && !stopping) {
            enum push_db_err derr;
            char msg[512];
            if ((conn = push_db_get(&db, &derr, msg, sizeof msg)) && !db.prepared) {
                if (setup(&db, conn) < 0) {
                    push_db_close(&db);
                    conn = NULL;
                } else {
                    db.prepared = 1;
                    dirty.all = 1; /* notifications were missed */
                    dirty.after = 0;
                    for (int i = 0; i < nactive; i++)
                        active[i]->read_again = 1;
                }
            }
            if (!conn) {
                next_try = now + retry;
                retry = retry * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry * 2;
            } else {
                retry = RETRY_MIN_MS;
            }
        }
        take_answers(conn);
        if (rescan_at && now >= rescan_at) { /* subscriptions that waited may be due again */
            rescan_at = 0;
            dirty.all = 1;
        }
        if (conn && !stopping && load(conn) < 0)
            goto lost;
        if (round_robin(conn, &wait_ms) < 0)
            goto lost;
        take_answers(conn);
        log_stats();
        if (!conn && next_try - now < wait_ms)
            wait_ms = next_try - now;
        if (rescan_at && rescan_at - now < wait_ms)
            wait_ms = rescan_at - now;
        if (stopping)
            wait_ms = 100;
        if (wait_io(conn, wait_ms) < 0)
            goto lost;
        if (conn && push_now_ms() - last_io >= IDLE_CHECK_MS) { /* quiet: is it still there? */
            PGresult *res = PQexec(conn, "SELECT 1");
            int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
            PQclear(res);
            last_io = push_now_ms();
            if (!ok)
                goto lost;
        }
        continue;
    lost:
        if (conn && !push_db_lost(&db)) { /* a query failed on a live connection */
            push_db_log_failure(PQerrorMessage(conn));
            next_try = push_now_ms() + retry;
            retry = retry * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry * 2;
        } else {
            push_log_warn("lost the PostgreSQL connection; reconnecting (pushes in flight go on)");
        }
        push_db_close(&db);
        db.prepared = 0;
    }
    /* what was accepted is recorded before going */
    if (db.conn && db.prepared)
        for (int i = 0; i < nactive; i++)
            record(db.conn, active[i]);
    push_db_close(&db);
}

static int check_statements(PGconn *conn)
{
    PGresult *res = push_store_webpush_due(conn, NULL, 0, 1);
    int ok = res != NULL;

    PQclear(res);
    return ok && push_store_webpush_set_key(conn, vapid.public_b64) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static struct push_config cfg;
    struct sigaction sa;
    int want_check = 0;
    const char *config = NULL, *generate = NULL;
    char err[1200], **env;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            push_program_version("push-webpush");
            return 0;
        } else if (strcmp(argv[i], "--check") == 0) {
            want_check = 1;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--generate-vapid-keys") == 0 && i + 1 < argc) {
            generate = argv[++i];
        } else {
            fprintf(stderr, "push-webpush: unknown option %s (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (generate) {
        char pub[PUSH_WEBPUSH_KEY_B64 + 1];
        if (push_vapid_generate(generate, pub, err, sizeof err) < 0) {
            fprintf(stderr, "push-webpush: %s\n", err);
            return 1;
        }
        printf("%s\n", pub);
        return 0;
    }
    if (push_program_configure("push-webpush", config, &cfg) < 0)
        return 1;
    env = push_config_env(push_program_source(), environ, err, sizeof err);
    if (!env || push_webpush_config_load(&wcfg, env, err, sizeof err) < 0) {
        fprintf(stderr, "push-webpush: configuration error: %s\n", err);
        push_config_env_free(env);
        return 1;
    }
    push_config_env_free(env);
    if (!wcfg.vapid_key[0] || !wcfg.subject[0]) {
        fprintf(stderr, "push-webpush: configuration error: %s is not set (see --help)\n",
                !wcfg.vapid_key[0] ? "PUSH_WEBPUSH_VAPID_KEY" : "PUSH_WEBPUSH_SUBJECT");
        return 1;
    }
    if (push_vapid_load(&vapid, wcfg.vapid_key, err, sizeof err) < 0) {
        fprintf(stderr, "push-webpush: PUSH_WEBPUSH_VAPID_KEY: %s\n", err);
        return 1;
    }
    push_log_init("push-webpush", cfg.log_level, cfg.log_time);
    push_db_allow_owner(cfg.allow_owner);
    push_db_named_statements(cfg.db_prepare);
    if (want_check)
        return push_program_check_database("push-webpush", &cfg, PUSH_USES_READ, check_statements);
    if (push_program_listen_direct("push-webpush", &cfg) < 0)
        return 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (push_program_serve_reloads() < 0)
        return 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(multi = curl_multi_init())) {
        push_log_error("libcurl could not start");
        return 1;
    }
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    active = xcalloc((size_t)wcfg.active, sizeof *active);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    tokens_ms = push_now_ms();
    push_log_info("sending Web Push as %s with VAPID key %s", wcfg.subject, vapid.public_b64);
    serve(&cfg);
    push_log_info("stopping");
    for (int i = 0; i < nactive; i++) {
        if (active[i]->easy)
            finish(active[i]);
        sub_free(active[i]);
    }
    free(active);
    while (hosts) {
        struct host *h = hosts->next;
        free(hosts);
        hosts = h;
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    push_vapid_free(&vapid);
    return 0;
}
