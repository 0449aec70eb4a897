/* push_mqtt_config.c: reads and validates the PUSH_MQTT_* variables into a push_mqtt_config */
#include "config.h"

#include "mqtt/push_mqtt_config.h"

#include <stdio.h>
#include <string.h>

const char push_mqtt_config_help[] =
    "MQTT (push-mqtt):\n"
    "  PUSH_MQTT_HOST         the broker (default 127.0.0.1)\n"
    "  PUSH_MQTT_PORT         its MQTT port (default 1883)\n"
    "  PUSH_MQTT_USER         the bridge's MQTT user name (default pgpush-bridge)\n"
    "  PUSH_MQTT_PASSWORD_FILE  a file holding the bridge's password (the auth plugin's\n"
    "                         plugin_opt_bridge_password_file); unset: no password\n"
    "  PUSH_MQTT_CLIENT_ID    the bridge's MQTT client id, PUSH_MQTT_USER/NAME (default\n"
    "                         PUSH_MQTT_USER/push-mqtt)\n"
    "  PUSH_MQTT_TOPIC_PREFIX first topic level(s) (default push)\n"
    "  PUSH_MQTT_KEEPALIVE    seconds between MQTT pings (default 30)\n"
    "  PUSH_MQTT_MAX_INFLIGHT messages published and not yet acknowledged, at most (default 100)\n"
    "  PUSH_MQTT_BATCH        messages read and published per round (default 100, at most 1000)\n"
    "  PUSH_MQTT_ACK_TIMEOUT  seconds to wait for the broker's acknowledgements (default 30)\n"
    "  PUSH_MQTT_STATUS_LISTEN  a socket path or [host]:port (127.0.0.1:9182) where push-mqtt\n"
    "                         answers GET /metrics and GET /health in plain HTTP; keep it off\n"
    "                         the internet (default: none)\n";

static int fail(char *err, size_t errlen, const char *name, const char *why)
{
    snprintf(err, errlen, "%s: %s", name, why);
    return -1;
}

static int copy_str(char *dst, size_t size, const char *value, const char *name, char *err,
                    size_t errlen)
{
    size_t len = strlen(value);

    if (len == 0)
        return fail(err, errlen, name, "empty");
    if (len >= size)
        return fail(err, errlen, name, "too long");
    memcpy(dst, value, len + 1);
    return 0;
}

static int load_strings(struct push_mqtt_config *c, char *const *envp, char *err, size_t errlen)
{
    const struct {
        const char *name;
        char *field;
        size_t size;
    } table[] = {
        { "PUSH_MQTT_HOST", c->host, sizeof c->host },
        { "PUSH_MQTT_USER", c->user, sizeof c->user },
        { "PUSH_MQTT_CLIENT_ID", c->client_id, sizeof c->client_id },
        { "PUSH_MQTT_TOPIC_PREFIX", c->prefix, sizeof c->prefix },
        { "PUSH_MQTT_STATUS_LISTEN", c->status_listen, sizeof c->status_listen },
    };
    const char *v;

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if ((v = push_env_get(envp, table[i].name))
            && copy_str(table[i].field, table[i].size, v, table[i].name, err, errlen) < 0)
            return -1;
    if (!push_mqtt_prefix_ok(c->prefix))
        return fail(err, errlen, "PUSH_MQTT_TOPIC_PREFIX",
                    "topic levels without wildcards, not beginning with $ or /");
    if (!push_user_valid(c->user, strlen(c->user)))
        return fail(err, errlen, "PUSH_MQTT_USER", "not a valid user name");
    if (!c->client_id[0]) /* the default: the user's own */
        snprintf(c->client_id, sizeof c->client_id, "%s/push-mqtt", c->user);
    if (!push_mqtt_client_id_ok(c->user, c->client_id))
        return fail(err, errlen, "PUSH_MQTT_CLIENT_ID",
                    "must be PUSH_MQTT_USER/NAME (the plugin refuses other ids)");
    return 0;
}

int push_mqtt_config_load(struct push_mqtt_config *c, char *const *envp, char *err, size_t errlen)
{
    const struct push_env_number numbers[] = {
        { "PUSH_MQTT_PORT", 1, 65535, &c->port },
        { "PUSH_MQTT_KEEPALIVE", 5, 3600, &c->keepalive },
        { "PUSH_MQTT_MAX_INFLIGHT", 1, 65535, &c->max_inflight },
        { "PUSH_MQTT_BATCH", 1, PUSH_MQTT_BATCH_CAP, &c->batch },
        { "PUSH_MQTT_ACK_TIMEOUT", 1, 3600, &c->ack_timeout },
    };
    const char *v;

    memset(c, 0, sizeof *c);
    snprintf(c->host, sizeof c->host, "%s", "127.0.0.1");
    snprintf(c->user, sizeof c->user, "%s", "pgpush-bridge");
    snprintf(c->prefix, sizeof c->prefix, "%s", "push");
    c->port = 1883;
    c->keepalive = 30;
    c->max_inflight = 100;
    c->batch = 100;
    c->ack_timeout = 30;
    if (load_strings(c, envp, err, errlen) < 0)
        return -1;
    if (push_env_numbers(envp, numbers, sizeof numbers / sizeof numbers[0], err, errlen) < 0)
        return -1;
    if ((v = push_env_get(envp, "PUSH_MQTT_PASSWORD_FILE")) && *v
        && push_mqtt_read_secret("PUSH_MQTT_PASSWORD_FILE", v, c->password, sizeof c->password,
                                 &c->password_len, err, errlen) < 0)
        return -1;
    return 0;
}
