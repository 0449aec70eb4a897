/* push_command.c: the mark-read command: its fields parsed by one set of rules, and run */
#include "config.h"

#include "transport/push_command.h"

#include <string.h>

#include "store/push_store.h"

static const char *const mark_names[] = { "one", "upto", "all", "kind" };

static const char *const codes[] = {
    [PUSH_COMMAND_OK] = "ok",
    [PUSH_COMMAND_BAD_REQUEST] = "bad_request",
    [PUSH_COMMAND_BAD_CURSOR] = "bad_cursor",
    [PUSH_COMMAND_CURSOR_USER] = "cursor_user",
    [PUSH_COMMAND_CURSOR_FUTURE] = "cursor_future",
    [PUSH_COMMAND_NOT_FOUND] = "not_found",
    [PUSH_COMMAND_UNKNOWN_KIND] = "unknown_kind",
};

const char *push_command_code(enum push_command_err err)
{
    return (unsigned)err < sizeof codes / sizeof *codes ? codes[err] : "internal";
}

static int fail(struct push_command_error *e, enum push_command_err err, const char *why)
{
    e->err = err;
    e->why = why;
    return -1;
}

/* The string value of key, NULL when o has none or it is not a string. *len is its length; a
 * string with a NUL in it is no string here (C would read it shorter than it is). */
static const char *get_string(json_object *o, const char *key, int *present, size_t *len)
{
    json_object *v;
    const char *s;

    *present = json_object_object_get_ex(o, key, &v);
    if (!*present || !json_object_is_type(v, json_type_string))
        return NULL;
    s = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    return strlen(s) == *len ? s : NULL;
}

int push_command_parse_id(const char *text, size_t len, int64_t *id)
{
    uint64_t n = 0;

    /* at most 19 digits: every 19-digit number fits in 64 bits unsigned, so n cannot wrap */
    if (len < 1 || len > 19 || text[0] < '1' || text[0] > '9')
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(text[i] - '0');
    }
    if (n > INT64_MAX)
        return -1;
    *id = (int64_t)n;
    return 0;
}

/* "id": a string of digits, or a JSON integer whose digits follow the same rule. */
static int get_id(json_object *o, int64_t *id)
{
    json_object *v;
    const char *t;

    if (!json_object_object_get_ex(o, "id", &v))
        return -1;
    if (json_object_is_type(v, json_type_string)) {
        t = json_object_get_string(v);
        return push_command_parse_id(t, (size_t)json_object_get_string_len(v), id);
    }
    if (json_object_is_type(v, json_type_int)) {
        /* json-c keeps a number past INT64_MAX as an unsigned one, and saturates past that:
         * its text shows it, where json_object_get_int64 would clamp it to INT64_MAX */
        t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        return push_command_parse_id(t, strlen(t), id);
    }
    return -1;
}

int push_command_parse_cursor(json_object *o, const char *tag, int *has, struct push_cursor *c,
                              struct push_command_error *e)
{
    int present;
    size_t len;
    const char *t = get_string(o, "cursor", &present, &len);
    enum push_cursor_err err;

    *has = 0;
    if (!present)
        return 0;
    if (!t)
        return fail(e, PUSH_COMMAND_BAD_CURSOR, "\"cursor\" must be a string");
    err = push_cursor_parse(t, tag, c);
    if (err != PUSH_CURSOR_OK)
        return fail(e, err == PUSH_CURSOR_WRONG_USER ? PUSH_COMMAND_CURSOR_USER : PUSH_COMMAND_BAD_CURSOR,
                    push_cursor_strerror(err));
    *has = 1;
    return 0;
}

int push_command_parse_mark(json_object *o, const char *tag, struct push_mark *m,
                            struct push_command_error *e)
{
    int present;
    size_t len;
    const char *mark = get_string(o, "mark", &present, &len), *kind;

    memset(m, 0, sizeof *m);
    e->err = PUSH_COMMAND_OK;
    e->why = "";
    if (!mark)
        return fail(e, PUSH_COMMAND_BAD_REQUEST, "expected \"mark\": \"one\" | \"upto\" | \"all\" | \"kind\"");
    for (m->type = PUSH_MARK_ONE; m->type <= PUSH_MARK_KIND; m->type++)
        if (strcmp(mark, mark_names[m->type]) == 0)
            break;
    if (m->type > PUSH_MARK_KIND)
        return fail(e, PUSH_COMMAND_BAD_REQUEST, "expected \"mark\": \"one\" | \"upto\" | \"all\" | \"kind\"");
    if (m->type != PUSH_MARK_ONE && push_command_parse_cursor(o, tag, &m->has_cursor, &m->cursor, e) < 0)
        return -1;
    switch (m->type) {
    case PUSH_MARK_ONE:
        if (get_id(o, &m->id) < 0)
            return fail(e, PUSH_COMMAND_BAD_REQUEST,
                        "mark one needs the message \"id\": a string of digits, 1 to 9223372036854775807, "
                        "without sign, spaces or leading zeros");
        return 0;
    case PUSH_MARK_UPTO:
        return m->has_cursor ? 0 : fail(e, PUSH_COMMAND_BAD_REQUEST, "mark upto needs a \"cursor\"");
    case PUSH_MARK_ALL:
        return 0;
    case PUSH_MARK_KIND:
        kind = get_string(o, "kind", &present, &len);
        if (!kind || len < 1 || len > PUSH_COMMAND_KIND_MAX
            || strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != len)
            return fail(e, PUSH_COMMAND_BAD_REQUEST, "mark kind needs a \"kind\": 1 to 32 of a-z 0-9 _ . -");
        memcpy(m->kind, kind, len + 1);
        return 0;
    }
    return fail(e, PUSH_COMMAND_BAD_REQUEST, "expected \"mark\": \"one\" | \"upto\" | \"all\" | \"kind\"");
}

int push_command_check_cursor(PGconn *conn, const char *user, const struct push_cursor *c,
                              struct push_command_error *e)
{
    struct push_state st;

    if (push_store_state(conn, user, &st) < 0)
        return -1;
    if (push_store_cursor_ahead(c, &st)) {
        e->err = PUSH_COMMAND_CURSOR_FUTURE;
        e->why = "the cursor is ahead of every message";
        return 1;
    }
    return 0;
}

int push_command_run_mark(PGconn *conn, const char *user, const struct push_mark *m,
                          struct push_command_error *e)
{
    const struct push_cursor *upto = m->has_cursor ? &m->cursor : NULL;
    int rc = -1;

    if (m->has_cursor && (rc = push_command_check_cursor(conn, user, &m->cursor, e)) != 0)
        return rc;
    switch (m->type) {
    case PUSH_MARK_ONE: rc = push_store_mark_one(conn, user, m->id); break;
    case PUSH_MARK_UPTO:
    case PUSH_MARK_ALL: rc = push_store_mark_upto(conn, user, upto) < 0 ? -1 : 1; break;
    case PUSH_MARK_KIND: rc = push_store_mark_kind(conn, user, m->kind, upto); break;
    }
    if (rc < 0)
        return -1;
    if (rc == 0) {
        e->err = m->type == PUSH_MARK_ONE ? PUSH_COMMAND_NOT_FOUND : PUSH_COMMAND_UNKNOWN_KIND;
        e->why = m->type == PUSH_MARK_ONE ? "no such message for this user"
                                          : "no message was ever sent with this kind";
        return 1;
    }
    return 0;
}
