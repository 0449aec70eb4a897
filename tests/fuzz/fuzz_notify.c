/* fuzz_notify.c: the payloads of NOTIFY pgpush (push_notify_parse). The input is a payload.
 * Its target is the payload, or for a sealed one ("m:" seal ":" target) what follows the seal.
 * Properties: a payload names one user exactly when its target is "u:" and a name that an
 * independent reading (glibc's UTF-8 decoder, bounds and control characters checked here) finds
 * valid, and then the user is the rest of the target, in place, and "u:" and it reads back as the
 * same user; a "u:" target that is no such name wakes no one; the payload "x" alone (an expiry
 * set) wakes no one and pokes the expiry timers; every other payload wakes everyone;
 * a seal is exactly the bytes between "m:" and the target's ":"; and opening it with a key it
 * was not sealed with never succeeds. */
#include "config.h"
#include "fuzz.h"
#include "core/push_user.h"
#include "store/push_notify.h"

#include <locale.h>
#include <wchar.h>

static int utf8_ready;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    utf8_ready = setlocale(LC_CTYPE, "C.UTF-8") != NULL;
    return 0;
}

/* README "Limits": 1 to 128 bytes of UTF-8 without control characters (C0, DEL, C1). */
static int name_ok(const char *s)
{
    size_t len = strlen(s);
    mbstate_t st;

    if (len == 0 || len > PUSH_USER_MAX)
        return 0;
    memset(&st, 0, sizeof st);
    while (*s) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s, strlen(s), &st);
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0)
            return 0;
        if (wc < 0x20 || (wc >= 0x7f && wc < 0xa0) || wc > 0x10ffff)
            return 0;
        s += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *part[1];
    char *buf = fuzz_parts(data, size, part, 1);
    const char *payload = part[0]; /* the whole input up to a NUL, as libpq hands it over */
    struct push_notify n, again;
    enum push_notify_kind kind = push_notify_parse(payload, &n);
    const char *sep = strncmp(payload, "m:", 2) == 0 ? strchr(payload + 2, ':') : NULL;
    const char *target = sep ? sep + 1 : payload;
    int prefixed = strncmp(target, "u:", 2) == 0;
    static struct push_notify_key key = { .set = 1 };
    static char opened[PUSH_NOTIFY_OPEN_MAX];

    if (sep)
        PROPERTY(n.seal == payload + 2 && n.seal_len == (size_t)(sep - payload - 2),
                 "\"%s\": the seal is not what lies between \"m:\" and the target", payload);
    else
        PROPERTY(n.seal == NULL, "\"%s\" has no seal", payload);
    /* (a fuzzer cannot forge HMAC-SHA-256 under a key of zeros: an opening is a broken check) */
    PROPERTY(push_notify_open(&n, &key, opened, sizeof opened) < 0, "\"%s\" opened", payload);

    PROPERTY(kind == n.kind, "returned %d, stored %d", (int)kind, (int)n.kind);
    switch (kind) {
    case PUSH_NOTIFY_USER: {
        PROPERTY(prefixed && n.user == target + 2, "\"%s\" names a user", payload);
        PROPERTY(!utf8_ready || name_ok(n.user), "\"%s\" accepted as a user name", n.user);
        char *copy = malloc(strlen(n.user) + 3);
        if (!copy)
            abort();
        memcpy(copy, "u:", 2);
        memcpy(copy + 2, n.user, strlen(n.user) + 1);
        PROPERTY(push_notify_parse(copy, &again) == PUSH_NOTIFY_USER && strcmp(again.user, n.user) == 0,
                 "\"%s\" does not read back", copy);
        free(copy);
        break;
    }
    case PUSH_NOTIFY_NOBODY:
        PROPERTY(prefixed && n.user == NULL, "\"%s\" wakes no one", payload);
        PROPERTY(!utf8_ready || !name_ok(target + 2), "\"%s\" refused as a user name", target + 2);
        break;
    case PUSH_NOTIFY_ALL:
        PROPERTY(!prefixed && n.user == NULL && strcmp(payload, "x") != 0, "\"%s\" wakes everyone",
                 payload);
        break;
    case PUSH_NOTIFY_EXPIRY: /* exactly the payload "x": no seal, no one woken */
        PROPERTY(strcmp(payload, "x") == 0 && n.user == NULL && n.seal == NULL,
                 "\"%s\" taken for an expiry's wake-up", payload);
        break;
    default:
        PROPERTY(0, "\"%s\": kind %d", payload, (int)kind);
    }
    free(buf);
    return 0;
}
