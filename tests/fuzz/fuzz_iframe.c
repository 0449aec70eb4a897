/* fuzz_iframe.c: JSON text escaped into the iframe transport's <script>. The input goes through
 * json-c first (as push-iframe's does: a string of arbitrary bytes), then through
 * push_iframe_escape. Properties: the output holds no raw '<', '>' or '&' (so no </script>, no
 * <!--), no U+2028/U+2029, no C0 control character and only valid UTF-8; and, parsed as JSON, it is
 * the same value as its input with invalid UTF-8 replaced (json-c parses \u escapes back). */
#include "config.h"
#include <json-c/json.h>
#include "fuzz.h"
#include "transport/push_iframe.h"

struct sink {
    char *buf;
    size_t len, cap;
};

static int put(void *ctx, const char *s, size_t n)
{
    struct sink *k = ctx;

    if (k->len + n + 1 > k->cap) {
        k->cap = (k->len + n + 1) * 2;
        if (!(k->buf = realloc(k->buf, k->cap)))
            abort();
    }
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    k->buf[k->len] = '\0';
    return 0;
}

/* 0 unless s[0, n) is valid UTF-8 without U+2028/9 and without C0 control characters (DEL is an
 * ordinary character in a script, and json-c leaves it) */
static int safe_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || i + len > n || c < 0x20 || (len == 2 && c < 0xc2))
            return 0;
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0x2028 || cp == 0x2029)
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *o = json_object_new_string_len((const char *)data, (int)size);
    const char *json = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    struct sink k = { NULL, 0, 0 };

    put(&k, "", 0);
    PROPERTY(push_iframe_escape(json, strlen(json), put, &k) == 0, "escape failed");
    PROPERTY(!strpbrk(k.buf, "<>&"), "raw markup in %s", k.buf);
    PROPERTY(safe_utf8((const unsigned char *)k.buf, k.len), "unsafe bytes in the output");
    json_object *back = json_tokener_parse(k.buf);
    PROPERTY(back && json_object_is_type(back, json_type_string), "the output is not a JSON string");
    /* where the input was valid UTF-8, the value is unchanged */
    if (safe_utf8(data, size) && !memchr(data, '\0', size))
        PROPERTY((size_t)json_object_get_string_len(back) == size
                     && memcmp(json_object_get_string(back), data, size) == 0,
                 "the value changed");
    json_object_put(back);
    json_object_put(o);
    free(k.buf);
    return 0;
}
