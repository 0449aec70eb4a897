/* test_mqtt_topic.c: unit tests for lib/mqtt/push_mqtt_topic: topic names and the per-user topic rule */
#include "config.h"

#include "unit.h"

#include "mqtt/push_mqtt_topic.h"

#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

START_TEST(user_names_that_can_have_topics)
{
    static const char *const good[] = { "alice", "Bob Smith", "é日本", "a.b-c_d", "x$y" };
    static const char *const bad[] = { "", "a/b", "/", "a+", "#", "al\nice", "\xff" };
    char longest[PUSH_USER_MAX + 2];

    for (int i = 0; i < N(good); i++)
        ck_assert_msg(push_mqtt_user_ok(good[i]), "%s refused", good[i]);
    for (int i = 0; i < N(bad); i++)
        ck_assert_msg(!push_mqtt_user_ok(bad[i]), "%s accepted", bad[i]);
    memset(longest, 'u', sizeof longest);
    longest[PUSH_USER_MAX] = '\0';
    ck_assert(push_mqtt_user_ok(longest));
    longest[PUSH_USER_MAX] = 'u';
    longest[PUSH_USER_MAX + 1] = '\0';
    ck_assert(!push_mqtt_user_ok(longest));
}
END_TEST

START_TEST(prefixes)
{
    static const char *const good[] = { "push", "site/push", "a" };
    static const char *const bad[] = { "", "$SYS", "/push", "push/", "a//b", "push/#", "p+",
                                       "x\ty" };

    for (int i = 0; i < N(good); i++)
        ck_assert_msg(push_mqtt_prefix_ok(good[i]), "%s refused", good[i]);
    for (int i = 0; i < N(bad); i++)
        ck_assert_msg(!push_mqtt_prefix_ok(bad[i]), "%s accepted", bad[i]);
}
END_TEST

START_TEST(topics_are_built_and_bounded)
{
    char buf[PUSH_MQTT_TOPIC_MAX], small[16];

    ck_assert_int_eq(push_mqtt_user_topic(buf, sizeof buf, "push", "alice", "message"), 23);
    ck_assert_str_eq(buf, "push/user/alice/message");
    ck_assert_int_eq(push_mqtt_broadcast_topic(buf, sizeof buf, "site/push", "message"), 27);
    ck_assert_str_eq(buf, "site/push/broadcast/message");
    ck_assert_int_eq(push_mqtt_user_topic(buf, sizeof buf, "push", "a/b", "message"), -1);
    ck_assert_int_eq(push_mqtt_user_topic(small, sizeof small, "push", "alice", "message"), -1);
    ck_assert_int_eq(push_mqtt_broadcast_topic(small, sizeof small, "push", "message"), -1);
    ck_assert_int_eq(push_mqtt_login_topic(buf, sizeof buf, "push"), 10);
    ck_assert_str_eq(buf, "push/login");
    ck_assert_int_eq(push_mqtt_login_topic(small, 8, "push"), -1);
}
END_TEST

/* A table of (user, topic, access, allowed). */
START_TEST(the_user_topic_rule)
{
    static const struct {
        const char *user, *topic;
        enum push_mqtt_access access;
        int allowed;
    } rules[] = {
        { "alice", "push/user/alice/message", PUSH_MQTT_READ, 1 },
        { "alice", "push/user/alice/unread", PUSH_MQTT_READ, 1 },
        { "alice", "push/user/alice/message", PUSH_MQTT_SUBSCRIBE, 1 },
        { "alice", "push/user/alice/#", PUSH_MQTT_SUBSCRIBE, 1 },
        { "alice", "push/user/alice/+", PUSH_MQTT_SUBSCRIBE, 1 },
        { "alice", "push/broadcast/message", PUSH_MQTT_READ, 1 },
        { "alice", "push/broadcast/message", PUSH_MQTT_SUBSCRIBE, 1 },
        { "alice", "push/broadcast/#", PUSH_MQTT_SUBSCRIBE, 1 },
        /* never publishing, not even on their own topics */
        { "alice", "push/user/alice/message", PUSH_MQTT_WRITE, 0 },
        { "alice", "push/user/alice/unread", PUSH_MQTT_WRITE, 0 },
        { "alice", "push/broadcast/message", PUSH_MQTT_WRITE, 0 },
        /* others' topics, wider filters, look-alikes */
        { "alice", "push/user/bob/message", PUSH_MQTT_READ, 0 },
        { "alice", "push/user/bob/#", PUSH_MQTT_SUBSCRIBE, 0 },
        { "alice", "push/user/+/message", PUSH_MQTT_SUBSCRIBE, 0 },
        { "alice", "push/user/#", PUSH_MQTT_SUBSCRIBE, 0 },
        { "alice", "push/#", PUSH_MQTT_SUBSCRIBE, 0 },
        { "alice", "#", PUSH_MQTT_SUBSCRIBE, 0 },
        { "alice", "+/user/alice/message", PUSH_MQTT_SUBSCRIBE, 0 },
        { "alice", "$SYS/#", PUSH_MQTT_SUBSCRIBE, 0 },
        { "alice", "push/user/alice", PUSH_MQTT_READ, 0 },
        { "alice", "push/user/alicex/message", PUSH_MQTT_READ, 0 },
        { "alice", "push/user/alice/message/x", PUSH_MQTT_READ, 0 },
        { "alice", "push/user/alice/other", PUSH_MQTT_READ, 0 },
        { "alice", "push/user/alice/#/x", PUSH_MQTT_SUBSCRIBE, 0 },
        { "alice", "pushy/user/alice/message", PUSH_MQTT_READ, 0 },
        { "alice", "other/user/alice/message", PUSH_MQTT_READ, 0 },
        { "alice", "push/broadcast/other", PUSH_MQTT_READ, 0 },
        { "alice", "push/login", PUSH_MQTT_READ, 0 },
        { "alice", "push/login", PUSH_MQTT_SUBSCRIBE, 0 },
        { "alice", "push/login", PUSH_MQTT_WRITE, 0 },
        { "alice", "$share/g/push/user/alice/message", PUSH_MQTT_SUBSCRIBE, 0 },
        /* a name that is a prefix of another's topic: "a/b" cannot have topics at all */
        { "a/b", "push/user/a/b/message", PUSH_MQTT_READ, 0 },
        { "a", "push/user/a/b/message", PUSH_MQTT_READ, 0 },
        { "+", "push/user/+/message", PUSH_MQTT_SUBSCRIBE, 0 },
        { "#", "push/user/#/message", PUSH_MQTT_SUBSCRIBE, 0 },
    };

    for (int i = 0; i < N(rules); i++)
        ck_assert_msg(push_mqtt_user_may("push", rules[i].user, rules[i].topic, rules[i].access)
                          == rules[i].allowed,
                      "%s on %s (access %d): expected %s", rules[i].user, rules[i].topic,
                      rules[i].access, rules[i].allowed ? "allowed" : "denied");
}
END_TEST

START_TEST(the_bridge_rule)
{
    ck_assert(push_mqtt_bridge_may("push", "push/user/alice/message", PUSH_MQTT_WRITE));
    ck_assert(push_mqtt_bridge_may("push", "push/broadcast/message", PUSH_MQTT_WRITE));
    ck_assert(push_mqtt_bridge_may("push", "push/#", PUSH_MQTT_SUBSCRIBE));
    ck_assert(push_mqtt_bridge_may("push", "push/user/alice/unread", PUSH_MQTT_READ));
    ck_assert(push_mqtt_bridge_may("push", "push/login", PUSH_MQTT_SUBSCRIBE));
    ck_assert(push_mqtt_bridge_may("push", "push/login", PUSH_MQTT_READ));
    ck_assert(!push_mqtt_bridge_may("push", "push/user/+/message", PUSH_MQTT_WRITE));
    ck_assert(!push_mqtt_bridge_may("push", "other/topic", PUSH_MQTT_WRITE));
    ck_assert(!push_mqtt_bridge_may("push", "pushx/a", PUSH_MQTT_WRITE));
    ck_assert(!push_mqtt_bridge_may("push", "push", PUSH_MQTT_WRITE));
    ck_assert(!push_mqtt_bridge_may("push", "push/", PUSH_MQTT_WRITE));
    ck_assert(!push_mqtt_bridge_may("push", "$SYS/broker/load", PUSH_MQTT_READ));
}
END_TEST

START_TEST(another_prefix)
{
    ck_assert(push_mqtt_user_may("site/push", "alice", "site/push/user/alice/message",
                                 PUSH_MQTT_READ));
    ck_assert(!push_mqtt_user_may("site/push", "alice", "push/user/alice/message", PUSH_MQTT_READ));
    ck_assert(push_mqtt_bridge_may("site/push", "site/push/broadcast/message", PUSH_MQTT_WRITE));
    ck_assert(!push_mqtt_bridge_may("site/push", "site/x", PUSH_MQTT_WRITE));
}
END_TEST

START_TEST(client_ids)
{
    ck_assert(push_mqtt_client_id_ok("carol", "carol/phone"));
    ck_assert(push_mqtt_client_id_ok("carol", "carol/a/b"));
    /* an id without the user's name is nobody's: it could be another user's session */
    ck_assert(!push_mqtt_client_id_ok("carol", "carol/"));
    ck_assert(!push_mqtt_client_id_ok("carol", "carol"));
    ck_assert(!push_mqtt_client_id_ok("carol", "carol-phone"));
    ck_assert(!push_mqtt_client_id_ok("carol", "auto-1234"));
    ck_assert(!push_mqtt_client_id_ok("carol", "phone"));
    ck_assert(!push_mqtt_client_id_ok("carol", ""));
    ck_assert(!push_mqtt_client_id_ok("carol", NULL));
    ck_assert(!push_mqtt_client_id_ok("carol", "bob/phone"));
    ck_assert(!push_mqtt_client_id_ok("carol", "caro/phone"));
    ck_assert(!push_mqtt_client_id_ok("carol", "carolx/phone"));
    ck_assert(!push_mqtt_client_id_ok("carol", "x/carol/phone"));
}
END_TEST

static Suite *mqtt_topic_suite(void)
{
    Suite *s = suite_create("mqtt_topic");
    TCase *t = tcase_create("topics");

    tcase_add_test(t, user_names_that_can_have_topics);
    tcase_add_test(t, prefixes);
    tcase_add_test(t, topics_are_built_and_bounded);
    tcase_add_test(t, the_user_topic_rule);
    tcase_add_test(t, the_bridge_rule);
    tcase_add_test(t, another_prefix);
    tcase_add_test(t, client_ids);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(mqtt_topic_suite)
