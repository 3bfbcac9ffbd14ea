/* test.h: the tiny test harness shared by unit and integration suites.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_NEAR(a, b, 1e-6); ... }
 *
 * Tests register themselves; the runner (tests/test_main.c) runs those whose
 * name contains argv[1] (all without argument), prints PASS/FAIL per test
 * and closes with "N passed, N failed". A failed CHECK records the failure
 * and returns from the test.
 */
#ifndef SNN_TEST_H
#define SNN_TEST_H

#include <math.h>
#include <stdio.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn, const char *file);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int test_failed(void);
/* Absolute path of a file under tests/data (or the repo root when
 * `rel` starts with "../" or "models/"). Static buffer per call slot. */
const char *test_path(const char *rel);
/* The shared datasets folder (../shared/datasets relative to the repo, or
 * $SNN_SHARED/datasets); NULL when absent. */
const char *test_shared(const char *rel);
void test_skip(const char *why);

#define TEST(name)                                                        \
    static void name(void);                                               \
    __attribute__((constructor)) static void name##_register(void)        \
    {                                                                     \
        test_register(#name, name, __FILE__);                             \
    }                                                                     \
    static void name(void)

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);            \
            return;                                                       \
        }                                                                 \
    } while (0)

#define CHECK_MSG(cond, ...)                                              \
    do {                                                                  \
        if (!(cond)) {                                                    \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                   \
            return;                                                       \
        }                                                                 \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                \
    do {                                                                  \
        long long a_ = (long long)(a), b_ = (long long)(b);               \
        if (a_ != b_) {                                                   \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a,   \
                      #b, a_, b_);                                        \
            return;                                                       \
        }                                                                 \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                             \
    do {                                                                  \
        double a_ = (double)(a), b_ = (double)(b);                        \
        if (!(fabs(a_ - b_) <= (tol))) {                                  \
            test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)", \
                      #a, #b, a_, b_, (double)(tol));                     \
            return;                                                       \
        }                                                                 \
    } while (0)

#define CHECK_OK(expr)                                                    \
    do {                                                                  \
        int rc_ = (int)(expr);                                            \
        if (rc_ != 0) {                                                   \
            test_fail(__FILE__, __LINE__, "%s returned %d", #expr, rc_);  \
            return;                                                       \
        }                                                                 \
    } while (0)

#endif
