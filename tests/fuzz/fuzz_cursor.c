/* fuzz_cursor.c: cursors. Properties: a cursor that parses formats back to text that parses to
 * the same position (the form is canonical up to what the parser tolerates); a cursor is never
 * accepted for a user other than the one whose tag it carries. */
#include "config.h"
#include "fuzz.h"
#include "core/push_cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), alice[PUSH_CURSOR_TAG_LEN + 1], bob[PUSH_CURSOR_TAG_LEN + 1];
    char out[PUSH_CURSOR_MAX];
    struct push_cursor c = { -7, -7 }, d = { -7, -7 };

    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    push_cursor_tag("alice", alice);
    push_cursor_tag("bob", bob);
    if (push_cursor_parse(text, alice, &c) == PUSH_CURSOR_OK) {
        PROPERTY(c.personal >= 0 && c.broadcast >= 0, "a negative position from %s", text);
        PROPERTY(push_cursor_parse(text, bob, &d) == PUSH_CURSOR_WRONG_USER,
                 "alice's cursor %s is not refused for bob as another user's", text);
        push_cursor_format(&c, alice, out);
        PROPERTY(push_cursor_parse(out, alice, &d) == PUSH_CURSOR_OK
                     && d.personal == c.personal && d.broadcast == c.broadcast,
                 "%s formats to %s, which does not parse to the same position", text, out);
    } else {
        PROPERTY(c.personal == -7 && c.broadcast == -7, "a refused cursor changed the position");
    }
    free(text);
    return 0;
}
