/* push_json.c: building the JSON of answers and events with json-c */
#include "config.h"

#include "transport/push_json.h"

#include <stdlib.h>
#include <string.h>

#include "store/push_store.h"

json_object *push_json_unread(const PGresult *res)
{
    json_object *o = json_object_new_object();
    json_object *by_kind = json_object_new_object();
    int64_t total = 0;

    for (int i = 0; i < PQntuples(res); i++) {
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

json_object *push_json_messages(const PGresult *res, const char *tag, struct push_cursor *pos)
{
    json_object *a = json_object_new_array_ext(PQntuples(res));

    for (int i = 0; i < PQntuples(res); i++)
        json_object_array_add(a, push_json_message(res, i, tag, pos));
    return a;
}

json_object *push_json_answer(const char *user, const char *tag, const PGresult *msgs, int limit,
                              struct push_cursor pos, const struct push_cursor *head,
                              json_object *unread, int timeout)
{
    json_object *o = json_object_new_object();
    json_object *list = json_object_new_array();
    int n = msgs ? PQntuples(msgs) : 0;

    for (int i = 0; i < n && i < limit; i++)
        json_object_array_add(list, push_json_message(msgs, i, tag, &pos));
    json_object_object_add(o, "user", json_object_new_string(user));
    json_object_object_add(o, "cursor", push_json_cursor(head ? head : &pos, tag));
    json_object_object_add(o, "unread", unread);
    json_object_object_add(o, "messages", list);
    json_object_object_add(o, "more", json_object_new_boolean(n > limit));
    if (timeout >= 0)
        json_object_object_add(o, "timeout", json_object_new_boolean(timeout));
    return o;
}

const char *push_json_text(json_object *o, size_t *len)
{
    return json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, len);
}
