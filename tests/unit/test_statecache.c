/* test_statecache.c: unit tests for lib/store/push_statecache: hits, drops by notification, tickets, listening */
#include "config.h"

#include "unit.h"

#include "core/push_token.h"
#include "store/push_statecache.h"

#include <stdio.h>
#include <string.h>

static struct push_state state(int64_t n)
{
    struct push_state st = { { n, n + 1 }, n + 2, n + 3, n + 4, -1 };
    return st;
}

/* Looks user up and stores st with the ticket, as push-poll does after a miss. */
static void fill(struct push_statecache *c, const char *user, int64_t n)
{
    struct push_state st, got;
    struct push_statecache_ticket t;

    ck_assert_int_eq(push_statecache_get(c, user, &got, &t), 0);
    st = state(n);
    push_statecache_put(c, user, &st, &t);
}

static int has(struct push_statecache *c, const char *user, int64_t n)
{
    struct push_state got, want = state(n);
    struct push_statecache_ticket t;

    if (!push_statecache_get(c, user, &got, &t))
        return 0;
    /* field by field: the struct's padding is nobody's */
    ck_assert(got.head.personal == want.head.personal && got.head.broadcast == want.head.broadcast
              && got.read_version == want.read_version
              && got.content_version == want.content_version && got.last_id == want.last_id
              && got.next_expiry == want.next_expiry);
    return 1;
}

START_TEST(serves_nothing_until_listening)
{
    struct push_statecache *c = push_statecache_new(64);

    fill(c, "alice", 1);
    ck_assert(!has(c, "alice", 1));
    push_statecache_listening(c, 1);
    ck_assert(!has(c, "alice", 1)); /* stored before: refused, not kept */
    fill(c, "alice", 1);
    ck_assert(has(c, "alice", 1));
    push_statecache_free(c);
}
END_TEST

START_TEST(a_user_change_drops_only_that_user)
{
    struct push_statecache *c = push_statecache_new(4096);

    push_statecache_listening(c, 1);
    fill(c, "alice", 1);
    fill(c, "bob", 2);
    push_statecache_changed(c, "alice");
    ck_assert(!has(c, "alice", 1));
    ck_assert(has(c, "bob", 2));
    fill(c, "alice", 5);
    ck_assert(has(c, "alice", 5));
    push_statecache_free(c);
}
END_TEST

START_TEST(everyone_changed_drops_all)
{
    struct push_statecache *c = push_statecache_new(4096);

    push_statecache_listening(c, 1);
    fill(c, "alice", 1);
    fill(c, "bob", 2);
    push_statecache_listening(c, 1); /* a '*' notification, as push-poll's observer passes it */
    ck_assert(!has(c, "alice", 1));
    ck_assert(!has(c, "bob", 2));
    push_statecache_free(c);
}
END_TEST

START_TEST(losing_the_listen_connection_drops_and_refuses)
{
    struct push_statecache *c = push_statecache_new(4096);
    struct push_state got, st = state(9);
    struct push_statecache_ticket t;

    push_statecache_listening(c, 1);
    fill(c, "alice", 1);
    push_statecache_listening(c, 0);
    ck_assert(!has(c, "alice", 1));
    fill(c, "alice", 2); /* refused while down */
    ck_assert(!has(c, "alice", 2));
    /* a ticket from before the connection came back is refused after it */
    push_statecache_get(c, "bob", &got, &t);
    push_statecache_listening(c, 1);
    push_statecache_put(c, "bob", &st, &t);
    ck_assert(!has(c, "bob", 9));
    push_statecache_free(c);
}
END_TEST

START_TEST(a_change_during_the_query_is_never_hidden)
{
    struct push_statecache *c = push_statecache_new(4096);
    struct push_state got, st = state(3);
    struct push_statecache_ticket t;

    push_statecache_listening(c, 1);
    /* the user's own notification between the miss and the store */
    ck_assert_int_eq(push_statecache_get(c, "alice", &got, &t), 0);
    push_statecache_changed(c, "alice");
    push_statecache_put(c, "alice", &st, &t);
    ck_assert(!has(c, "alice", 3));
    /* a notification for everyone between the miss and the store */
    ck_assert_int_eq(push_statecache_get(c, "alice", &got, &t), 0);
    push_statecache_listening(c, 1);
    push_statecache_put(c, "alice", &st, &t);
    ck_assert(!has(c, "alice", 3));
    /* another user's notification does not matter (different slot) */
    ck_assert_int_eq(push_statecache_get(c, "alice", &got, &t), 0);
    push_statecache_changed(c, "bob");
    push_statecache_put(c, "alice", &st, &t);
    ck_assert(has(c, "alice", 3));
    push_statecache_free(c);
}
END_TEST

START_TEST(users_sharing_a_slot_never_see_each_other)
{
    struct push_statecache *c = push_statecache_new(1); /* every user in the one slot */
    struct push_state got;
    struct push_statecache_ticket t;

    push_statecache_listening(c, 1);
    fill(c, "alice", 1);
    ck_assert_int_eq(push_statecache_get(c, "bob", &got, &t), 0);
    fill(c, "bob", 2);
    ck_assert(has(c, "bob", 2));
    ck_assert(!has(c, "alice", 1));
    /* a ticket for another user's slot contents is not a way in either */
    ck_assert_int_eq(push_statecache_get(c, "alice", &got, &t), 0);
    push_statecache_changed(c, "carol");
    got = state(7);
    push_statecache_put(c, "alice", &got, &t);
    ck_assert(!has(c, "alice", 7));
    push_statecache_free(c);
}
END_TEST

START_TEST(long_names_and_counts)
{
    struct push_statecache *c = push_statecache_new(128);
    char name[PUSH_USER_MAX + 1];
    uint64_t hits, misses;

    memset(name, 'x', PUSH_USER_MAX);
    name[PUSH_USER_MAX] = '\0';
    push_statecache_listening(c, 1);
    fill(c, name, 4);
    ck_assert(has(c, name, 4));
    name[PUSH_USER_MAX - 1] = 'y'; /* differs in the last byte only */
    ck_assert(!has(c, name, 4));
    push_statecache_stats(c, &hits, &misses);
    ck_assert_uint_eq(hits, 1);
    ck_assert_uint_eq(misses, 2);
    push_statecache_free(c);
}
END_TEST

static Suite *statecache_suite(void)
{
    Suite *s = suite_create("statecache");
    TCase *tc = tcase_create("statecache");

    tcase_add_test(tc, serves_nothing_until_listening);
    tcase_add_test(tc, a_user_change_drops_only_that_user);
    tcase_add_test(tc, everyone_changed_drops_all);
    tcase_add_test(tc, losing_the_listen_connection_drops_and_refuses);
    tcase_add_test(tc, a_change_during_the_query_is_never_hidden);
    tcase_add_test(tc, users_sharing_a_slot_never_see_each_other);
    tcase_add_test(tc, long_names_and_counts);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(statecache_suite)
