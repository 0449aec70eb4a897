/* fuzz_webpush_payload.c: a push's payload, cut to fit (push_webpush_payload.h's rule). Input:
 * title, body, link and a limit, one per line. Properties: the text is never longer than the
 * limit (from PUSH_WEBPUSH_PAYLOAD_MIN up); it parses as JSON; its message keeps the id; a body or
 * title it keeps is a prefix of the original, cut at a character's boundary (never in the middle
 * of a UTF-8 sequence of the original); "truncated" is there exactly when something was cut; the
 * payload is the whole message, untouched, when that fits. */
#include "config.h"
#include "fuzz.h"

#include <json-c/json.h>

#include "webpush/push_webpush_config.h"
#include "webpush/push_webpush_payload.h"

static int prefix_at_boundary(const char *cut, const char *orig)
{
    size_t n = strlen(cut);

    if (strncmp(cut, orig, n) != 0)
        return 0;
    return n == 0 || orig[n] == '\0' || ((unsigned char)orig[n] & 0xc0) != 0x80;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *part[4];
    char *buf = fuzz_parts(data, size, part, 4), *text;
    size_t max = PUSH_WEBPUSH_PAYLOAD_MIN + (size_t)strtoul(part[3], NULL, 10) % (PUSH_WEBPUSH_PLAIN_MAX + 1), len;
    json_object *m = json_object_new_object(), *u = json_tokener_parse("{\"total\":2,\"by_kind\":{\"a\":2}}");
    json_object *o, *om, *v, *whole;
    int cut;

    if (max > PUSH_WEBPUSH_PLAIN_MAX)
        max = PUSH_WEBPUSH_PLAIN_MAX;
    json_object_object_add(m, "id", json_object_new_string("123"));
    json_object_object_add(m, "title", json_object_new_string(part[0]));
    json_object_object_add(m, "body", json_object_new_string(part[1]));
    json_object_object_add(m, "data", json_tokener_parse("{\"k\":[1,2,3]}"));
    json_object_object_add(m, "link", json_object_new_string(part[2]));
    whole = json_object_new_object();
    json_object_object_add(whole, "v", json_object_new_int(1));
    json_object_object_add(whole, "type", json_object_new_string("message"));
    json_object_object_add(whole, "message", json_object_get(m));
    json_object_object_add(whole, "unread", json_object_get(u));
    size_t whole_len = strlen(json_object_to_json_string_ext(whole, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    char *whole_text = strdup(json_object_to_json_string_ext(whole, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(whole); /* (drops the extra references: m and u go to the payload) */

    text = push_webpush_payload(m, u, max, &len);
    PROPERTY(len == strlen(text), "length %zu of a text of %zu", len, strlen(text));
    PROPERTY(len <= max, "%zu bytes for a limit of %zu", len, max);
    PROPERTY((o = json_tokener_parse(text)) != NULL, "not JSON: %s", text);
    PROPERTY(json_object_object_get_ex(o, "message", &om) && json_object_object_get_ex(om, "id", &v)
                 && strcmp(json_object_get_string(v), "123") == 0, "the id is lost: %s", text);
    PROPERTY(json_object_object_get_ex(o, "unread", &v) && json_object_object_get_ex(v, "total", NULL),
             "the total is lost: %s", text);
    cut = json_object_object_get_ex(om, "truncated", &v);
    if (whole_len <= max)
        PROPERTY(!cut && strcmp(text, whole_text) == 0, "it fitted whole (%zu <= %zu) but became %s", whole_len, max, text);
    else
        PROPERTY(cut && json_object_get_boolean(v), "cut without \"truncated\": %s", text);
    if (json_object_object_get_ex(om, "body", &v) && json_object_is_type(v, json_type_string))
        PROPERTY(prefix_at_boundary(json_object_get_string(v), part[1]), "the body is not a prefix at a boundary");
    if (json_object_object_get_ex(om, "title", &v) && json_object_is_type(v, json_type_string))
        PROPERTY(prefix_at_boundary(json_object_get_string(v), part[0]), "the title is not a prefix at a boundary");
    json_object_put(o);
    free(whole_text);
    free(text);
    free(buf);
    return 0;
}
