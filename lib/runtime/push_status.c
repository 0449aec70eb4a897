/* push_status.c: metrics and health answers */
#include "config.h"

#include "runtime/push_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/push_log.h"
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

static void health(struct push_request *r, const struct push_metrics_state *st, struct push_db *db)
{
    json_object *o = json_object_new_object();
    char msg[512] = "";
    enum push_db_err err = push_db_check(db, msg, sizeof msg);
    int up = err == PUSH_DB_OK && st->listening != 0;
    const char *text;
    size_t len;

    json_object_object_add(o, "status", json_object_new_string(up ? "ok" : "unavailable"));
    json_object_object_add(o, "program", json_object_new_string(st->program));
    if (err != PUSH_DB_OK)
        json_object_object_add(o, "reason", json_object_new_string(msg));
    else if (!up)
        json_object_object_add(o, "reason",
                               json_object_new_string("the LISTEN connection is down; reconnecting"));
    json_object_object_add(o, "schema_version", json_object_new_int(PUSH_SCHEMA_VERSION));
    json_object_object_add(o, "listen", json_object_new_string(
        st->listening < 0 ? "none" : st->listening ? "up" : "down"));
    json_object_object_add(o, "streams", json_object_new_int(st->streams));
    text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    if (!up)
        push_log_warn("health check: 503: %s", err != PUSH_DB_OK ? msg : "the LISTEN connection is down");
    push_http_respond(r, up ? 200 : 503, "Cache-Control: no-store\r\n", "application/json", text, len);
    json_object_put(o);
}

void push_status_answer(struct push_request *r, enum push_status_kind kind,
                        const struct push_metrics_state *st, struct push_db *db)
{
    if (kind == PUSH_STATUS_HEALTH) {
        health(r, st, db);
    } else {
        size_t len;
        char *text = push_metrics_text(st, &len);
        push_http_respond(r, 200, "Cache-Control: no-store\r\n",
                          "text/plain; version=0.0.4; charset=utf-8", text, len);
        free(text);
    }
}
