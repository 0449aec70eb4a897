/* test_mqtt_auth.c: unit tests for lib/mqtt/push_mqtt_auth (the plugin's options, logins, access) and
 * lib/mqtt/push_mqtt_config (push-mqtt's settings) */
#include "config.h"

#include "unit.h"

#include "core/push_token.h"
#include "mqtt/push_mqtt_auth.h"
#include "mqtt/push_mqtt_config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SECRET "unit-secret-0123456789abcdef"
#define NOW ((int64_t)1800000000)

static char secret_path[64], password_path[64], err[300];
static struct push_mqtt_auth auth;

static void write_file(char path[64], const char *content)
{
    FILE *f;
    int fd;

    snprintf(path, 64, "/tmp/pgpush-test-mqtt-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
    write_file(secret_path, SECRET "\n");
    write_file(password_path, "bridge-pw\r\n");
}

static void teardown(void)
{
    unlink(secret_path);
    unlink(password_path);
}

static int init(int n, const char *const *keys, const char *const *values)
{
    err[0] = '\0';
    return push_mqtt_auth_init(&auth, keys, values, n, err, sizeof err);
}

static void init_default(void)
{
    const char *keys[] = { "token_secret_file", "bridge_password_file" };
    const char *values[] = { secret_path, password_path };

    ck_assert_msg(init(2, keys, values) == 0, "%s", err);
}

static const char *mint(const char *user, int64_t expires, const char *secret)
{
    static char token[PUSH_TOKEN_MAX + 1];

    ck_assert_int_gt(push_token_sign(secret, strlen(secret), user, expires, token, sizeof token),
                     0);
    return token;
}

START_TEST(options_defaults_and_files)
{
    init_default();
    ck_assert_str_eq(auth.secret, SECRET);
    ck_assert_str_eq(auth.bridge_password, "bridge-pw"); /* without its line end */
    ck_assert_str_eq(auth.bridge_user, "pgpush-bridge");
    ck_assert_str_eq(auth.prefix, "push");
}
END_TEST

START_TEST(options_all)
{
    const char *keys[] = { "token_secret_file", "bridge_password_file", "bridge_user",
                           "topic_prefix" };
    const char *values[] = { secret_path, password_path, "relay", "site/push" };

    ck_assert_msg(init(4, keys, values) == 0, "%s", err);
    ck_assert_str_eq(auth.bridge_user, "relay");
    ck_assert_str_eq(auth.prefix, "site/push");
}
END_TEST

START_TEST(previous_secret_logs_in_during_a_rotation)
{
    char previous_path[64];
    const char *keys[] = { "token_secret_file", "bridge_password_file", "token_secret_previous_file" };
    const char *values[] = { secret_path, password_path, previous_path };
    const char *old = "old-secret-0123456789abcdef";
    char token[PUSH_TOKEN_MAX + 1];
    int64_t now = 1000000;

    write_file(previous_path, "old-secret-0123456789abcdef\n");
    snprintf(token, sizeof token, "%s", mint("alice", now + 60, old));
    init_default();
    ck_assert_int_eq(push_mqtt_auth_login(&auth, "alice", token, "alice/tab", now), PUSH_MQTT_NOBODY);
    ck_assert_msg(init(3, keys, values) == 0, "%s", err);
    ck_assert_int_eq(push_mqtt_auth_login(&auth, "alice", token, "alice/tab", now), PUSH_MQTT_USER);
    ck_assert_int_eq(push_mqtt_auth_login(&auth, "alice", mint("alice", now + 60, SECRET),
                                          "alice/tab", now), PUSH_MQTT_USER);
    ck_assert_int_eq(push_mqtt_auth_login(&auth, "bob", token, "bob/tab", now), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(push_mqtt_auth_login(&auth, "alice", mint("alice", now - 1, old), "alice/tab",
                                          now), PUSH_MQTT_NOBODY);
    /* the previous secret is held to the same minimum */
    unlink(previous_path);
    write_file(previous_path, "short\n");
    ck_assert_int_eq(init(3, keys, values), -1);
    ck_assert_msg(strstr(err, "token_secret_previous_file"), "%s", err);
    unlink(previous_path);
}
END_TEST

START_TEST(options_refused)
{
    static const struct {
        const char *key, *value, *named;
    } bad[] = {
        { "topic_prefix", "push/#", "topic_prefix" },
        { "topic_prefix", "$SYS", "topic_prefix" },
        { "bridge_user", "", "bridge_user" },
        { "bridge_user", "a\nb", "bridge_user" },
        { "token_secret_file", "/nonexistent/secret", "token_secret_file" },
        { "bridge_password_file", "/nonexistent/pw", "bridge_password_file" },
        { "token_secret", SECRET, "unknown option" },
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *keys[] = { "token_secret_file", "bridge_password_file", bad[i].key };
        const char *values[] = { secret_path, password_path, bad[i].value };
        ck_assert_int_eq(init(3, keys, values), -1);
        ck_assert_msg(strstr(err, bad[i].named), "\"%s\" does not say %s", err, bad[i].named);
        ck_assert_msg(!strchr(err, '\n'), "\"%s\" is not one line", err);
    }
}
END_TEST

START_TEST(options_required_and_short_secret)
{
    const char *keys[] = { "token_secret_file", "bridge_password_file" };
    const char *values[] = { secret_path, password_path };
    char short_path[64];

    ck_assert_int_eq(init(1, keys, values), -1);
    ck_assert_ptr_nonnull(strstr(err, "bridge_password_file is required"));
    ck_assert_int_eq(init(1, keys + 1, values + 1), -1);
    ck_assert_ptr_nonnull(strstr(err, "token_secret_file is required"));
    write_file(short_path, "short\n");
    values[0] = short_path;
    ck_assert_int_eq(init(2, keys, values), -1);
    ck_assert_ptr_nonnull(strstr(err, "shorter than 16"));
    unlink(short_path);
    write_file(short_path, "\n");
    values[0] = short_path;
    ck_assert_int_eq(init(2, keys, values), -1);
    ck_assert_ptr_nonnull(strstr(err, "no secret"));
    unlink(short_path);
}
END_TEST

/* push_mqtt_auth_login at NOW */
static enum push_mqtt_who login(const char *user, const char *password, const char *client_id)
{
    return push_mqtt_auth_login(&auth, user, password, client_id, NOW);
}

START_TEST(logins)
{
    init_default();
    ck_assert_int_eq(login("alice", mint("alice", NOW + 60, SECRET), "alice/any"), PUSH_MQTT_USER);
    /* the token's user must be the user name */
    ck_assert_int_eq(login("bob", mint("alice", NOW + 60, SECRET), "bob/any"), PUSH_MQTT_NOBODY);
    /* expired, signed with another secret, forged */
    ck_assert_int_eq(login("alice", mint("alice", NOW, SECRET), "alice/any"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("alice", mint("alice", NOW + 60, "another-secret-0123456789"),
                           "alice/any"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("alice", "v1.YWxpY2U.9999999999.00", "alice/any"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("alice", NULL, "alice/any"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login(NULL, "x", "any"), PUSH_MQTT_NOBODY);
    /* a user whose name cannot have topics cannot log in */
    ck_assert_int_eq(login("a/b", mint("a/b", NOW + 60, SECRET), "a/b/any"), PUSH_MQTT_NOBODY);
    /* the bridge: its password only, never a token */
    ck_assert_int_eq(login("pgpush-bridge", "bridge-pw", "pgpush-bridge/any"), PUSH_MQTT_BRIDGE);
    ck_assert_int_eq(login("pgpush-bridge", "bridge-p", "pgpush-bridge/any"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("pgpush-bridge", "bridge-pwx", "pgpush-bridge/any"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("pgpush-bridge", "", "pgpush-bridge/any"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("pgpush-bridge", mint("pgpush-bridge", NOW + 60, SECRET),
                           "pgpush-bridge/any"), PUSH_MQTT_NOBODY);
}
END_TEST

START_TEST(logins_and_client_ids)
{
    const char *tok;

    init_default();
    tok = mint("carol", NOW + 60, SECRET);
    ck_assert_int_eq(login("carol", tok, "carol/phone"), PUSH_MQTT_USER);
    /* ids without "carol/" are nobody's: bob's "phone-1" would otherwise be hers to take over */
    ck_assert_int_eq(login("carol", tok, "random-123"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("carol", tok, "phone-1"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("carol", tok, "carol"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("carol", tok, "carol/"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("carol", tok, ""), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("carol", tok, NULL), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("carol", tok, "bob/phone"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("carol", tok, "carolx/phone"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("carol", tok, "/phone"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("carol", tok, "pgpush-bridge/push-mqtt"), PUSH_MQTT_NOBODY);
    ck_assert_int_eq(login("pgpush-bridge", "bridge-pw", "pgpush-bridge/push-mqtt"),
                     PUSH_MQTT_BRIDGE);
    ck_assert_int_eq(login("pgpush-bridge", "bridge-pw", "push-mqtt"), PUSH_MQTT_NOBODY);
}
END_TEST

START_TEST(access_by_user_name)
{
    init_default();
    ck_assert(push_mqtt_auth_may(&auth, "alice", "push/user/alice/message", PUSH_MQTT_READ));
    ck_assert(!push_mqtt_auth_may(&auth, "alice", "push/user/alice/message", PUSH_MQTT_WRITE));
    ck_assert(!push_mqtt_auth_may(&auth, "alice", "push/user/bob/message", PUSH_MQTT_READ));
    ck_assert(push_mqtt_auth_may(&auth, "pgpush-bridge", "push/user/bob/message", PUSH_MQTT_WRITE));
    ck_assert(!push_mqtt_auth_may(&auth, "pgpush-bridge", "elsewhere", PUSH_MQTT_WRITE));
    ck_assert(!push_mqtt_auth_may(&auth, NULL, "push/broadcast/message", PUSH_MQTT_READ));
}
END_TEST

START_TEST(clear_forgets_secrets)
{
    init_default();
    push_mqtt_auth_clear(&auth);
    ck_assert_uint_eq(auth.secret_len, 0);
    ck_assert_str_eq(auth.secret, "");
    ck_assert_str_eq(auth.bridge_password, "");
}
END_TEST

/* ---- push_mqtt_config */

static struct push_mqtt_config mcfg;

#define LOAD(...) \
    push_mqtt_config_load(&mcfg, (char *const[]){ __VA_ARGS__, NULL }, err, sizeof err)

START_TEST(config_defaults)
{
    ck_assert_int_eq(LOAD("OTHER=1"), 0);
    ck_assert_str_eq(mcfg.host, "127.0.0.1");
    ck_assert_int_eq(mcfg.port, 1883);
    ck_assert_str_eq(mcfg.user, "pgpush-bridge");
    ck_assert_str_eq(mcfg.client_id, "pgpush-bridge/push-mqtt");
    ck_assert_str_eq(mcfg.prefix, "push");
    ck_assert_uint_eq(mcfg.password_len, 0);
    ck_assert_int_eq(mcfg.max_inflight, 100);
    ck_assert_int_eq(mcfg.batch, 100);
    ck_assert_int_eq(mcfg.keepalive, 30);
    ck_assert_int_eq(mcfg.ack_timeout, 30);
}
END_TEST

START_TEST(config_values)
{
    char pw[128];

    snprintf(pw, sizeof pw, "PUSH_MQTT_PASSWORD_FILE=%s", password_path);
    ck_assert_msg(LOAD("PUSH_MQTT_HOST=broker.example", "PUSH_MQTT_PORT=8883",
                       "PUSH_MQTT_USER=relay", pw, "PUSH_MQTT_TOPIC_PREFIX=site/push",
                       "PUSH_MQTT_BATCH=1000",
                       "PUSH_MQTT_MAX_INFLIGHT=5", "PUSH_MQTT_CLIENT_ID=relay/1") == 0, "%s", err);
    ck_assert_str_eq(mcfg.host, "broker.example");
    ck_assert_int_eq(mcfg.port, 8883);
    ck_assert_str_eq(mcfg.user, "relay");
    ck_assert_str_eq(mcfg.password, "bridge-pw");
    ck_assert_str_eq(mcfg.prefix, "site/push");
    ck_assert_int_eq(mcfg.batch, 1000);
    ck_assert_int_eq(mcfg.max_inflight, 5);
    ck_assert_str_eq(mcfg.client_id, "relay/1");
    /* without PUSH_MQTT_CLIENT_ID the id is the user's own */
    ck_assert_int_eq(LOAD("PUSH_MQTT_USER=relay"), 0);
    ck_assert_str_eq(mcfg.client_id, "relay/push-mqtt");
}
END_TEST

START_TEST(config_errors_name_the_variable)
{
    static const char *const bad[][2] = {
        { "PUSH_MQTT_PORT=0", "PUSH_MQTT_PORT" },
        { "PUSH_MQTT_PORT=65536", "PUSH_MQTT_PORT" },
        { "PUSH_MQTT_BATCH=1001", "PUSH_MQTT_BATCH" },
        { "PUSH_MQTT_MAX_INFLIGHT=x", "PUSH_MQTT_MAX_INFLIGHT" },
        { "PUSH_MQTT_TOPIC_PREFIX=push/+", "PUSH_MQTT_TOPIC_PREFIX" },
        { "PUSH_MQTT_TOPIC_PREFIX=", "PUSH_MQTT_TOPIC_PREFIX" },
        { "PUSH_MQTT_HOST=", "PUSH_MQTT_HOST" },
        { "PUSH_MQTT_PASSWORD_FILE=/nonexistent", "PUSH_MQTT_PASSWORD_FILE" },
        { "PUSH_MQTT_KEEPALIVE=1", "PUSH_MQTT_KEEPALIVE" },
        /* the bridge's id must be its own, as every user's: the plugin refuses others */
        { "PUSH_MQTT_CLIENT_ID=push-mqtt", "PUSH_MQTT_CLIENT_ID" },
        { "PUSH_MQTT_CLIENT_ID=alice/push-mqtt", "PUSH_MQTT_CLIENT_ID" },
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(LOAD((char *)bad[i][0]), -1);
        ck_assert_msg(strstr(err, bad[i][1]), "\"%s\" does not name %s", err, bad[i][1]);
    }
}
END_TEST

static Suite *mqtt_auth_suite(void)
{
    Suite *s = suite_create("mqtt_auth");
    TCase *a = tcase_create("plugin");
    TCase *c = tcase_create("config");

    tcase_add_checked_fixture(a, setup, teardown);
    tcase_add_test(a, options_defaults_and_files);
    tcase_add_test(a, options_all);
    tcase_add_test(a, options_refused);
    tcase_add_test(a, previous_secret_logs_in_during_a_rotation);
    tcase_add_test(a, options_required_and_short_secret);
    tcase_add_test(a, logins);
    tcase_add_test(a, logins_and_client_ids);
    tcase_add_test(a, access_by_user_name);
    tcase_add_test(a, clear_forgets_secrets);
    suite_add_tcase(s, a);
    tcase_add_checked_fixture(c, setup, teardown);
    tcase_add_test(c, config_defaults);
    tcase_add_test(c, config_values);
    tcase_add_test(c, config_errors_name_the_variable);
    suite_add_tcase(s, c);
    return s;
}

UNIT_MAIN(mqtt_auth_suite)
