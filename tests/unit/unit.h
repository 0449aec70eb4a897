/* unit.h: the main() every Check unit test program shares: run one suite, exit non-zero on failure */
#ifndef PUSH_UNIT_H
#define PUSH_UNIT_H

#include <stdlib.h>

#include <check.h>

#define UNIT_MAIN(suite_fn)                                                   \
    int main(void)                                                            \
    {                                                                         \
        SRunner *sr = srunner_create(suite_fn());                             \
        int failed;                                                           \
        srunner_run_all(sr, CK_NORMAL);                                       \
        failed = srunner_ntests_failed(sr);                                   \
        srunner_free(sr);                                                     \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                     \
    }

#endif
