/*
 * A small unit-test harness: CHECK records a failure and goes on, REQUIRE stops the test
 * function. main() calls RUN(fn) for each test and returns TEST_SUMMARY().
 */
#ifndef HUB_TEST_H
#define HUB_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures_;
static int test_checks_;
static const char *test_current_;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks_++;                                                                            \
        if (!(cond)) {                                                                             \
            test_failures_++;                                                                      \
            fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__, test_current_,    \
                    #cond);                                                                        \
        }                                                                                          \
    } while (0)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        test_checks_++;                                                                            \
        if (!(cond)) {                                                                             \
            test_failures_++;                                                                      \
            fprintf(stderr, "%s:%d: %s: REQUIRE failed: %s\n", __FILE__, __LINE__, test_current_,  \
                    #cond);                                                                        \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        test_checks_++;                                                                            \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                     \
            test_failures_++;                                                                      \
            fprintf(stderr, "%s:%d: %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, test_current_,    \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                       \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        test_current_ = #fn;                                                                       \
        fn();                                                                                      \
    } while (0)

#define TEST_SUMMARY()                                                                             \
    (fprintf(stderr, "%d checks, %d failed\n", test_checks_, test_failures_),                      \
     test_failures_ == 0 && test_checks_ > 0 ? 0 : 1)

/* A fresh empty directory under $HUB_TEST_TMP (or /tmp) for store tests; static buffer.
 * The directories of a run are removed at exit when every check passed (kept to look at
 * otherwise). */
#include <unistd.h>
static const char *test_tmp_base(void)
{
    const char *base = getenv("HUB_TEST_TMP");
    return base != NULL ? base : "/tmp";
}

static void test_tmp_cleanup(void)
{
    char cmd[700];
    if (test_failures_ != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%.600s'/*.%d", test_tmp_base(), (int)getpid());
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove the test directories\n");
}

static inline const char *test_tmpdir(const char *name)
{
    static char path[512];
    static int registered;
    char cmd[1200];
    if (!registered) {
        registered = 1;
        atexit(test_tmp_cleanup);
    }
    snprintf(path, sizeof(path), "%s/%s.%d", test_tmp_base(), name, (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", path, path);
    if (system(cmd) != 0)
        abort();
    return path;
}

#endif
