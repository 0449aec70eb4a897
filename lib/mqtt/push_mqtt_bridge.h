/* push_mqtt_bridge.h: what push-mqtt does on a wake-up: read the streams after their stored
 * cursors, publish, and move the cursors once the broker acknowledged */
#ifndef PUSH_MQTT_BRIDGE_H
#define PUSH_MQTT_BRIDGE_H

#include <libpq-fe.h>

#include "mqtt/push_mqtt_config.h"
#include "mqtt/push_mqtt_pub.h"

enum push_mqtt_bridge_err {
    PUSH_MQTT_BRIDGE_OK,
    PUSH_MQTT_BRIDGE_DB,     /* a query failed (the text is on the connection) */
    PUSH_MQTT_BRIDGE_BROKER, /* not connected, or not acknowledged in time */
};

struct push_mqtt_bridge {
    const struct push_mqtt_config *cfg; /* borrowed */
    struct push_mqtt_pub *pub;          /* borrowed */
    int live;                           /* what is published now is new (not the catching up
                                         * after a connection): its delivery lag is measured */
};

/* Each publishes in batches of cfg->batch, flushes, then records what the broker
 * acknowledged in push.mqtt_cursor, and counts it (push_metrics: delivered messages and bytes,
 * and while b->live their lag). conn has push_store's statements prepared. A failure
 * leaves the stored cursors where the broker's acknowledgements put them: calling again
 * (after reconnecting) publishes the rest, and at most the unacknowledged batch twice. */

/* One user's personal messages after their cursor, then their unread counts (retained). */
enum push_mqtt_bridge_err push_mqtt_bridge_user(struct push_mqtt_bridge *b, PGconn *conn,
                                                const char *user);

/* Records a user who logged in over MQTT (push.mqtt_seen): their counts are kept from now on
 * (push_mqtt_bridge_all), even if they never have a message of their own. */
enum push_mqtt_bridge_err push_mqtt_bridge_seen(PGconn *conn, const char *user);

/* Everything: the broadcasts, every user with messages beyond their cursor, and the unread
 * counts of every user push.mqtt_users names. For start, reconnects and '*'. */
enum push_mqtt_bridge_err push_mqtt_bridge_all(struct push_mqtt_bridge *b, PGconn *conn);

/* push-mqtt's own statements, for --check (push_dbcheck_try rolls them back): reads a cursor,
 * the pending streams and the users' counts, records a login and an acknowledgement, all as
 * PUSH_DBCHECK_USER. 0, or -1 with the error on conn. */
int push_mqtt_bridge_check(PGconn *conn);

const char *push_mqtt_bridge_strerror(enum push_mqtt_bridge_err err);

#endif
