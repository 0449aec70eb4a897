/* fuzz_mqtt_topic.c: MQTT topic rules and client ids. The input is a user name, a topic filter and a
 * client id, one per line. Properties: a user may never publish; may read or subscribe to a topic
 * only when it is one of their own (PREFIX/user/USER/message, .../unread or .../delete) or a broadcast
 * topic (PREFIX/broadcast/message or .../delete),
 * wildcards never reaching into another user's tree; a client id is accepted only as USER/NAME. */
#include "config.h"
#include "fuzz.h"
#include "mqtt/push_mqtt_topic.h"

#define PREFIX "push"

static int allowed_for(const char *user, const char *topic)
{
    char own[PUSH_MQTT_TOPIC_MAX + 64];

    if (strcmp(topic, PREFIX "/broadcast/message") == 0 || strcmp(topic, PREFIX "/broadcast/delete") == 0)
        return 1;
    snprintf(own, sizeof own, PREFIX "/user/%s/message", user);
    if (strcmp(topic, own) == 0)
        return 1;
    snprintf(own, sizeof own, PREFIX "/user/%s/delete", user);
    if (strcmp(topic, own) == 0)
        return 1;
    snprintf(own, sizeof own, PREFIX "/user/%s/unread", user);
    return strcmp(topic, own) == 0;
}

static int level_matches(const char *pattern, const char *literal)
{
    return strcmp(pattern, "+") == 0 || strcmp(pattern, "#") == 0 || strcmp(pattern, literal) == 0;
}

/* Could the filter match a topic in another user's tree, PREFIX/user/OTHER/...? An independent
 * reading of MQTT's wildcards: '+' one level, '#' this level and all below. */
static int reaches_others(const char *user, const char *filter)
{
    char copy[1024];
    const char *level[4] = { NULL };
    int n = 0;

    size_t len = strlen(filter);

    if (len >= sizeof copy)
        return 1;
    memcpy(copy, filter, len + 1);
    for (char *s = copy, *slash; n < 4; s = slash + 1) {
        level[n++] = s;
        if (!(slash = strchr(s, '/')))
            break;
        *slash = '\0';
    }
    if (strcmp(level[0], "#") == 0)
        return 1;
    if (n < 3 || !level_matches(level[0], PREFIX) || !level_matches(level[1], "user"))
        return n >= 2 && strcmp(level[1], "#") == 0 && level_matches(level[0], PREFIX);
    return strcmp(level[1], "#") == 0 || strcmp(level[2], "#") == 0 || strcmp(level[2], "+") == 0
           || strcmp(level[2], user) != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *part[3];
    char *buf = fuzz_parts(data, size, part, 3);
    const char *user = part[0], *topic = part[1], *id = part[2];

    if (push_mqtt_user_ok(user)) {
        PROPERTY(!push_mqtt_user_may(PREFIX, user, topic, PUSH_MQTT_WRITE),
                 "%s may publish on %s", user, topic);
        if (push_mqtt_user_may(PREFIX, user, topic, PUSH_MQTT_READ))
            PROPERTY(allowed_for(user, topic), "%s may read %s", user, topic);
        if (push_mqtt_user_may(PREFIX, user, topic, PUSH_MQTT_SUBSCRIBE))
            PROPERTY(!reaches_others(user, topic), "%s may subscribe to %s", user, topic);
        if (push_mqtt_client_id_ok(user, id)) {
            size_t n = strlen(user);
            PROPERTY(strncmp(id, user, n) == 0 && id[n] == '/' && id[n + 1] != '\0',
                     "%s may connect as client id %s", user, id);
        }
    } else {
        PROPERTY(!push_mqtt_user_may(PREFIX, user, topic, PUSH_MQTT_READ)
                     && !push_mqtt_user_may(PREFIX, user, topic, PUSH_MQTT_SUBSCRIBE),
                 "the unusable user name \"%s\" may read or subscribe to %s", user, topic);
    }
    free(buf);
    return 0;
}
