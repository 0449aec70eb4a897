/* test_config.c: unit tests for lib/push_config (placeholder) */
#include "config.h"
#include "unit.h"
START_TEST(placeholder) { ck_assert_int_eq(1, 1); }
END_TEST
static Suite *suite(void) { Suite *s = suite_create("config"); TCase *tc = tcase_create("core"); tcase_add_test(tc, placeholder); suite_add_tcase(s, tc); return s; }
UNIT_MAIN(suite)
