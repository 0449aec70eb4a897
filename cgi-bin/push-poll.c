/* push-poll.c: short polling: GET the user's unread counts, cursor and messages; POST marks read */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "core/push_cursor.h"
#include "core/push_log.h"
#include "core/push_util.h"
#include "store/push_db.h"
#include "store/push_answercache.h"
#include "store/push_statecache.h"
#include "store/push_store.h"
#include "http/push_auth.h"
#include "http/push_edge.h"
#include "http/push_http.h"
#include "http/push_query.h"
#include "http/push_server.h"
#include "transport/push_command.h"
#include "transport/push_emit.h"
#include "transport/push_json.h"
#include "runtime/push_hub.h"
#include "runtime/push_program.h"
#include "runtime/push_status.h"
#include "webpush/push_webpush_config.h"

#define POST_MAX 4096 /* bytes: the largest POST body accepted */

extern char **environ;

static const struct push_program program = {
    "push-poll",
    "Short polling for pgpush.\n\n"
    "GET  ?since=CURSOR&limit=N  the unread counts, the cursor, and the messages after CURSOR\n"
    "                            (or the newest N without since), with since the changes\n"
    "                            (\"update\", \"delete\") of those before it; kinds=K1,K2 keeps to\n"
    "                            those kinds; ETag / If-None-Match gives 304\n"
    "POST {\"mark\": \"one\", \"id\": ID} | {\"mark\": \"upto\", \"cursor\": C} | {\"mark\": \"all\"}\n"
    "     | {\"mark\": \"kind\", \"kind\": K}   marks messages read (Content-Type: application/json)\n"
    "POST {\"ticket\": true}   a stream ticket {\"ticket\": T, \"expires\": UNIX}: opens push-sse,\n"
    "                          push-iframe or push-ws with ?ticket=T within PUSH_TICKET_TTL s, so\n"
    "                          that the token never goes into a URL; the stream ends at the\n"
    "                          token's expiry\n"
    "POST {\"webpush\": \"key\"}   the VAPID public key browsers subscribe with {\"key\"} (503\n"
    "                          webpush_unavailable until push-webpush has run once)\n"
    "POST {\"webpush\": \"subscribe\", \"subscription\": S}   registers S, a browser's\n"
    "                          PushSubscription.toJSON(), for this user (README \"Web Push\")\n"
    "POST {\"webpush\": \"unsubscribe\", \"endpoint\": E}   removes this user's subscription E\n",
    NULL,
    PUSH_USES_READ | PUSH_USES_MARK,
};

/* The state cache's LISTEN connection (NULL as plain CGI or with PUSH_STATE_CACHE=0): its state is
 * in the health answer. */
static struct push_hub *listen_hub;

/* One request being answered. */
struct poll {
    struct push_request *r;
    const struct push_config *cfg;
    struct push_identity id;
    char tag[PUSH_CURSOR_TAG_LEN + 1];
    struct push_query q;
    char why[256]; /* why a read in a transaction failed (closing it clears the connection's text) */
};

enum outcome { DONE, DB_FAILED };

/* What every worker shares (its push_db_workers' arg, set in main): the users' states (NULL as
 * plain CGI or with PUSH_STATE_CACHE=0), and their last full answers (NULL without states, or
 * with PUSH_ANSWER_CACHE=0). */
struct caches {
    struct push_statecache *state;
    struct push_answercache *answers;
};

static struct push_statecache *cache_of(const struct push_db_worker *w)
{
    const struct caches *c = w->arg;

    return c ? c->state : NULL;
}

static struct push_answercache *answers_of(const struct push_db_worker *w)
{
    const struct caches *c = w->arg;

    return c ? c->answers : NULL;
}

static void respond_json(struct push_request *r, int status, json_object *o, const char *headers)
{
    size_t len;
    const char *text = push_json_text(o, &len);

    push_http_respond(r, status, headers, "application/json; charset=utf-8", text, len);
}

/* A strong ETag over everything the answer depends on. */
static void make_etag(const struct poll *p, const struct push_state *st, const char *since,
                      int limit, const char *kinds, char etag[24])
{
    char key[1024];
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    int n = snprintf(key, sizeof key, "%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%s|%d|%s",
                     p->id.user, st->head.personal, st->head.broadcast, st->read_version,
                     st->content_version, since ? since : "", limit, kinds ? kinds : "");

    for (int i = 0; i < n && i < (int)sizeof key; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    snprintf(etag, 24, "\"%016" PRIx64 "\"", h);
}

struct get_args {
    const char *since_text;          /* as given, for the ETag */
    const struct push_cursor *since; /* NULL: the newest messages */
    int limit;
    const char *kinds;               /* ?kinds=, or NULL */
    const char *if_none_match;       /* NULL: the client has no answer to compare */
    struct push_statecache *cache;   /* NULL: none; else the state read is kept with ticket */
    struct push_statecache_ticket ticket;
    int ticketed;                    /* ticket is from a lookup that missed */
    struct push_answercache *answers; /* NULL: none; else a full answer is kept under key */
    char key[900];                   /* the request's parameters: since, limit and kinds */
    char kinds_text[PUSH_KINDS_TEXT_MAX];
};

static void etag_headers(const struct poll *p, const struct push_state *st, const struct get_args *a,
                         char etag[24], char headers[160])
{
    make_etag(p, st, a->since_text, a->limit, a->kinds, etag);
    snprintf(headers, 160, "ETag: %s\r\nCache-Control: private, no-cache\r\n", etag);
}

/* Answers from the kept state when it can: 304 when the client's answer is still current, else
 * the full answer kept for the same request at the same state (push_answercache: what a read
 * would return). 0 when the database must be asked (then a->ticketed says whether a->ticket is
 * the lookup's, for keeping the state read). */
static int answer_from_cache(struct poll *p, struct get_args *a)
{
    struct push_state st;
    char etag[24], headers[160], *body;
    size_t len;

    if (!a->cache)
        return 0;
    if (!push_statecache_get(a->cache, p->id.user, &st, &a->ticket)) {
        a->ticketed = 1;
        return 0;
    }
    if (push_store_state_due(&st)) /* an expiry came since: the read marks it first (answer_get) */
        return 0;
    /* a cursor past what we keep may come from a change not notified here yet: ask */
    if (a->since && push_store_cursor_ahead(a->since, &st))
        return 0;
    etag_headers(p, &st, a, etag, headers);
    if (a->if_none_match && push_http_etag_match(a->if_none_match, etag)) {
        push_http_respond(p->r, 304, headers, NULL, NULL, 0);
        return 1;
    }
    if (!a->answers || !push_answercache_get(a->answers, p->id.user, a->key, &st, &body, &len))
        return 0;
    push_emit_answer_text(p->r, &push_poll_encoder, headers, body, len);
    free(body);
    return 1;
}

/* push.expire_due(): the expiries that have come are marked (and their deletes logged), so that
 * the state read next has moved past them: an ETag from before an expiry never matches after. */
static int expire(PGconn *conn)
{
    long long next;

    return push_store_expire_due(conn, &next);
}

/* The GET answer, read in one snapshot. */
static enum outcome answer_get(struct poll *p, PGconn *conn, const void *arg)
{
    const struct get_args *a = arg;
    struct push_state st;
    char etag[24], headers[160];
    PGresult *msgs = NULL, *unread = NULL;
    struct push_cursor pos = { 0, 0 };
    json_object *o;

    /* with an answer to compare, the state alone may show it is still current */
    if (a->if_none_match) {
        if (push_store_state(conn, p->id.user, &st) < 0
            || (push_store_state_due(&st)
                && (expire(conn) < 0 || push_store_state(conn, p->id.user, &st) < 0)))
            return DB_FAILED;
        if (a->cache && a->ticketed)
            push_statecache_put(a->cache, p->id.user, &st, &a->ticket);
        if (a->since && push_store_cursor_ahead(a->since, &st)) {
            push_edge_cursor_future(p->r);
            return DONE;
        }
        etag_headers(p, &st, a, etag, headers);
        if (push_http_etag_match(a->if_none_match, etag)) {
            push_http_respond(p->r, 304, headers, NULL, NULL, 0);
            return DONE;
        }
    }
    /* read the state with the messages and counts, in one snapshot, so that the ETag, the
     * cursor and the body agree; an expiry that has come is marked first (its delete logged),
     * and the snapshot taken again */
    for (int tries = 0;; tries++) {
        if (push_store_begin_snapshot(conn) < 0 || push_store_state(conn, p->id.user, &st) < 0
            || (!(push_store_state_due(&st) && tries == 0)
                && (!(msgs = push_store_messages(conn, p->id.user, a->since,
                                                 a->since ? a->limit + 1 : a->limit, a->kinds))
                    || !(unread = push_store_unread(conn, p->id.user))))) {
            PQclear(msgs);
            push_store_end(conn, p->why, sizeof p->why);
            return DB_FAILED;
        }
        push_store_end(conn, NULL, 0);
        if (!(push_store_state_due(&st) && tries == 0))
            break;
        if (expire(conn) < 0)
            return DB_FAILED;
    }
    if (a->since && push_store_cursor_ahead(a->since, &st)) {
        PQclear(msgs);
        PQclear(unread);
        push_edge_cursor_future(p->r);
        return DONE;
    }
    etag_headers(p, &st, a, etag, headers);
    /* (kept only with no answer to compare: with one, the state was put above, from before) */
    if (a->cache && a->ticketed && !a->if_none_match)
        push_statecache_put(a->cache, p->id.user, &st, &a->ticket);

    /* with since, one row more than the limit was asked for: it only tells there is more; after
     * the newest list (no since) the client goes on from the head */
    o = push_json_answer(p->id.user, p->tag, msgs, a->limit, a->since ? *a->since : pos,
                         a->since ? NULL : &st.head, push_json_unread_kinds(unread, a->kinds), -1);
    if (a->answers) { /* read in one snapshot with st: the answer at st */
        size_t len;
        const char *text = push_json_text(o, &len);
        push_answercache_put(a->answers, p->id.user, a->key, &st, text, len);
    }
    push_emit_answer(p->r, &push_poll_encoder, headers, o);
    PQclear(msgs);
    PQclear(unread);
    return DONE;
}

typedef enum outcome (*db_step)(struct poll *p, PGconn *conn, const void *arg);

/* Runs step with a connection; when the connection turns out lost (PostgreSQL restarted), once
 * more on a new one. Answers 503 or 500 itself when it cannot. */
struct step_run {
    struct poll *p;
    db_step step;
    const void *arg;
};

static int run_step(struct push_db *db, PGconn *conn, void *arg)
{
    struct step_run *s = arg;

    s->p->why[0] = '\0'; /* not a reason left from the attempt on a lost connection */
    return push_store_prepare(db, conn) == 0 && s->step(s->p, conn, s->arg) == DONE ? 0 : -1;
}

static void with_connection(struct push_db_worker *w, struct poll *p, db_step step, const void *arg)
{
    struct step_run s = { p, step, arg };
    enum push_db_err err;
    char msg[512];

    switch (push_db_run(&w->db, run_step, &s, &err, msg, sizeof msg)) {
    case PUSH_DB_RUN_OK:
        return;
    case PUSH_DB_RUN_FAILED:
        push_edge_query_failed(p->r, p->why[0] ? p->why : msg);
        return;
    case PUSH_DB_RUN_DOWN:
        push_edge_db_error(p->r, err, msg);
        return;
    }
}

static void handle_get(struct push_db_worker *w, struct poll *p)
{
    struct push_cursor since;
    struct get_args a = { push_query_get(&p->q, "since"), NULL, 0, NULL,
                          push_request_env(p->r, "HTTP_IF_NONE_MATCH"), NULL, { 0, 0, 0 }, 0,
                          NULL, "", "" };

    if (a.since_text && !*a.since_text)
        a.since_text = NULL;
    if (push_edge_number(p->r, &p->q, "limit", 1, p->cfg->max_limit, p->cfg->default_limit,
                         "bad_limit", &a.limit) < 0
        || (a.since_text && push_edge_cursor(p->r, a.since_text, p->tag, &since) < 0)
        || push_edge_kinds(p->r, &p->q, a.kinds_text) < 0)
        return;
    a.kinds = PUSH_EDGE_KINDS(a.kinds_text);
    if (a.since_text)
        a.since = &since;
    if (a.if_none_match && !*a.if_none_match)
        a.if_none_match = NULL;
    a.cache = cache_of(w);
    a.answers = answers_of(w);
    snprintf(a.key, sizeof a.key, "%d|%s|%s", a.limit, a.kinds ? a.kinds : "",
             a.since_text ? a.since_text : "");
    if (strlen(a.key) >= sizeof a.key - 1)
        a.answers = NULL; /* (a cursor that long is not kept) */
    if (answer_from_cache(p, &a))
        return;
    with_connection(w, p, answer_get, &a);
}

/* --- POST: marking read (the fields and the run are push_command's, shared with push-ws) */

struct mark_args {
    struct push_mark mark;
    struct push_statecache *cache;
};

/* push_command's refusals as HTTP: README's error table. */
static void command_error(struct push_request *r, const struct push_command_error *e)
{
    int status = e->err == PUSH_COMMAND_CURSOR_USER ? 403 : e->err == PUSH_COMMAND_NOT_FOUND ? 404 : 400;

    push_http_error(r, status, push_command_code(e->err), e->why, NULL);
}

static enum outcome answer_post(struct poll *p, PGconn *conn, const void *arg)
{
    const struct mark_args *a = arg;
    struct push_command_error e;
    PGresult *unread;
    json_object *o;
    int rc = push_command_run_mark(conn, p->id.user, &a->mark, &e);

    if (rc < 0)
        return DB_FAILED;
    if (rc > 0) {
        command_error(p->r, &e);
        return DONE;
    }
    /* this process's next poll must not answer 304 from before the change, even if the
     * notification has not reached the LISTEN thread yet */
    if (a->cache)
        push_statecache_changed(a->cache, p->id.user);
    if (!(unread = push_store_unread(conn, p->id.user)))
        return DB_FAILED;
    o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(1));
    json_object_object_add(o, "unread", push_json_unread(unread));
    respond_json(p->r, 200, o, "Cache-Control: no-store\r\n");
    json_object_put(o);
    PQclear(unread);
    return DONE;
}

/* --- POST {"ticket": true}: a stream ticket for EventSource, the iframe and WebSocket */

/* Answers {"ticket", "expires"}: a ticket for this identity, good for PUSH_TICKET_TTL seconds and
 * never past the token's expiry, which it carries to the stream it opens. Never logged. */
static void answer_ticket(struct poll *p)
{
    /* the settings in force: a reload may have rotated the secret; tickets are signed with the
     * current one only */
    const struct push_config *cfg = push_config_current(p->cfg);
    int64_t now = time(NULL), expires = now + cfg->ticket_ttl;
    char ticket[PUSH_TOKEN_MAX + 1];
    json_object *o;

    if (cfg->token_secret_len == 0) {
        push_log_warn("a stream ticket was asked for, but PUSH_TOKEN_SECRET is not set");
        push_http_error(p->r, 501, "tickets_unavailable",
                        "stream tickets need a token secret (PUSH_TOKEN_SECRET)", NULL);
        return;
    }
    if (p->id.expires && expires > p->id.expires)
        expires = p->id.expires;
    if (push_ticket_sign(cfg->token_secret, cfg->token_secret_len, p->id.user, expires,
                         p->id.expires, ticket, sizeof ticket) < 0)
        abort(); /* a verified user name always fits */
    o = json_object_new_object();
    json_object_object_add(o, "ticket", json_object_new_string(ticket));
    json_object_object_add(o, "expires", json_object_new_int64(expires));
    respond_json(p->r, 200, o, "Cache-Control: no-store\r\n");
    json_object_put(o);
}

static int wants_ticket(json_object *body)
{
    json_object *v;

    return json_object_object_get_ex(body, "ticket", &v) && json_object_is_type(v, json_type_boolean)
           && json_object_get_boolean(v);
}

/* --- POST {"webpush": ...}: Web Push registrations (README "Web Push"), with the identity and the
 * CSRF rules of marking read */

static struct push_webpush_config webpush; /* the PUSH_WEBPUSH_* rules, read at start */

struct webpush_args {
    const char *what; /* "key", "subscribe", "unsubscribe" */
    struct push_webpush_subscription sub;
    const char *endpoint;
    const char *ua;
    char normal[PUSH_WEBPUSH_ENDPOINT_MAX + 1];
    char ua_text[PUSH_WEBPUSH_UA_MAX + 1];
};

static enum outcome answer_webpush(struct poll *p, PGconn *conn, const void *arg)
{
    const struct webpush_args *a = arg;
    json_object *o = json_object_new_object();
    char key[PUSH_WEBPUSH_KEY_B64 + 1];
    int rc;

    if (strcmp(a->what, "key") == 0) {
        if ((rc = push_store_webpush_key(conn, key, sizeof key)) < 0)
            goto failed;
        if (rc == 0) {
            push_log_info("a Web Push key was asked for, but push-webpush has not run on this database");
            push_http_error(p->r, 503, "webpush_unavailable",
                            "this site sends no Web Push (push-webpush has not run)", NULL);
            json_object_put(o);
            return DONE;
        }
        json_object_object_add(o, "key", json_object_new_string(key));
    } else if (strcmp(a->what, "subscribe") == 0) {
        if (push_store_webpush_subscribe(conn, p->id.user, a->sub.endpoint, a->sub.p256dh, a->sub.auth,
                                         a->ua, webpush.max_per_user) < 0)
            goto failed;
        json_object_object_add(o, "ok", json_object_new_boolean(1));
    } else {
        if ((rc = push_store_webpush_unsubscribe(conn, p->id.user, a->endpoint)) < 0)
            goto failed;
        json_object_object_add(o, "ok", json_object_new_boolean(1));
        json_object_object_add(o, "removed", json_object_new_boolean(rc));
    }
    respond_json(p->r, 200, o, "Cache-Control: no-store\r\n");
    json_object_put(o);
    return DONE;
failed:
    json_object_put(o);
    return DB_FAILED;
}

/* The User-Agent kept with a subscription (to tell a user's browsers apart): printable ASCII,
 * cut to PUSH_WEBPUSH_UA_MAX bytes; NULL when there is none. */
static const char *user_agent(struct push_request *r, char *buf, size_t size)
{
    const char *ua = push_request_env(r, "HTTP_USER_AGENT");
    size_t n = 0;

    if (!ua || !*ua)
        return NULL;
    for (; ua[n] && n + 1 < size && n < PUSH_WEBPUSH_UA_MAX; n++)
        buf[n] = (unsigned char)ua[n] >= 0x20 && (unsigned char)ua[n] < 0x7f ? ua[n] : '?';
    buf[n] = '\0';
    return buf;
}

static void handle_webpush(struct push_db_worker *w, struct poll *p, json_object *body)
{
    /* (on the heap: two endpoints of 1 KiB, and worker stacks are small) */
    struct webpush_args *a = xcalloc(1, sizeof *a);
    json_object *v;

    json_object_object_get_ex(body, "webpush", &v);
    a->what = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    if (strcmp(a->what, "subscribe") == 0) {
        json_object *sub = NULL;
        json_object_object_get_ex(body, "subscription", &sub);
        switch (push_webpush_subscription_parse(&webpush, sub, &a->sub)) {
        case PUSH_WEBPUSH_SUB_OK: break;
        case PUSH_WEBPUSH_SUB_BAD:
            push_log_info("a Web Push registration of %s refused: not a subscription, or its keys are not", p->id.user);
            push_http_error(p->r, 400, "bad_subscription",
                            "subscription must be a PushSubscription's JSON: {\"endpoint\", \"keys\": "
                            "{\"p256dh\", \"auth\"}} with a P-256 key and a 16-byte secret", NULL);
            goto done;
        case PUSH_WEBPUSH_SUB_ENDPOINT:
            /* (the endpoint is not logged: a push service's URL is a capability) */
            push_log_info("a Web Push registration of %s refused: its endpoint is not an allowed push service", p->id.user);
            push_http_error(p->r, 400, "bad_endpoint",
                            "the endpoint is not an https URL of a push service this site allows "
                            "(PUSH_WEBPUSH_HOSTS)", NULL);
            goto done;
        }
        a->ua = user_agent(p->r, a->ua_text, sizeof a->ua_text);
    } else if (strcmp(a->what, "unsubscribe") == 0) {
        json_object *e = NULL;
        if (!json_object_object_get_ex(body, "endpoint", &e) || !json_object_is_type(e, json_type_string)
            || json_object_get_string_len(e) > PUSH_WEBPUSH_ENDPOINT_MAX
            || strlen(json_object_get_string(e)) != (size_t)json_object_get_string_len(e)) {
            push_http_error(p->r, 400, "bad_request", "unsubscribe takes the subscription's \"endpoint\"", NULL);
            goto done;
        }
        a->endpoint = json_object_get_string(e);
        /* as it was registered: in its one spelling (another one of the same target is the same) */
        if (push_webpush_endpoint_normal(&webpush, a->endpoint, a->normal, sizeof a->normal, NULL))
            a->endpoint = a->normal;
    } else if (strcmp(a->what, "key") != 0) {
        push_http_error(p->r, 400, "bad_request",
                        "webpush must be \"key\", \"subscribe\" or \"unsubscribe\"", NULL);
        goto done;
    }
    with_connection(w, p, answer_webpush, a);
done:
    free(a);
}

static void handle_post(struct push_db_worker *w, struct poll *p)
{
    struct mark_args a;
    json_object *body = push_edge_json_body(p->r, p->cfg, POST_MAX);

    if (body && wants_ticket(body)) {
        answer_ticket(p);
    } else if (body && json_object_object_get_ex(body, "webpush", NULL)) {
        handle_webpush(w, p, body);
    } else if (body) {
        struct push_command_error e;
        if (push_command_parse_mark(body, p->tag, &a.mark, &e) < 0) {
            command_error(p->r, &e);
        } else {
            a.cache = cache_of(w);
            with_connection(w, p, answer_post, &a);
        }
    }
    json_object_put(body);
}

/* The web server's status location: metrics, or health through this worker's connection. */
static void status(struct push_request *r, struct push_db_worker *w, enum push_status_kind kind)
{
    int streams, listening;
    struct push_metrics_state st = { .program = program.name, .transport = "poll", .db_pool = 1,
                                     .listening = -1, .broker = -1 };

    if (listen_hub) {
        push_hub_status(listen_hub, &streams, &listening);
        st.listening = listening;
    }

    push_status_answer(r, kind, &st, &w->db);
}

static void handle(struct push_request *r, void *state)
{
    struct push_db_worker *w = state;
    struct poll *p;
    const char *method = push_request_env(r, "REQUEST_METHOD");
    enum push_status_kind kind = push_status_wanted(r);

    if (kind != PUSH_STATUS_NONE) {
        status(r, w, kind);
        return;
    }
    p = calloc(1, sizeof *p); /* 5 KiB: on the heap, worker stacks are small */
    if (!p)
        abort();
    p->r = r;
    p->cfg = push_config_current(w->cfg); /* the settings in force for this request (a reload) */
    if (push_edge_identify(r, p->cfg, &p->q, &p->id) == 0) {
        push_cursor_tag(p->id.user, p->tag);
        if (method && strcmp(method, "GET") == 0)
            handle_get(w, p);
        else if (method && strcmp(method, "POST") == 0)
            handle_post(w, p);
        else
            push_edge_method(r, "GET, POST");
    }
    free(p);
}

/* The LISTEN thread's news, straight into the cache. */
static void observe(void *arg, const char *user, int listening)
{
    struct push_statecache *cache = arg;

    if (!listening || !user)
        push_statecache_listening(cache, listening); /* also drops everything */
    else
        push_statecache_changed(cache, user);
}

int main(int argc, char **argv)
{
    struct push_config cfg;
    int rc = push_program_init(&program, argc, argv, &cfg);
    static struct caches caches; /* every worker's arg */

    if (rc >= 0)
        return rc;
    {   /* the Web Push registrations' rules, from the same file under the same environment */
        char err[1200], **env = push_config_env(push_program_source(), environ, err, sizeof err);
        if (!env || push_webpush_config_load(&webpush, env, err, sizeof err) < 0) {
            push_log_error("configuration error: %s", err);
            push_config_env_free(env);
            return 1;
        }
        push_config_env_free(env);
    }
    /* a FastCGI process serves many polls: one LISTEN connection keeps the users' states, so
     * that a poll that finds nothing new costs no query, nor the same poll again */
    if (cfg.state_cache > 0 && !push_server_is_cgi(&cfg)) {
        if (push_program_listen_direct(program.name, &cfg) < 0)
            return 1;
        caches.state = push_statecache_new((unsigned)cfg.state_cache);
        if (cfg.answer_cache > 0)
            caches.answers = push_answercache_new((unsigned)cfg.answer_cache);
        listen_hub = push_hub_start_observed(push_config_listen_url(&cfg), program.name, 1, 1, observe,
                                             caches.state);
    }
    return push_server_run_db(&cfg, program.name, handle, caches.state ? &caches : NULL);
}
