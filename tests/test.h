/*
 * A minimal test harness: CHECK-style macros that count and report
 * failures without stopping, and a summary line CTest logs.
 */
#ifndef IA_TEST_H
#define IA_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_failures, test_checks;

#define CHECK(cond)                                                        \
    do {                                                                   \
        test_checks++;                                                     \
        if (!(cond)) {                                                     \
            test_failures++;                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
        }                                                                  \
    } while (0)

#define CHECK_MSG(cond, ...)                                               \
    do {                                                                   \
        test_checks++;                                                     \
        if (!(cond)) {                                                     \
            test_failures++;                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__,         \
                    __LINE__, #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

#define CHECK_OK(expr)                                                     \
    do {                                                                   \
        int st_ = (expr);                                                  \
        CHECK_MSG(st_ == 0, "%s -> %d (%s)", #expr, st_, ia_errmsg());     \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                    \
    CHECK_MSG(strstr((hay), (needle)) != NULL, "\"%s\" lacks \"%s\"",      \
              (hay), (needle))

static inline int test_summary(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

#endif
