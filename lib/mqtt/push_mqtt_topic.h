/* push_mqtt_topic.h: pgpush's MQTT topics, and who may read, subscribe to or publish on them */
#ifndef PUSH_MQTT_TOPIC_H
#define PUSH_MQTT_TOPIC_H

#include <stddef.h>

#include "core/push_user.h"

/* Topics (README, "push-mqtt"), PREFIX being PUSH_MQTT_TOPIC_PREFIX (default "push"):
 *
 *     PREFIX/user/USER/message    the user's own messages, QoS 1; an edit of one is the message
 *                                 as it is now with "event": "update"
 *     PREFIX/user/USER/delete     {"id"} of a message of the user's retracted or expired, QoS 1
 *     PREFIX/user/USER/unread     the user's unread counts, QoS 1, retained
 *     PREFIX/broadcast/message    messages to everyone, QoS 1 (edits as above)
 *     PREFIX/broadcast/delete     {"id"} of a broadcast retracted or expired, QoS 1
 *     PREFIX/login                the auth plugin names each user who logs in, for the bridge
 *                                 (which then keeps their unread counts), QoS 1
 *
 * A user may subscribe to and read only their own topics and the broadcast topic, and never
 * publish; the bridge may publish (and read) anything under PREFIX/, nothing else. */
#define PUSH_MQTT_PREFIX_MAX 64
#define PUSH_MQTT_TOPIC_MAX (PUSH_MQTT_PREFIX_MAX + PUSH_USER_MAX + 32)

enum push_mqtt_access {
    PUSH_MQTT_READ,      /* a message on this topic is about to be delivered to the client */
    PUSH_MQTT_SUBSCRIBE, /* the client subscribes to this filter (wildcards possible) */
    PUSH_MQTT_WRITE,     /* the client publishes on this topic */
};

/* Can this user have MQTT topics: a valid user name (push_user_valid) holding none of the
 * topic separator '/' and the wildcards '+' and '#'? Others are never published to and
 * cannot log in over MQTT. */
int push_mqtt_user_ok(const char *user);

/* Is prefix usable: 1 to PUSH_MQTT_PREFIX_MAX bytes, no wildcard, no empty level, not
 * beginning with '$' or '/'? */
int push_mqtt_prefix_ok(const char *prefix);

/* May the client logged in as user connect with this client id? Every id must be "USER/NAME"
 * with a NAME of at least one byte: then nobody can connect with another user's id, which would
 * take over (or discard) that user's session and what it queued. An empty id is refused too (the
 * broker would make one up that is nobody's). */
int push_mqtt_client_id_ok(const char *user, const char *client_id);

/* Writes PREFIX/user/USER/LEAF into buf; its length, or -1 when user cannot have topics or
 * buf is too small. */
int push_mqtt_user_topic(char *buf, size_t size, const char *prefix, const char *user,
                         const char *leaf);

/* Writes PREFIX/broadcast/LEAF into buf; its length, or -1 when buf is too small. */
int push_mqtt_broadcast_topic(char *buf, size_t size, const char *prefix, const char *leaf);

/* Writes PREFIX/login into buf; its length, or -1 when buf is too small. */
int push_mqtt_login_topic(char *buf, size_t size, const char *prefix);

/* May user, logged in with a token, do access on topic? 1 yes, 0 no. */
int push_mqtt_user_may(const char *prefix, const char *user, const char *topic,
                       enum push_mqtt_access access);

/* May the bridge do access on topic? 1 yes, 0 no. */
int push_mqtt_bridge_may(const char *prefix, const char *topic, enum push_mqtt_access access);

#endif
