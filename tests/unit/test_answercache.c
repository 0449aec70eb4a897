/* test_answercache.c: unit tests for lib/store/push_answercache: an answer is served to its own user's identical request at its own state only */
#include "config.h"

#include "unit.h"

#include "core/push_user.h"
#include "core/push_util.h"
#include "store/push_answercache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct push_state state(int64_t n)
{
    struct push_state st = { { n, n + 1 }, n + 2, n + 3, n + 4, -1 };
    return st;
}

/* the answer kept for (user, key) at state n, or NULL (allocated) */
static char *got(struct push_answercache *c, const char *user, const char *key, int64_t n)
{
    struct push_state st = state(n);
    char *body = NULL;
    size_t len = 0;

    if (!push_answercache_get(c, user, key, &st, &body, &len))
        return NULL;
    ck_assert_uint_eq(len, strlen(body));
    return body;
}

static void put(struct push_answercache *c, const char *user, const char *key, int64_t n,
                const char *body)
{
    struct push_state st = state(n);

    push_answercache_put(c, user, key, &st, body, strlen(body));
}

#define ASSERT_GOT(c, user, key, n, want)                                                          \
    do {                                                                                           \
        char *b_ = got(c, user, key, n);                                                           \
        ck_assert_ptr_nonnull(b_);                                                                 \
        ck_assert_str_eq(b_, want);                                                                \
        free(b_);                                                                                  \
    } while (0)

START_TEST(served_at_its_state_only)
{
    struct push_answercache *c = push_answercache_new(64);
    struct push_state st = state(5);

    ck_assert_ptr_null(got(c, "alice", "50|", 5));
    put(c, "alice", "50|", 5, "{\"a\":5}");
    ASSERT_GOT(c, "alice", "50|", 5, "{\"a\":5}");
    ck_assert_ptr_null(got(c, "alice", "50|", 6)); /* the state moved: not served */
    ck_assert_ptr_null(got(c, "alice", "20|", 5)); /* another request */
    ck_assert_ptr_null(got(c, "bob", "50|", 5));   /* another user */
    /* each part of the state counts (last_id does not: it only bounds cursors) */
    for (int part = 0; part < 5; part++) {
        struct push_state o = st;
        char *body = NULL;
        size_t len;
        switch (part) {
        case 0: o.head.personal++; break;
        case 1: o.head.broadcast++; break;
        case 2: o.read_version++; break;
        case 3: o.content_version++; break;
        case 4: o.last_id++; break;
        }
        ck_assert_int_eq(push_answercache_get(c, "alice", "50|", &o, &body, &len), part == 4);
        free(body);
    }
    put(c, "alice", "50|", 6, "{\"a\":6}"); /* a newer answer replaces */
    ck_assert_ptr_null(got(c, "alice", "50|", 5));
    ASSERT_GOT(c, "alice", "50|", 6, "{\"a\":6}");
    push_answercache_free(c);
}
END_TEST

START_TEST(users_sharing_a_slot_never_see_each_other)
{
    struct push_answercache *c = push_answercache_new(1); /* one slot: everyone collides */

    put(c, "alice", "50|", 1, "alice's");
    ck_assert_ptr_null(got(c, "bob", "50|", 1));
    put(c, "bob", "50|", 1, "bob's");
    ck_assert_ptr_null(got(c, "alice", "50|", 1));
    ASSERT_GOT(c, "bob", "50|", 1, "bob's");
    /* names that differ past a prefix, or by case */
    put(c, "ali", "50|", 1, "ali's");
    ck_assert_ptr_null(got(c, "alice", "50|", 1));
    ck_assert_ptr_null(got(c, "Ali", "50|", 1));
    ck_assert_ptr_null(got(c, "al", "50|", 1));
    push_answercache_free(c);
}
END_TEST

START_TEST(bounds)
{
    struct push_answercache *c = push_answercache_new(16);
    char *big = xmalloc(PUSH_ANSWER_MAX + 2), name[PUSH_USER_MAX + 2], key[400];

    memset(big, 'x', PUSH_ANSWER_MAX + 1);
    big[PUSH_ANSWER_MAX + 1] = '\0';
    put(c, "alice", "50|", 1, big); /* one byte too many: not kept */
    ck_assert_ptr_null(got(c, "alice", "50|", 1));
    big[PUSH_ANSWER_MAX] = '\0'; /* the largest kept */
    put(c, "alice", "50|", 1, big);
    ASSERT_GOT(c, "alice", "50|", 1, big);
    memset(name, 'n', PUSH_USER_MAX);
    name[PUSH_USER_MAX] = '\0';
    put(c, name, "50|", 1, "long name");
    ASSERT_GOT(c, name, "50|", 1, "long name");
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    put(c, "carol", key, 1, "long key"); /* a key past the bound: not kept */
    ck_assert_ptr_null(got(c, "carol", key, 1));
    unsigned long hits, misses;
    push_answercache_stats(c, &hits, &misses);
    ck_assert_uint_eq(hits, 2);
    ck_assert_uint_eq(misses, 2);
    free(big);
    push_answercache_free(c);
}
END_TEST

static Suite *answercache_suite(void)
{
    Suite *s = suite_create("answercache");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, served_at_its_state_only);
    tcase_add_test(tc, users_sharing_a_slot_never_see_each_other);
    tcase_add_test(tc, bounds);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(answercache_suite)
