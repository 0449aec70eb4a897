/* push_webpush_payload.c: a push's JSON, and the rule that cuts it to fit */
#include "config.h"

#include "webpush/push_webpush_payload.h"

#include <string.h>

#include "core/push_util.h"

#define FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The payload's text, copied, if it fits in max; else NULL with its length in *len. */
static char *fits(json_object *o, size_t max, size_t *len)
{
    size_t n;
    const char *text = json_object_to_json_string_length(o, FLAGS, &n);

    *len = n;
    if (n > max)
        return NULL;
    return xstrdup(text);
}

/* Cuts m's string member key by at least over bytes (all of it at most), at a UTF-8 character's
 * boundary: 1 if there was something to cut, 0 if it is empty or not a string. */
static int cut(json_object *m, const char *key, size_t over)
{
    json_object *v;
    const char *s;
    size_t n, keep;
    char *copy;

    if (!json_object_object_get_ex(m, key, &v) || !json_object_is_type(v, json_type_string)
        || (n = (size_t)json_object_get_string_len(v)) == 0)
        return 0;
    s = json_object_get_string(v);
    keep = over >= n ? 0 : n - over;
    while (keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80) /* not inside a character */
        keep--;
    copy = xmalloc(keep + 1);
    memcpy(copy, s, keep);
    copy[keep] = '\0';
    json_object_object_add(m, key, json_object_new_string_len(copy, (int)keep));
    free(copy);
    return 1;
}

char *push_webpush_payload(json_object *message, json_object *unread, size_t max, size_t *len)
{
    json_object *o = json_object_new_object(), *small, *su, *v;
    const char *steps[] = { "body", "title" };
    char *text;
    int64_t total = 0;

    json_object_object_add(o, "v", json_object_new_int(1));
    json_object_object_add(o, "type", json_object_new_string("message"));
    json_object_object_add(o, "message", message);
    json_object_object_add(o, "unread", unread);
    if ((text = fits(o, max, len)))
        goto done;
    json_object_object_add(message, "data", NULL);
    json_object_object_add(message, "truncated", json_object_new_boolean(1));
    if ((text = fits(o, max, len)))
        goto done;
    /* each cut removes at least what is over: its escaped form shrinks by no less than the raw
     * bytes taken out; a few rounds at most, as a cut at a character's boundary keeps a little */
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        while (*len > max && cut(message, steps[i], *len - max))
            if ((text = fits(o, max, len)))
                goto done;
    }
    json_object_object_add(message, "link", NULL);
    if ((text = fits(o, max, len)))
        goto done;
    /* 6: the id and the total only */
    small = json_object_new_object();
    su = json_object_new_object();
    if (json_object_object_get_ex(unread, "total", &v))
        total = json_object_get_int64(v);
    json_object_object_add(su, "total", json_object_new_int64(total));
    json_object_object_add(small, "id", json_object_object_get_ex(message, "id", &v)
                                            ? json_object_get(v) : NULL);
    json_object_object_add(small, "truncated", json_object_new_boolean(1));
    json_object_object_add(o, "message", small);
    json_object_object_add(o, "unread", su);
    text = fits(o, (size_t)-1, len);
done:
    json_object_put(o);
    return text;
}
