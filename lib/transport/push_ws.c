/* push_ws.c: push-ws commands and events */
#include "config.h"

#include "transport/push_ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_token.h"
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
