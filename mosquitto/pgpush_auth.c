/* pgpush_auth.c: Mosquitto 2.0 plugin (API v5): pgpush tokens as MQTT passwords, per-user topics */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "mqtt/push_mqtt_auth.h"

/* mosquitto.conf:
 *
 *     plugin /usr/lib/x86_64-linux-gnu/pgpush/pgpush_auth.so
 *     plugin_opt_token_secret_file /etc/pgpush/secret
 *     plugin_opt_token_secret_previous_file /etc/pgpush/secret.previous   (during a rotation)
 *     plugin_opt_bridge_password_file /etc/pgpush/mqtt-bridge-password
 *     plugin_opt_bridge_user pgpush-bridge        (the default)
 *     plugin_opt_topic_prefix push                (the default)
 *
 * Mosquitto calls the callbacks from its one main thread. On its SIGHUP it reloads mosquitto.conf
 * and hands the plugin its options again (MOSQ_EVT_RELOAD): the secret files are read anew, and
 * the new settings replace the old ones only when they are all valid. */

#define OPTS_MAX 16
#define EXPORT __attribute__((visibility("default"))) /* built with -fvisibility=hidden */

static struct push_mqtt_auth settings;
static char login_topic[PUSH_MQTT_PREFIX_MAX + 16];
static mosquitto_plugin_id_t *plugin_id;

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    enum push_mqtt_who who = push_mqtt_auth_login(&settings, ed->username, ed->password,
                                                  mosquitto_client_id(ed->client),
                                                  (int64_t)time(NULL));

    if (who == PUSH_MQTT_NOBODY) {
        /* the name only: never the password, which is a token or the bridge's secret */
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "pgpush_auth: refused login of %.128s from %s",
                             ed->username ? ed->username : "(no username)",
                             mosquitto_client_address(ed->client));
        return MOSQ_ERR_AUTH;
    }
    /* tell push-mqtt, which then keeps this user's unread counts even when they never had a
     * message of their own (push.mqtt_users) */
    if (who == PUSH_MQTT_USER)
        mosquitto_broker_publish_copy(NULL, login_topic, (int)strlen(ed->username), ed->username,
                                      1, false, NULL);
    return MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    enum push_mqtt_access access;

    switch (ed->access) {
    case MOSQ_ACL_UNSUBSCRIBE: return MOSQ_ERR_SUCCESS;
    case MOSQ_ACL_SUBSCRIBE: access = PUSH_MQTT_SUBSCRIBE; break;
    case MOSQ_ACL_READ: access = PUSH_MQTT_READ; break;
    case MOSQ_ACL_WRITE: access = PUSH_MQTT_WRITE; break;
    default: return MOSQ_ERR_ACL_DENIED;
    }
    if (push_mqtt_auth_may(&settings, mosquitto_client_username(ed->client), ed->topic, access))
        return MOSQ_ERR_SUCCESS;
    return MOSQ_ERR_ACL_DENIED;
}

/* Reads the n options into a; 0, or -1 after logging why. */
static int read_options(struct push_mqtt_auth *a, struct mosquitto_opt *options, int n)
{
    const char *keys[OPTS_MAX], *values[OPTS_MAX];
    char err[300];

    if (n > OPTS_MAX) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "pgpush_auth: more than %d plugin_opt_ lines", OPTS_MAX);
        return -1;
    }
    for (int i = 0; i < n; i++)
        keys[i] = options[i].key, values[i] = options[i].value;
    if (push_mqtt_auth_init(a, keys, values, n, err, sizeof err) < 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "pgpush_auth: %s", err);
        return -1;
    }
    return 0;
}

static int on_reload(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_reload *ed = event_data;
    static struct push_mqtt_auth next;

    if (read_options(&next, ed->options, ed->option_count) < 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "pgpush_auth: reload refused; the settings are kept as "
                                           "they were");
        return MOSQ_ERR_SUCCESS;
    }
    push_mqtt_auth_clear(&settings);
    settings = next;
    push_mqtt_auth_clear(&next);
    push_mqtt_login_topic(login_topic, sizeof login_topic, settings.prefix);
    mosquitto_log_printf(MOSQ_LOG_INFO, "pgpush_auth: reloaded: topic prefix %s, bridge %s, %s",
                         settings.prefix, settings.bridge_user,
                         settings.previous_len ? "a previous token secret too" : "one token secret");
    return MOSQ_ERR_SUCCESS;
}

EXPORT int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                                 struct mosquitto_opt *options, int option_count)
{
    if (read_options(&settings, options, option_count) < 0)
        return MOSQ_ERR_INVAL;
    push_mqtt_login_topic(login_topic, sizeof login_topic, settings.prefix);
    plugin_id = identifier;
    if (mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL)
        || mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL)
        || mosquitto_callback_register(plugin_id, MOSQ_EVT_RELOAD, on_reload, NULL, NULL)) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "pgpush_auth: cannot register the callbacks");
        return MOSQ_ERR_UNKNOWN;
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "pgpush_auth: tokens for users, topic prefix %s, bridge %s",
                         settings.prefix, settings.bridge_user);
    return MOSQ_ERR_SUCCESS;
}

EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options,
                                    int option_count)
{
    if (plugin_id) {
        mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
        mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
        mosquitto_callback_unregister(plugin_id, MOSQ_EVT_RELOAD, on_reload, NULL);
    }
    push_mqtt_auth_clear(&settings);
    return MOSQ_ERR_SUCCESS;
}
