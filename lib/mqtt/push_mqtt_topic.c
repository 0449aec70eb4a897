/* push_mqtt_topic.c: building pgpush's MQTT topics and the per-user topic rule */
#include "config.h"

#include "mqtt/push_mqtt_topic.h"

#include <stdio.h>
#include <string.h>

int push_mqtt_user_ok(const char *user)
{
    size_t len = strnlen(user, PUSH_USER_MAX + 1);

    return push_user_valid(user, len) && strpbrk(user, "/+#") == NULL;
}

int push_mqtt_prefix_ok(const char *prefix)
{
    size_t len = strnlen(prefix, PUSH_MQTT_PREFIX_MAX + 1);

    if (len == 0 || len > PUSH_MQTT_PREFIX_MAX || prefix[0] == '$' || prefix[0] == '/'
        || prefix[len - 1] == '/' || strstr(prefix, "//") || strpbrk(prefix, "+#"))
        return 0;
    return push_user_valid(prefix, len); /* UTF-8 without control characters */
}

int push_mqtt_client_id_ok(const char *user, const char *client_id)
{
    size_t len = strlen(user);

    /* no id, or one without the user's name: Mosquitto would hand that session over to whoever
     * names it, and discard what it queued */
    return client_id && strncmp(client_id, user, len) == 0 && client_id[len] == '/'
           && client_id[len + 1] != '\0';
}

/* snprintf's result as a length, or -1 when it did not fit. */
static int fitted(int n, size_t size)
{
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int push_mqtt_user_topic(char *buf, size_t size, const char *prefix, const char *user,
                         const char *leaf)
{
    if (!push_mqtt_user_ok(user))
        return -1;
    return fitted(snprintf(buf, size, "%s/user/%s/%s", prefix, user, leaf), size);
}

int push_mqtt_broadcast_topic(char *buf, size_t size, const char *prefix, const char *leaf)
{
    return fitted(snprintf(buf, size, "%s/broadcast/%s", prefix, leaf), size);
}

int push_mqtt_login_topic(char *buf, size_t size, const char *prefix)
{
    return fitted(snprintf(buf, size, "%s/login", prefix), size);
}

/* When topic is head followed by '/', the rest after it; else NULL. */
static const char *below(const char *topic, const char *head)
{
    size_t len = strlen(head);

    if (strncmp(topic, head, len) != 0 || topic[len] != '/')
        return NULL;
    return topic + len + 1;
}

/* Is leaf one of the NULL-terminated names? */
static int one_of(const char *leaf, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(leaf, *names) == 0)
            return 1;
    return 0;
}

int push_mqtt_user_may(const char *prefix, const char *user, const char *topic,
                       enum push_mqtt_access access)
{
    static const char *const own_read[] = { "message", "unread", "delete", NULL };
    static const char *const own_sub[] = { "message", "unread", "delete", "+", "#", NULL };
    static const char *const all_read[] = { "message", "delete", NULL };
    static const char *const all_sub[] = { "message", "delete", "+", "#", NULL };
    char head[PUSH_MQTT_TOPIC_MAX];
    const char *leaf;

    if (access == PUSH_MQTT_WRITE || !push_mqtt_user_ok(user))
        return 0;
    if (fitted(snprintf(head, sizeof head, "%s/user/%s", prefix, user), sizeof head) > 0
        && (leaf = below(topic, head)))
        return one_of(leaf, access == PUSH_MQTT_READ ? own_read : own_sub);
    if (fitted(snprintf(head, sizeof head, "%s/broadcast", prefix), sizeof head) > 0
        && (leaf = below(topic, head)))
        return one_of(leaf, access == PUSH_MQTT_READ ? all_read : all_sub);
    return 0;
}

int push_mqtt_bridge_may(const char *prefix, const char *topic, enum push_mqtt_access access)
{
    const char *rest = below(topic, prefix);

    if (!rest || !*rest)
        return 0;
    /* it publishes concrete topics only; it may subscribe with wildcards under the prefix */
    return access != PUSH_MQTT_WRITE || strpbrk(rest, "+#") == NULL;
}
