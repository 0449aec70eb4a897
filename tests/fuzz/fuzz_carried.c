/* fuzz_carried.c: a message as its wake-up carried it (push_json_carried_new, the JSON a sealed
 * notification holds) and the counts kept in memory after it (push_json_unread_add). The input is
 * three lines: a message's JSON, a counts text, a kind.
 * Properties: a JSON taken as a message has a positive id above its prev, a valid kind, and its
 * text for a stream is one JSON object whose id is that id (as a string), whose cursor reads back
 * as the position the stream moved to (that id in the message's stream), unread, and of the
 * message's stream; counts with one more are valid counts whose total and kind are one more,
 * whose other kinds are unchanged, in strictly increasing order (as the reads give them). */
#include "config.h"
#include "fuzz.h"
#include "core/push_cursor.h"
#include "transport/push_json.h"

static void check_message(const char *json)
{
    struct push_carried *c = push_json_carried_new(json, strlen(json));
    struct push_cursor pos = { 5, 5 }, back;
    char tag[PUSH_CURSOR_TAG_LEN + 1], id[32];
    json_object *o, *v;
    size_t len;
    char *text;

    if (!c)
        return;
    PROPERTY(c->id > 0 && c->prev >= 0 && c->prev < c->id, "id %lld, prev %lld",
             (long long)c->id, (long long)c->prev);
    push_cursor_tag("alice", tag);
    text = push_json_carried_text(c, tag, &pos, &len);
    PROPERTY(strlen(text) == len, "length %zu of %zu", len, strlen(text));
    o = json_tokener_parse(text);
    PROPERTY(o && json_object_is_type(o, json_type_object), "not an object: %s", text);
    snprintf(id, sizeof id, "%lld", (long long)c->id);
    PROPERTY(json_object_object_get_ex(o, "id", &v) && strcmp(json_object_get_string(v), id) == 0,
             "id: %s", text);
    PROPERTY(json_object_object_get_ex(o, "cursor", &v)
             && push_cursor_parse(json_object_get_string(v), tag, &back) == PUSH_CURSOR_OK
             && back.personal == pos.personal && back.broadcast == pos.broadcast, "cursor: %s", text);
    PROPERTY(c->broadcast ? pos.broadcast == (c->id > 5 ? c->id : 5) && pos.personal == 5
                          : pos.personal == (c->id > 5 ? c->id : 5) && pos.broadcast == 5,
             "moved to %lld-%lld", (long long)pos.personal, (long long)pos.broadcast);
    PROPERTY(json_object_object_get_ex(o, "read", &v) && !json_object_get_boolean(v), "read: %s", text);
    PROPERTY(json_object_object_get_ex(o, "broadcast", &v)
             && json_object_get_boolean(v) == c->broadcast, "broadcast: %s", text);
    PROPERTY(json_object_object_get_ex(o, "kind", &v) && strcmp(json_object_get_string(v), c->kind) == 0,
             "kind: %s", text);
    json_object_put(o);
    free(text);
    push_json_carried_put(c);
}

static int64_t count_of(json_object *by_kind, const char *kind)
{
    json_object *v;

    return json_object_object_get_ex(by_kind, kind, &v) ? json_object_get_int64(v) : 0;
}

static void check_counts(const char *counts, const char *kind)
{
    char *after = push_json_unread_add(counts, kind);
    json_object *in, *out, *bk_in, *bk_out, *t_in, *t_out;
    const char *prev = NULL;

    if (!after)
        return;
    in = json_tokener_parse(counts);
    out = json_tokener_parse(after);
    PROPERTY(in && out && json_object_object_get_ex(in, "by_kind", &bk_in)
             && json_object_object_get_ex(out, "by_kind", &bk_out)
             && json_object_object_get_ex(in, "total", &t_in)
             && json_object_object_get_ex(out, "total", &t_out), "counts: %s -> %s", counts, after);
    PROPERTY(json_object_get_int64(t_out) == json_object_get_int64(t_in) + 1
             || json_object_get_int64(t_in) == INT64_MAX, "total: %s -> %s", counts, after);
    json_object_object_foreach(bk_out, k, v) {
        PROPERTY(!prev || strcmp(prev, k) < 0, "order: %s", after);
        prev = k;
        PROPERTY(json_object_get_int64(v) == count_of(bk_in, k) + (strcmp(k, kind) == 0)
                 || count_of(bk_in, k) == INT64_MAX, "%s: %s -> %s", k, counts, after);
    }
    json_object_object_foreach(bk_in, k2, v2) {
        (void)v2;
        PROPERTY(json_object_object_get_ex(bk_out, k2, NULL), "%s lost: %s", k2, after);
    }
    json_object_put(in);
    json_object_put(out);
    free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *part[3];
    char *buf = fuzz_parts(data, size, part, 3);

    check_message(part[0]);
    check_counts(part[1], part[2]);
    free(buf);
    return 0;
}
