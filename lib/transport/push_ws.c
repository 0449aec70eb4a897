/* push_ws.c: push-ws commands and events */
#include "config.h"

#include "transport/push_ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_token.h"
#include "transport/push_json.h"

static const char *const mark_names[] = { "one", "upto", "all", "kind" };

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

static const char *get_string(json_object *o, const char *key, int *present)
{
    json_object *v;

    *present = json_object_object_get_ex(o, key, &v);
    return *present && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The cursor field, if any; -1 with code/why when it is there and not this user's cursor. */
static int get_cursor(json_object *o, const char *tag, struct push_ws_cmd *c, const char **code,
                      const char **why)
{
    int present;
    const char *t = get_string(o, "cursor", &present);
    enum push_cursor_err err;

    if (!present)
        return 0;
    if (!t) {
        *code = "bad_cursor";
        *why = "\"cursor\" must be a string";
        return -1;
    }
    err = push_cursor_parse(t, tag, &c->cursor);
    if (err != PUSH_CURSOR_OK) {
        *code = err == PUSH_CURSOR_WRONG_USER ? "cursor_user" : "bad_cursor";
        *why = push_cursor_strerror(err);
        return -1;
    }
    c->has_cursor = 1;
    return 0;
}

static int parse_id(json_object *o, struct push_ws_cmd *c)
{
    json_object *v;
    char *end;

    if (!json_object_object_get_ex(o, "id", &v))
        return -1;
    if (json_object_is_type(v, json_type_int)) {
        c->id = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_string)) {
        const char *t = json_object_get_string(v);
        c->id = strtoll(t, &end, 10);
        if (!*t || *end || strlen(t) > 18 || *t == '-' || *t == '+' || *t == ' ')
            return -1;
    } else {
        return -1;
    }
    return c->id > 0 ? 0 : -1;
}

static int parse_mark(json_object *o, const char *tag, struct push_ws_cmd *c, const char **code,
                      const char **why)
{
    int present;
    const char *mark = get_string(o, "mark", &present), *kind;

    *code = "bad_request";
    *why = "expected \"mark\": \"one\" | \"upto\" | \"all\" | \"kind\"";
    if (!mark)
        return -1;
    for (c->mark = PUSH_WS_MARK_ONE; c->mark <= PUSH_WS_MARK_KIND; c->mark++)
        if (strcmp(mark, mark_names[c->mark]) == 0)
            break;
    if (c->mark > PUSH_WS_MARK_KIND)
        return -1;
    if (c->mark != PUSH_WS_MARK_ONE && get_cursor(o, tag, c, code, why) < 0)
        return -1;
    switch (c->mark) {
    case PUSH_WS_MARK_ONE:
        *why = "mark one needs the message \"id\" (a string of digits)";
        return parse_id(o, c);
    case PUSH_WS_MARK_UPTO:
        *why = "mark upto needs a \"cursor\"";
        return c->has_cursor ? 0 : -1;
    case PUSH_WS_MARK_ALL:
        return 0;
    case PUSH_WS_MARK_KIND:
        *why = "mark kind needs a \"kind\": 1 to 32 of a-z 0-9 _ . -";
        kind = get_string(o, "kind", &present);
        if (!kind || !*kind || strlen(kind) > PUSH_WS_KIND_MAX
            || strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(kind))
            return -1;
        memcpy(c->kind, kind, strlen(kind) + 1);
        return 0;
    }
    return -1;
}

int push_ws_cmd_parse(const char *text, size_t len, const char *tag, struct push_ws_cmd *c,
                      const char **code, const char **why)
{
    json_tokener *tok = json_tokener_new_ex(8);
    json_object *o = NULL;
    const char *cmd;
    int present, rc = -1;

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
    cmd = get_string(o, "cmd", &present);
    if (cmd && strcmp(cmd, "mark") == 0) {
        c->type = PUSH_WS_CMD_MARK;
        c->named = 1;
        rc = parse_mark(o, tag, c, code, why);
    } else if (cmd && strcmp(cmd, "resume") == 0) {
        c->type = PUSH_WS_CMD_RESUME;
        c->named = 1;
        if (get_cursor(o, tag, c, code, why) == 0) {
            rc = c->has_cursor ? 0 : -1;
            *code = "bad_request";
            *why = "resume needs a \"cursor\"";
        }
    } else {
        *code = "unknown_command";
        *why = "expected \"cmd\": \"mark\" or \"resume\"";
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
