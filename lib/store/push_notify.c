/* push_notify.c: reading the payloads of NOTIFY pgpush */
#include "config.h"

#include "store/push_notify.h"

#include <string.h>

#include "core/push_user.h"

enum push_notify_kind push_notify_parse(const char *payload, struct push_notify *out)
{
    out->user = NULL;
    if (strncmp(payload, "u:", 2) != 0) {
        out->kind = PUSH_NOTIFY_ALL; /* '*', or anything unknown */
        return out->kind;
    }
    if (!push_user_valid(payload + 2, strnlen(payload + 2, PUSH_USER_MAX + 1))) {
        out->kind = PUSH_NOTIFY_NOBODY;
        return out->kind;
    }
    out->kind = PUSH_NOTIFY_USER;
    out->user = payload + 2;
    return out->kind;
}
