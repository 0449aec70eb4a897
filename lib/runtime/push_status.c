/* push_status.c: metrics and health answers */
#include "config.h"

#include "runtime/push_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/push_log.h"
#include "core/push_util.h"
#include "http/push_http.h"

enum push_status_kind push_status_wanted(const struct push_request *r)
{
    const char *v = push_request_env(r, "PUSH_STATUS");

    if (!v)
        return PUSH_STATUS_NONE;
    if (strcmp(v, "metrics") == 0)
        return PUSH_STATUS_METRICS;
    if (strcmp(v, "health") == 0)
        return PUSH_STATUS_HEALTH;
    return PUSH_STATUS_NONE;
}

static const char *up_down(int v)
{
    return v < 0 ? "none" : v ? "up" : "down";
}

/* Why the program is not healthy, or NULL: the database first (a query on db), then the LISTEN
 * connection, then the broker's. */
static const char *unhealthy(const struct push_metrics_state *st, struct push_db *db,
                             enum push_db_err *err, char *msg, size_t len)
{
    *err = push_db_check(db, msg, len);
    if (*err != PUSH_DB_OK)
        return msg;
    if (st->listening == 0)
        return "the LISTEN connection is down; reconnecting";
    if (st->broker == 0)
        return "the MQTT broker is not connected; reconnecting";
    return NULL;
}

static char *health(const struct push_metrics_state *st, struct push_db *db, int *status,
                    size_t *len)
{
    json_object *o = json_object_new_object();
    char msg[512] = "";
    enum push_db_err err;
    const char *why = unhealthy(st, db, &err, msg, sizeof msg);
    const char *text;
    char *body;

    json_object_object_add(o, "status", json_object_new_string(why ? "unavailable" : "ok"));
    json_object_object_add(o, "program", json_object_new_string(st->program));
    if (why)
        json_object_object_add(o, "reason", json_object_new_string(why));
    json_object_object_add(o, "schema_version", json_object_new_int(PUSH_SCHEMA_VERSION));
    json_object_object_add(o, "listen", json_object_new_string(up_down(st->listening)));
    if (st->broker >= 0)
        json_object_object_add(o, "broker", json_object_new_string(up_down(st->broker)));
    if (st->streams >= 0)
        json_object_object_add(o, "streams", json_object_new_int(st->streams));
    text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, len);
    body = xmalloc(*len + 1);
    memcpy(body, text, *len + 1);
    if (why)
        push_log_warn("health check: 503: %s", why);
    *status = why ? 503 : 200;
    json_object_put(o);
    return body;
}

char *push_status_body(enum push_status_kind kind, const struct push_metrics_state *st,
                       struct push_db *db, int *status, const char **type, size_t *len)
{
    if (kind == PUSH_STATUS_HEALTH) {
        *type = PUSH_STATUS_HEALTH_TYPE;
        return health(st, db, status, len);
    }
    *type = PUSH_STATUS_METRICS_TYPE;
    *status = 200;
    return push_metrics_text(st, len);
}

void push_status_answer(struct push_request *r, enum push_status_kind kind,
                        const struct push_metrics_state *st, struct push_db *db)
{
    int status;
    const char *type;
    size_t len;
    char *body = push_status_body(kind, st, db, &status, &type, &len);

    push_http_respond(r, status, "Cache-Control: no-store\r\n", type, body, len);
    free(body);
}
