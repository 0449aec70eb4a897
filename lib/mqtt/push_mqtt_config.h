/* push_mqtt_config.h: push-mqtt's own settings (PUSH_MQTT_*), read once from the environment */
#ifndef PUSH_MQTT_CONFIG_H
#define PUSH_MQTT_CONFIG_H

#include <stddef.h>

#include "mqtt/push_mqtt_auth.h"

#define PUSH_MQTT_BATCH_CAP 1000 /* messages read and published per round trip, at most */

struct push_mqtt_config {
    char host[256];        /* PUSH_MQTT_HOST, default 127.0.0.1 */
    int port;              /* PUSH_MQTT_PORT, default 1883 */
    char user[PUSH_USER_MAX + 1];                /* PUSH_MQTT_USER, default pgpush-bridge */
    char password[PUSH_MQTT_PASSWORD_MAX + 1];   /* from PUSH_MQTT_PASSWORD_FILE; "" none */
    size_t password_len;
    char client_id[PUSH_USER_MAX + 64]; /* PUSH_MQTT_CLIENT_ID: USER/NAME, default USER/push-mqtt */
    char prefix[PUSH_MQTT_PREFIX_MAX + 1];       /* PUSH_MQTT_TOPIC_PREFIX, default push */
    int keepalive;         /* PUSH_MQTT_KEEPALIVE, s, default 30 */
    int max_inflight;      /* PUSH_MQTT_MAX_INFLIGHT: unacknowledged messages, default 100 */
    int batch;             /* PUSH_MQTT_BATCH: messages per read and flush, default 100 */
    int ack_timeout;       /* PUSH_MQTT_ACK_TIMEOUT, s: waiting for PUBACKs, default 30 */
    char status_listen[256]; /* PUSH_MQTT_STATUS_LISTEN: the status listener; "": none */
};

/* Fills c from envp (defaults for what is unset). Returns 0, or -1 with a one-line reason in
 * err naming the variable at fault. */
int push_mqtt_config_load(struct push_mqtt_config *c, char *const *envp, char *err, size_t errlen);

/* The --help text for the variables above. */
extern const char push_mqtt_config_help[];

#endif
