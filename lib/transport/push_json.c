/* push_json.c: building the JSON of answers and events with json-c */
#include "config.h"

#include "transport/push_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/push_util.h"
#include "store/push_store.h"

json_object *push_json_unread(const PGresult *res)
{
    return push_json_unread_kinds(res, NULL);
}

json_object *push_json_unread_kinds(const PGresult *res, const char *kinds)
{
    json_object *o = json_object_new_object();
    json_object *by_kind = json_object_new_object();
    int64_t total = 0;

    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 0)) /* (push.unread_view's row when nothing is unread) */
            continue;
        if (!push_store_kinds_has(kinds, PQgetvalue(res, i, 0)))
            continue;
        int64_t n = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        total += n;
        json_object_object_add(by_kind, PQgetvalue(res, i, 0), json_object_new_int64(n));
    }
    json_object_object_add(o, "total", json_object_new_int64(total));
    json_object_object_add(o, "by_kind", by_kind);
    return o;
}

json_object *push_json_cursor(const struct push_cursor *c, const char *tag)
{
    char text[PUSH_CURSOR_MAX];

    push_cursor_format(c, tag, text);
    return json_object_new_string(text);
}

static json_object *nullable_string(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : json_object_new_string(PQgetvalue(res, row, col));
}

/* data is jsonb, so valid JSON; anything json-c refuses (nesting deeper than its limit of 32)
 * becomes null rather than breaking the answer */
static json_object *data_value(const PGresult *res, int row)
{
    if (PQgetisnull(res, row, PUSH_COL_DATA))
        return NULL;
    return json_tokener_parse(PQgetvalue(res, row, PUSH_COL_DATA));
}

json_object *push_json_message(const PGresult *res, int row, const char *tag,
                               struct push_cursor *pos)
{
    json_object *o = json_object_new_object();
    int broadcast = strcmp(PQgetvalue(res, row, PUSH_COL_BROADCAST), "t") == 0;
    int64_t after_p = strtoll(PQgetvalue(res, row, PUSH_COL_POS_P), NULL, 10);
    int64_t after_b = strtoll(PQgetvalue(res, row, PUSH_COL_POS_B), NULL, 10);

    /* never move back: a client resuming after a cursor has seen everything below it */
    if (after_p > pos->personal)
        pos->personal = after_p;
    if (after_b > pos->broadcast)
        pos->broadcast = after_b;
    /* ids go out as strings: JavaScript numbers lose precision past 2^53 */
    json_object_object_add(o, "id", json_object_new_string(PQgetvalue(res, row, PUSH_COL_ID)));
    json_object_object_add(o, "cursor", push_json_cursor(pos, tag));
    json_object_object_add(o, "kind", nullable_string(res, row, PUSH_COL_KIND));
    json_object_object_add(o, "title", nullable_string(res, row, PUSH_COL_TITLE));
    json_object_object_add(o, "body", nullable_string(res, row, PUSH_COL_BODY));
    json_object_object_add(o, "data", data_value(res, row));
    json_object_object_add(o, "link", nullable_string(res, row, PUSH_COL_LINK));
    json_object_object_add(o, "created_at", nullable_string(res, row, PUSH_COL_CREATED_AT));
    json_object_object_add(o, "read", json_object_new_boolean(
                               strcmp(PQgetvalue(res, row, PUSH_COL_READ), "t") == 0));
    json_object_object_add(o, "broadcast", json_object_new_boolean(broadcast));
    return o;
}

static int64_t col_i64(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* moves pos to at, never back */
static void move_to(struct push_cursor *pos, int64_t at_p, int64_t at_b)
{
    if (at_p > pos->personal)
        pos->personal = at_p;
    if (at_b > pos->broadcast)
        pos->broadcast = at_b;
}

const char *push_json_event(enum push_entry e)
{
    return e == PUSH_ENTRY_UPDATE ? "update" : e == PUSH_ENTRY_DELETE ? "delete" : "message";
}

json_object *push_json_change(const PGresult *res, int row, const char *tag,
                              struct push_cursor *pos)
{
    json_object *o;

    move_to(pos, col_i64(res, row, PUSH_COL_AT_P), col_i64(res, row, PUSH_COL_AT_B));
    if (push_store_entry(res, row) == PUSH_ENTRY_DELETE) {
        o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(PQgetvalue(res, row, PUSH_COL_ID)));
        return o;
    }
    /* the message as it is now, with the cursor of its own place in the stream */
    struct push_cursor own = { 0, 0 };
    return push_json_message(res, row, tag, &own);
}

json_object *push_json_messages(const PGresult *res, const char *tag, struct push_cursor *pos)
{
    int n = push_store_entries(res, NULL);
    json_object *a = json_object_new_array_ext(n);

    for (int i = 0; i < n; i++) {
        enum push_entry e = push_store_entry(res, i);
        if (e == PUSH_ENTRY_MESSAGE) {
            json_object_array_add(a, push_json_message(res, i, tag, pos));
            continue;
        }
        json_object *c = json_object_new_object();
        json_object_object_add(c, "event", json_object_new_string(push_json_event(e)));
        json_object_object_add(c, "message", push_json_change(res, i, tag, pos));
        json_object_array_add(a, c);
    }
    return a;
}

json_object *push_json_answer(const char *user, const char *tag, const PGresult *msgs, int limit,
                              struct push_cursor pos, const struct push_cursor *head,
                              json_object *unread, int timeout)
{
    json_object *o = json_object_new_object();
    json_object *list = json_object_new_array(), *changes = json_object_new_array();
    struct push_cursor seen = { -1, -1 };
    int n = msgs ? push_store_entries(msgs, &seen) : 0;

    for (int i = 0; i < n && i < limit; i++) {
        enum push_entry e = push_store_entry(msgs, i);
        if (e == PUSH_ENTRY_MESSAGE) {
            json_object_array_add(list, push_json_message(msgs, i, tag, &pos));
            continue;
        }
        json_object *c = json_object_new_object();
        json_object_object_add(c, "event", json_object_new_string(push_json_event(e)));
        json_object_object_add(c, "message", push_json_change(msgs, i, tag, &pos));
        json_object_array_add(changes, c);
    }
    if (n <= limit && seen.personal >= 0) /* nothing left out: everything up to the read's head */
        move_to(&pos, seen.personal, seen.broadcast);
    json_object_object_add(o, "user", json_object_new_string(user));
    json_object_object_add(o, "cursor", push_json_cursor(head ? head : &pos, tag));
    json_object_object_add(o, "unread", unread);
    json_object_object_add(o, "messages", list);
    json_object_object_add(o, "changes", changes);
    json_object_object_add(o, "more", json_object_new_boolean(n > limit));
    if (timeout >= 0)
        json_object_object_add(o, "timeout", json_object_new_boolean(timeout));
    return o;
}

const char *push_json_text(json_object *o, size_t *len)
{
    return json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, len);
}

/* --- a message its wake-up carried */

/* a string member of o, or NULL (absent, or of another type) */
static const char *member_string(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* a string of decimal digits as a non-negative int64, written as PostgreSQL writes a bigint (no
 * leading zero: the id goes out as it came); -1 when it is not one */
static int64_t member_id(json_object *o, const char *key)
{
    const char *s = member_string(o, key);
    int64_t v = 0;

    if (!s || !*s || strlen(s) > 18 || (s[0] == '0' && s[1]))
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* a copy of member key of o (NULL when absent or JSON null) for the message object */
static json_object *member_copy(json_object *o, const char *key)
{
    json_object *v = NULL, *copy = NULL;

    if (!json_object_object_get_ex(o, key, &v) || !v)
        return NULL;
    if (json_object_deep_copy(v, &copy, NULL) != 0)
        return NULL;
    return copy;
}

struct push_carried *push_json_carried_new(const char *json, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    json_object *in, *o;
    struct push_carried *c = NULL;
    const char *user, *kind, *created_at, *text, *cut;
    int64_t id, prev;
    json_object *r;
    size_t tlen;

    if (!tok)
        return NULL;
    in = json_tokener_parse_ex(tok, json, (int)len);
    if (!in || json_tokener_get_error(tok) != json_tokener_success
        || json_tokener_get_parse_end(tok) != len || !json_object_is_type(in, json_type_object))
        goto out;
    id = member_id(in, "id");
    prev = member_id(in, "prev");
    kind = member_string(in, "kind");
    created_at = member_string(in, "created_at");
    if (id <= 0 || prev < 0 || prev >= id || !kind || !push_store_kind_valid(kind, strlen(kind)) || !created_at
        || !member_string(in, "title") || !member_string(in, "body")
        || !json_object_object_get_ex(in, "r", &r))
        goto out;
    user = r ? json_object_get_string(r) : NULL;
    if (r && (!json_object_is_type(r, json_type_string) || !push_user_valid(user, strlen(user))))
        goto out;
    /* the object push_json_message makes, with the cursor left empty: cut there */
    o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(member_string(in, "id")));
    json_object_object_add(o, "cursor", json_object_new_string(""));
    json_object_object_add(o, "kind", json_object_new_string(kind));
    json_object_object_add(o, "title", member_copy(in, "title"));
    json_object_object_add(o, "body", member_copy(in, "body"));
    json_object_object_add(o, "data", member_copy(in, "data"));
    json_object_object_add(o, "link", member_copy(in, "link"));
    json_object_object_add(o, "created_at", json_object_new_string(created_at));
    json_object_object_add(o, "read", json_object_new_boolean(0));
    json_object_object_add(o, "broadcast", json_object_new_boolean(!r));
    text = push_json_text(o, &tlen);
    cut = strstr(text, "\"cursor\":\"\"");
    if (cut) {
        c = xcalloc(1, sizeof *c);
        c->refs = 1;
        c->id = id;
        c->prev = prev;
        c->broadcast = !r;
        snprintf(c->user, sizeof c->user, "%s", r ? user : "");
        snprintf(c->kind, sizeof c->kind, "%s", kind);
        c->created_at = xstrdup(created_at);
        c->head_len = (size_t)(cut - text) + 9; /* through "cursor": */
        c->head = xmalloc(c->head_len + 1);
        memcpy(c->head, text, c->head_len);
        c->head[c->head_len] = '\0';
        c->tail = xstrdup(cut + 11);
        c->tail_len = strlen(c->tail);
    }
    json_object_put(o);
out:
    json_object_put(in);
    json_tokener_free(tok);
    return c;
}

void push_json_carried_hold(struct push_carried *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void push_json_carried_put(struct push_carried *c)
{
    if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    free(c->created_at);
    free(c->head);
    free(c->tail);
    free(c);
}

char *push_json_carried_text(const struct push_carried *c, const char *tag, struct push_cursor *pos,
                             size_t *len)
{
    char cursor[PUSH_CURSOR_MAX];
    size_t clen;
    char *text;

    /* the position just after the message: its id in its stream, the other stream as it was */
    if (c->broadcast)
        pos->broadcast = c->id > pos->broadcast ? c->id : pos->broadcast;
    else
        pos->personal = c->id > pos->personal ? c->id : pos->personal;
    push_cursor_format(pos, tag, cursor);
    clen = strlen(cursor);
    *len = c->head_len + 1 + clen + 1 + c->tail_len;
    text = xmalloc(*len + 1);
    memcpy(text, c->head, c->head_len);
    text[c->head_len] = '"';
    memcpy(text + c->head_len + 1, cursor, clen);
    text[c->head_len + 1 + clen] = '"';
    memcpy(text + c->head_len + 2 + clen, c->tail, c->tail_len + 1);
    return text;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *push_json_unread_add(const char *counts, const char *kind)
{
    json_object *in = json_tokener_parse(counts), *by_kind, *total, *n, *o, *ordered;
    const char *keys[256];
    int nkeys = 0, found = 0;
    char *out = NULL;
    size_t len;

    if (!in || !json_object_object_get_ex(in, "total", &total)
        || !json_object_object_get_ex(in, "by_kind", &by_kind)
        || !json_object_is_type(by_kind, json_type_object) || !json_object_is_type(total, json_type_int))
        goto out;
    if (json_object_get_int64(total) < 0 || json_object_get_int64(total) == INT64_MAX)
        goto out; /* (no count of a read is either) */
    json_object_object_foreach(by_kind, key, val) {
        if (nkeys == 256 || !json_object_is_type(val, json_type_int) || json_object_get_int64(val) < 0
            || json_object_get_int64(val) == INT64_MAX)
            goto out;
        keys[nkeys++] = key;
        found |= strcmp(key, kind) == 0;
    }
    if (!found) {
        if (nkeys == 256)
            goto out;
        keys[nkeys++] = kind;
    }
    qsort(keys, (size_t)nkeys, sizeof keys[0], by_key); /* as push.unread's ORDER BY kind (C collation) */
    o = json_object_new_object();
    ordered = json_object_new_object();
    for (int i = 0; i < nkeys; i++) {
        int64_t v = json_object_object_get_ex(by_kind, keys[i], &n) ? json_object_get_int64(n) : 0;
        json_object_object_add(ordered, keys[i],
                               json_object_new_int64(v + (strcmp(keys[i], kind) == 0)));
    }
    json_object_object_add(o, "total", json_object_new_int64(json_object_get_int64(total) + 1));
    json_object_object_add(o, "by_kind", ordered);
    out = xstrdup(push_json_text(o, &len));
    json_object_put(o);
out:
    json_object_put(in);
    return out;
}
