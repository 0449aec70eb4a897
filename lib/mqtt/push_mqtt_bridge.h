/* push_mqtt_bridge.h: what push-mqtt does on a wake-up: read the streams after their stored
 * cursors, publish, and move the cursors once the broker acknowledged */
#ifndef PUSH_MQTT_BRIDGE_H
#define PUSH_MQTT_BRIDGE_H

#include <libpq-fe.h>

#include "transport/push_json.h"

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
    struct push_mqtt_held *held;        /* memory-first delivery's state (below); NULL at first */
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

/* Memory-first delivery (README "Memory-first delivery and why it is still exact"). Once
 * push_mqtt_bridge_user has published a user's stream and counts, the bridge keeps, in a slot of
 * PUSH_MQTT_HELD_SLOTS (a user hashes to two; when both are taken, a newcomer replaces the first),
 * the id the broker acknowledged last and the counts it published with their read's watermark. A message whose
 * sealed wake-up proves it the next of that stream (its previous id is the one kept, and it is
 * above the watermark) then goes out from what the wake-up carried, and the counts with one more
 * of its kind: no read, and one statement per pass for all the acknowledgements. Anything else
 * about a user (a read-state change, an edit, a message without a seal) drops what is kept of
 * them, and they are read as before. */
#define PUSH_MQTT_HELD_SLOTS 4096 /* users kept (about 160 bytes each, and their counts' text) */
#define PUSH_MQTT_CARRY_MAX 256   /* carried messages waiting for the next pass */

/* Does the bridge keep user's state (push_mqtt_bridge_carry can take their next message)? Before
 * opening a seal: a user not kept is read anyway. */
int push_mqtt_bridge_keeps(const struct push_mqtt_bridge *b, const char *user);

/* Takes m, a personal message from its wake-up, opened: 1 queued for push_mqtt_bridge_carried
 * (held; the user's kept state moves past it), 0 published already, -1 not provably next (or no
 * room): what is kept of the user is dropped and the caller reads them (push_mqtt_bridge_user). */
int push_mqtt_bridge_carry(struct push_mqtt_bridge *b, struct push_carried *m);

/* Publishes what push_mqtt_bridge_carry queued, flushes, then records the acknowledgements in
 * push.mqtt_cursor in one statement. On failure nothing is kept any more (the caller reads
 * everything again, from the stored cursors). */
enum push_mqtt_bridge_err push_mqtt_bridge_carried(struct push_mqtt_bridge *b, PGconn *conn);

/* What is kept of user is dropped (NULL: of everyone; also when notifications may have been
 * missed). What is queued stays: each was the next of its stream when it came. */
void push_mqtt_bridge_forget(struct push_mqtt_bridge *b, const char *user);

/* Frees what the bridge keeps and queued. */
void push_mqtt_bridge_free(struct push_mqtt_bridge *b);

const char *push_mqtt_bridge_strerror(enum push_mqtt_bridge_err err);

#endif
