/* push_mqtt_pub.h: publishing to the broker with QoS 1 and knowing when the broker has it all */
#ifndef PUSH_MQTT_PUB_H
#define PUSH_MQTT_PUB_H

#include <stddef.h>

#include "mqtt/push_mqtt_config.h"

/* libmosquitto runs the connection in its own thread (mosquitto_loop_start) and reconnects
 * with backoff (1 s doubling to 10 s). One other thread publishes: push_mqtt_pub_send then
 * push_mqtt_pub_flush, which returns once the broker acknowledged (PUBACK) every message sent
 * since the last flush. Only then may the caller record them as delivered. */

#define PUSH_MQTT_PENDING_MAX (PUSH_MQTT_BATCH_CAP + 16) /* sends between two flushes */

struct push_mqtt_pub;

/* Creates the client and tries to connect (push_mqtt_pub_connect); NULL with a reason in err
 * when the client cannot be set up (a broker that is down is not an error: it is retried).
 * cfg is borrowed for the publisher's life. */
struct push_mqtt_pub *push_mqtt_pub_start(const struct push_mqtt_config *cfg, char *err,
                                          size_t errlen);

/* Until the first connection is made, tries to connect (libmosquitto's thread only reconnects
 * connections it once had): call it while push_mqtt_pub_session is 0. 0 connecting or running,
 * -1 the broker is unreachable now (logged once), -2 a setting is wrong. */
int push_mqtt_pub_connect(struct push_mqtt_pub *p);

/* 0 while not connected; else the number of the current connection, which changes with
 * every reconnect (the broker may have lost what was not acknowledged, and retained
 * messages if it has no persistence: publish again from the stored cursors). */
unsigned push_mqtt_pub_session(struct push_mqtt_pub *p);

/* Publishes payload on topic with QoS 1 (retained when retain). 0, or -1 when not connected,
 * PUSH_MQTT_PENDING_MAX sends are waiting for a flush, or libmosquitto refused. */
int push_mqtt_pub_send(struct push_mqtt_pub *p, const char *topic, const void *payload,
                       size_t len, int retain);

/* Waits until everything sent since the last flush is acknowledged: 0. -1 when the connection
 * was lost meanwhile or timeout_ms passed; what was pending is forgotten either way. */
int push_mqtt_pub_flush(struct push_mqtt_pub *p, long timeout_ms);

/* Logins the auth plugin announced (PREFIX/login, to which the publisher subscribes): a file
 * descriptor that becomes readable when some are waiting, and the call that takes them (up to
 * max names into names; *lost is set when more came than PUSH_MQTT_LOGINS_MAX between two
 * takes). Returns the number taken. */
#define PUSH_MQTT_LOGINS_MAX 256
int push_mqtt_pub_logins_fd(struct push_mqtt_pub *p);
int push_mqtt_pub_logins(struct push_mqtt_pub *p, char (*names)[PUSH_USER_MAX + 1], int max,
                         int *lost);

/* Disconnects, stops the thread and frees p (NULL: nothing). */
void push_mqtt_pub_stop(struct push_mqtt_pub *p);

#endif
