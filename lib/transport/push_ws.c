/* push_ws.c: push-ws commands and events */
#include "config.h"

#include "transport/push_ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_log.h"
#include "core/push_metrics.h"
#include "core/push_token.h"
#include "core/push_util.h"
#include "http/push_http.h"
#include "store/push_store.h"
#include "transport/push_json.h"

const char *push_ws_cmd_name(enum push_ws_cmd_type type)
{
    return type == PUSH_WS_CMD_MARK ? "mark" : "resume";
}

/* Keeps "ref" when it is a short string or an integer. */
static void take_ref(json_object *o, struct push_ws_cmd *c)
{
    json_object *v;

    if (!json_object_object_get_ex(o, "ref", &v))
        return;
    /* a string ref must be text (UTF-8, no control characters): it goes back in a text frame */
    if (json_object_is_type(v, json_type_int)
        || (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) <= PUSH_WS_REF_MAX
            && push_user_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v)))) {
        const char *t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (strlen(t) < sizeof c->ref)
            snprintf(c->ref, sizeof c->ref, "%s", t);
    }
}

/* The string value of key; NULL when there is none, or it is not a string, or has a NUL in it. */
static const char *get_string(json_object *o, const char *key)
{
    json_object *v;
    const char *s;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    s = json_object_get_string(v);
    return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

int push_ws_cmd_parse(const char *text, size_t len, const char *tag, struct push_ws_cmd *c,
                      const char **code, const char **why)
{
    json_tokener *tok = json_tokener_new_ex(8);
    json_object *o = NULL;
    const char *cmd;
    struct push_command_error e = { PUSH_COMMAND_OK, "" };
    int has, rc = -1;

    memset(c, 0, sizeof *c);
    if (!tok)
        abort();
    o = json_tokener_parse_ex(tok, text, (int)len);
    if (!o || json_tokener_get_error(tok) != json_tokener_success
        || json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
        *code = "bad_json";
        *why = "a command is one JSON object";
        goto out;
    }
    take_ref(o, c);
    cmd = get_string(o, "cmd");
    if (cmd && strcmp(cmd, "mark") == 0) {
        c->type = PUSH_WS_CMD_MARK;
        c->named = 1;
        rc = push_command_parse_mark(o, tag, &c->mark, &e);
    } else if (cmd && strcmp(cmd, "resume") == 0) {
        c->type = PUSH_WS_CMD_RESUME;
        c->named = 1;
        rc = push_command_parse_cursor(o, tag, &has, &c->cursor, &e);
        if (rc == 0 && !has) {
            e.err = PUSH_COMMAND_BAD_REQUEST;
            e.why = "resume needs a \"cursor\"";
            rc = -1;
        }
    } else {
        *code = "unknown_command";
        *why = "expected \"cmd\": \"mark\" or \"resume\"";
        goto out;
    }
    if (rc < 0) {
        *code = push_command_code(e.err);
        *why = e.why;
    }
out:
    json_object_put(o);
    json_tokener_free(tok);
    return rc;
}

static char *dup_text(json_object *o)
{
    size_t len;
    const char *t = push_json_text(o, &len);
    char *s = malloc(len + 1);

    if (!s)
        abort();
    memcpy(s, t, len + 1);
    return s;
}

char *push_ws_reply(const struct push_ws_cmd *c, const char *type, json_object *o)
{
    json_object *r = json_object_new_object();
    char *s;

    json_object_object_add(r, "type", json_object_new_string(type));
    if (c && c->ref[0])
        json_object_object_add(r, "ref", json_tokener_parse(c->ref));
    if (c && c->named)
        json_object_object_add(r, "cmd", json_object_new_string(push_ws_cmd_name(c->type)));
    json_object_object_foreach(o, k, v)
        json_object_object_add(r, k, json_object_get(v));
    json_object_put(o);
    s = dup_text(r);
    json_object_put(r);
    return s;
}

char *push_ws_error(const struct push_ws_cmd *c, const char *code, const char *why)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "error", json_object_new_string(code));
    json_object_object_add(o, "message", json_object_new_string(why));
    return push_ws_reply(c, "error", o);
}

char *push_ws_event(const char *type, const char *cursor, const char *key, const char *json,
                    size_t len)
{
    /* type, cursor and key are ours (ASCII words and a cursor); json is serialized by json-c */
    size_t size = strlen(type) + strlen(cursor) + strlen(key) + len + 40;
    char *s = malloc(size);

    if (!s)
        abort();
    snprintf(s, size, "{\"type\":\"%s\",\"cursor\":\"%s\",\"%s\":%.*s}", type, cursor, key, (int)len,
             json);
    return s;
}

/* --- running a command */

struct run {
    const char *user, *tag, *kinds;
    const struct push_ws_cmd *c;
    char *reply;
    int resumed;
    struct push_cursor to;
};

/* One run for push_db_run: 0 with r->reply, or -1 on a database error with r as it was. */
static int run_on(struct push_db *db, PGconn *conn, void *arg)
{
    struct run *r = arg;
    const struct push_ws_cmd *c = r->c;
    struct push_command_error e;
    PGresult *unread;
    json_object *o;
    int rc;

    if (push_store_prepare(db, conn) != 0)
        return -1;
    if (c->type == PUSH_WS_CMD_RESUME) {
        if ((rc = push_command_check_cursor(conn, r->user, &c->cursor, &e)) < 0)
            return -1;
        if (rc > 0) {
            r->reply = push_ws_error(c, push_command_code(e.err), e.why);
            return 0;
        }
        o = json_object_new_object();
        json_object_object_add(o, "cursor", push_json_cursor(&c->cursor, r->tag));
        r->reply = push_ws_reply(c, "ack", o);
        r->to = c->cursor;
        r->resumed = 1;
        return 0;
    }
    if ((rc = push_command_run_mark(conn, r->user, &c->mark, &e)) < 0)
        return -1;
    if (rc > 0) {
        r->reply = push_ws_error(c, push_command_code(e.err), e.why);
        return 0;
    }
    if (!(unread = push_store_unread(conn, r->user)))
        return -1;
    o = json_object_new_object();
    json_object_object_add(o, "unread", push_json_unread_kinds(unread, r->kinds));
    PQclear(unread);
    r->reply = push_ws_reply(c, "ack", o);
    return 0;
}

char *push_ws_run(struct push_db *db, const char *user, const char *tag, const char *kinds,
                  const struct push_ws_cmd *c, int *resumed, struct push_cursor *to)
{
    struct run r = { user, tag, kinds, c, NULL, 0, { 0, 0 } };
    enum push_db_err err;
    char msg[256];
    enum push_db_run rc = push_db_run(db, run_on, &r, &err, msg, sizeof msg);

    *resumed = 0;
    if (rc == PUSH_DB_RUN_OK) {
        *resumed = r.resumed;
        *to = r.to;
        return r.reply;
    }
    if (rc == PUSH_DB_RUN_FAILED)
        push_db_log_failure(msg);
    /* only a schema mismatch keeps its own sentence */
    if (err == PUSH_DB_UNREACHABLE)
        snprintf(msg, sizeof msg, "the database is unavailable; try again shortly");
    return push_ws_error(c, "database_unavailable", msg);
}

/* --- answers outside the socket's messages */

char *push_ws_http_error(int status, const char *code, const char *message, const char *headers,
                         size_t *len)
{
    push_metric_refused(status);
    return push_http_raw_error(status, code, message, headers, len);
}

char *push_ws_close_event(const char *reason, int retry_ms)
{
    json_object *o = json_object_new_object();
    char *s;

    json_object_object_add(o, "type", json_object_new_string("close"));
    json_object_object_add(o, "reason", json_object_new_string(reason));
    if (retry_ms > 0)
        json_object_object_add(o, "retry", json_object_new_int(retry_ms));
    s = dup_text(o);
    json_object_put(o);
    return s;
}

/* --- the encoder */

static int put_message(struct push_request *r, char *text)
{
    int rc = push_request_write(r, text, strlen(text)) == 0 && push_request_flush(r) == 0 ? 0 : -1;

    free(text);
    return rc;
}

static int ws_message(struct push_request *r, const char *cursor, const char *json, size_t len,
                      void *arg)
{
    (void)arg;
    return put_message(r, push_ws_event("message", cursor, "message", json, len));
}

static int ws_change(struct push_request *r, const char *name, const char *cursor, const char *json,
                     size_t len, void *arg)
{
    (void)arg;
    return put_message(r, push_ws_event(name, cursor, "message", json, len));
}

static int ws_unread(struct push_request *r, const char *cursor, const char *json, size_t len,
                     void *arg)
{
    (void)arg;
    return put_message(r, push_ws_event("unread", cursor, "unread", json, len));
}

static int ws_heartbeat(struct push_request *r, void *arg)
{
    (void)r, (void)arg;
    return 0;
}

static int ws_end(struct push_request *r, const char *reason, int retry_ms, void *arg)
{
    (void)arg;
    return put_message(r, push_ws_close_event(reason, retry_ms));
}

const struct push_encoder push_ws_encoder = {
    .headers = NULL, /* the answer starts with 101 Switching Protocols: the socket's own */
    .arg_size = 0,
    .more_headers = NULL,
    .begin = NULL,
    .message = ws_message,
    .change = ws_change,
    .unread = ws_unread,
    .heartbeat = ws_heartbeat,
    .end = ws_end,
};
