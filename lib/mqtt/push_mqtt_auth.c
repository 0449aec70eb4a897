/* push_mqtt_auth.c: the Mosquitto plugin's decisions, free of Mosquitto so they can be tested */
#include "config.h"

#include "mqtt/push_mqtt_auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/push_token.h"

int push_mqtt_read_secret(const char *what, const char *path, char *buf, size_t size,
                          size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t n;

    if (!f) {
        snprintf(err, errlen, "%s: cannot open %.200s: %s", what, path, strerror(errno));
        return -1;
    }
    n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (n == 0 || n >= size) {
        snprintf(err, errlen, "%s: %.200s holds %s", what, path,
                 n ? "a secret that is too long" : "no secret on its first line");
        OPENSSL_cleanse(line, sizeof line);
        return -1;
    }
    memcpy(buf, line, n + 1);
    *len = n;
    OPENSSL_cleanse(line, sizeof line);
    return 0;
}

/* Copies value into dst (size bytes); -1 with err when it does not fit or is empty. */
static int copy_opt(char *dst, size_t size, const char *key, const char *value, char *err,
                    size_t errlen)
{
    size_t len = strlen(value);

    if (len == 0 || len >= size) {
        snprintf(err, errlen, "plugin_opt_%s: %s", key, len ? "too long" : "empty");
        return -1;
    }
    memcpy(dst, value, len + 1);
    return 0;
}

/* A token secret from the file at path, for option what: at least PUSH_SECRET_MIN bytes. */
static int read_token_secret(const char *what, const char *path, char *buf, size_t size,
                             size_t *len, char *err, size_t errlen)
{
    if (push_mqtt_read_secret(what, path, buf, size, len, err, errlen) < 0)
        return -1;
    if (*len < PUSH_SECRET_MIN) {
        snprintf(err, errlen, "%s: the secret is shorter than %d bytes", what, PUSH_SECRET_MIN);
        return -1;
    }
    return 0;
}

static int set_opt(struct push_mqtt_auth *a, const char *key, const char *value, char *err,
                   size_t errlen)
{
    if (strcmp(key, "token_secret_file") == 0)
        return read_token_secret("plugin_opt_token_secret_file", value, a->secret,
                                 sizeof a->secret, &a->secret_len, err, errlen);
    if (strcmp(key, "token_secret_previous_file") == 0)
        return read_token_secret("plugin_opt_token_secret_previous_file", value, a->previous,
                                 sizeof a->previous, &a->previous_len, err, errlen);
    if (strcmp(key, "bridge_password_file") == 0)
        return push_mqtt_read_secret("plugin_opt_bridge_password_file", value, a->bridge_password,
                                     sizeof a->bridge_password, &a->bridge_password_len, err,
                                     errlen);
    if (strcmp(key, "bridge_user") == 0) {
        if (copy_opt(a->bridge_user, sizeof a->bridge_user, key, value, err, errlen) < 0)
            return -1;
        if (!push_user_valid(value, strlen(value))) {
            snprintf(err, errlen, "plugin_opt_bridge_user: not a valid user name");
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "topic_prefix") == 0) {
        if (copy_opt(a->prefix, sizeof a->prefix, key, value, err, errlen) < 0)
            return -1;
        if (!push_mqtt_prefix_ok(value)) {
            snprintf(err, errlen, "plugin_opt_topic_prefix: levels without wildcards, "
                                  "not beginning with $ or /");
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "plugin_opt_%.60s: unknown option (known: token_secret_file, "
                          "token_secret_previous_file, bridge_user, bridge_password_file, topic_prefix)", key);
    return -1;
}

int push_mqtt_auth_init(struct push_mqtt_auth *a, const char *const *keys,
                        const char *const *values, int n, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    snprintf(a->bridge_user, sizeof a->bridge_user, "%s", "pgpush-bridge");
    snprintf(a->prefix, sizeof a->prefix, "%s", "push");
    for (int i = 0; i < n; i++) {
        if (!keys[i] || !values[i]) {
            snprintf(err, errlen, "an option without a value");
            goto fail;
        }
        if (set_opt(a, keys[i], values[i], err, errlen) < 0)
            goto fail;
    }
    if (!a->secret_len) {
        snprintf(err, errlen, "plugin_opt_token_secret_file is required "
                              "(the file holding PUSH_TOKEN_SECRET)");
        goto fail;
    }
    if (!a->bridge_password_len) {
        snprintf(err, errlen, "plugin_opt_bridge_password_file is required "
                              "(the file holding the bridge's password)");
        goto fail;
    }
    return 0;
fail:
    push_mqtt_auth_clear(a);
    return -1;
}

/* Constant-time comparison of a password with the bridge's. */
static int bridge_password_ok(const struct push_mqtt_auth *a, const char *password)
{
    size_t len = strnlen(password, PUSH_MQTT_PASSWORD_MAX + 1);

    if (len != a->bridge_password_len)
        return 0;
    return CRYPTO_memcmp(password, a->bridge_password, len) == 0;
}

enum push_mqtt_who push_mqtt_auth_login(const struct push_mqtt_auth *a, const char *username,
                                        const char *password, const char *client_id, int64_t now)
{
    const struct push_secret secrets[2] = { { a->secret, a->secret_len },
                                            { a->previous, a->previous_len } };
    char user[PUSH_USER_MAX + 1];

    if (!username || !password || !push_mqtt_client_id_ok(username, client_id))
        return PUSH_MQTT_NOBODY;
    if (strcmp(username, a->bridge_user) == 0)
        return bridge_password_ok(a, password) ? PUSH_MQTT_BRIDGE : PUSH_MQTT_NOBODY;
    if (!push_mqtt_user_ok(username)
        || push_token_verify_any(secrets, 2, password, now, user, NULL) != PUSH_TOKEN_OK
        || strcmp(user, username) != 0)
        return PUSH_MQTT_NOBODY;
    return PUSH_MQTT_USER;
}

int push_mqtt_auth_may(const struct push_mqtt_auth *a, const char *username, const char *topic,
                       enum push_mqtt_access access)
{
    if (!username || !topic)
        return 0;
    if (strcmp(username, a->bridge_user) == 0)
        return push_mqtt_bridge_may(a->prefix, topic, access);
    return push_mqtt_user_may(a->prefix, username, topic, access);
}

void push_mqtt_auth_clear(struct push_mqtt_auth *a)
{
    OPENSSL_cleanse(a, sizeof *a);
}
