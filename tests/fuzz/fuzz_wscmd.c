/* fuzz_wscmd.c: WebSocket commands. Properties: parsing is a function of the text (twice the same
 * answer); an accepted command is of a known type with its fields in bounds (a ref of at most
 * PUSH_WS_REF_MAX bytes that is JSON text: a quoted string or an integer; a kind of at most
 * PUSH_COMMAND_KIND_MAX bytes; a cursor only of alice's tag); a refusal names one of the documented
 * codes; a reply or error built from it is valid JSON. */
#include "config.h"
#include <json-c/json.h>
#include "fuzz.h"
#include "core/push_cursor.h"
#include "transport/push_ws.h"

static int json_ok(const char *s)
{
    json_object *o = json_tokener_parse(s);
    int ok = o != NULL;

    json_object_put(o);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct push_ws_cmd a, b;
    const char *code = NULL, *why = NULL, *code2 = NULL, *why2 = NULL;
    char tag[PUSH_CURSOR_TAG_LEN + 1];
    char *text = malloc(size + 1);

    if (!text || size > PUSH_WS_MSG_MAX)
        return free(text), 0;
    memcpy(text, data, size);
    text[size] = '\0';
    push_cursor_tag("alice", tag);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    int ra = push_ws_cmd_parse(text, size, tag, &a, &code, &why);
    int rb = push_ws_cmd_parse(text, size, tag, &b, &code2, &why2);
    PROPERTY(ra == rb && (ra == 0 || strcmp(code, code2) == 0), "two parses differ");
    PROPERTY(strlen(a.ref) <= PUSH_WS_REF_MAX + 2, "a ref of %zu bytes", strlen(a.ref));
    if (a.ref[0])
        PROPERTY(json_ok(a.ref), "the ref %s is not JSON text", a.ref);
    if (ra == 0) {
        PROPERTY(a.type == PUSH_WS_CMD_MARK || a.type == PUSH_WS_CMD_RESUME, "type %d", (int)a.type);
        PROPERTY(strlen(a.mark.kind) <= PUSH_COMMAND_KIND_MAX, "a kind of %zu bytes", strlen(a.mark.kind));
        if (a.mark.has_cursor || a.type == PUSH_WS_CMD_RESUME) {
            char out[PUSH_CURSOR_MAX];
            struct push_cursor c;
            push_cursor_format(a.type == PUSH_WS_CMD_RESUME ? &a.cursor : &a.mark.cursor, tag, out);
            PROPERTY(push_cursor_parse(out, tag, &c) == PUSH_CURSOR_OK, "cursor out of range");
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "unread", json_object_new_int(3));
        char *reply = push_ws_reply(&a, "ack", o); /* takes o */
        PROPERTY(reply && json_ok(reply), "the reply is not JSON: %s", reply ? reply : "(null)");
        free(reply);
    } else {
        static const char *codes[] = { "bad_json", "bad_request", "bad_cursor", "cursor_user",
                                       "unknown_command" };
        int known = 0;
        for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
            known |= code && strcmp(code, codes[i]) == 0;
        PROPERTY(known, "undocumented code %s", code ? code : "(null)");
        PROPERTY(why && *why, "no reason");
        char *err = push_ws_error(&a, code, why);
        PROPERTY(err && json_ok(err), "the error is not JSON: %s", err ? err : "(null)");
        free(err);
    }
    free(text);
    return 0;
}
