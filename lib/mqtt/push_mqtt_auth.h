/* push_mqtt_auth.h: what the Mosquitto auth plugin decides: options, logins, topic access */
#ifndef PUSH_MQTT_AUTH_H
#define PUSH_MQTT_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/push_config.h"
#include "mqtt/push_mqtt_topic.h"

#define PUSH_MQTT_PASSWORD_MAX 256

/* The plugin's settings, from plugin_opt_* lines of mosquitto.conf (README, "push-mqtt"). */
struct push_mqtt_auth {
    char secret[PUSH_SECRET_MAX + 1];       /* token_secret_file: the web programs' secret */
    size_t secret_len;
    char previous[PUSH_SECRET_MAX + 1];     /* token_secret_previous_file: during a rotation, the
                                             * secret before it (README "Rotating the token
                                             * secret"); empty: none */
    size_t previous_len;
    char bridge_user[PUSH_USER_MAX + 1];    /* bridge_user, default "pgpush-bridge" */
    char bridge_password[PUSH_MQTT_PASSWORD_MAX + 1]; /* bridge_password_file */
    size_t bridge_password_len;
    char prefix[PUSH_MQTT_PREFIX_MAX + 1];  /* topic_prefix, default "push" */
};

enum push_mqtt_who {
    PUSH_MQTT_NOBODY, /* refused */
    PUSH_MQTT_USER,   /* a user, by a valid token whose user is the MQTT username */
    PUSH_MQTT_BRIDGE, /* push-mqtt, by the bridge password */
};

/* Reads the first line of the file at path (without its line end) into buf; its length in
 * *len. Returns 0, or -1 with a reason in err (naming what, the setting). */
int push_mqtt_read_secret(const char *what, const char *path, char *buf, size_t size,
                          size_t *len, char *err, size_t errlen);

/* Fills a from n option pairs (keys without "plugin_opt_"). Returns 0, or -1 with a one-line
 * reason in err naming the option at fault. Unknown options are errors. */
int push_mqtt_auth_init(struct push_mqtt_auth *a, const char *const *keys,
                        const char *const *values, int n, char *err, size_t errlen);

/* Who logs in with this username, password and client id at time now (any may be NULL). The
 * bridge user never logs in by token, and the password is compared in constant time; a token
 * signed with the previous secret is taken as one signed with the current one; the client
 * id must satisfy push_mqtt_client_id_ok. */
enum push_mqtt_who push_mqtt_auth_login(const struct push_mqtt_auth *a, const char *username,
                                        const char *password, const char *client_id, int64_t now);

/* May the client logged in as username (NULL: none) do access on topic? 1 yes, 0 no. */
int push_mqtt_auth_may(const struct push_mqtt_auth *a, const char *username, const char *topic,
                       enum push_mqtt_access access);

/* Forgets the secrets (before the plugin is unloaded). */
void push_mqtt_auth_clear(struct push_mqtt_auth *a);

#endif
