/* it.h: the IT_TEST() wrapper of the integration suites: each test gets a
 * fresh repository and daemon, started with the given extra flags, and the
 * daemon is stopped and the repository removed whatever the checks did. */
#ifndef SNND_IT_H
#define SNND_IT_H

#include "../test.h"
#include "harness.h"

#define IT_TEST(name, flags, ...)                                             \
    static void name##_body(snnd_proc *d);                                   \
    TEST(name)                                                               \
    {                                                                        \
        snnd_proc d_;                                                        \
        const char *args_[] = {__VA_ARGS__};  /* NULL-terminated */ \
        if (it_repo(&d_, flags)) {                                            \
            test_skip("no test model (tests/data/tiny or models/fashion-mnist)"); \
            return;                                                          \
        }                                                                    \
        if (it_start(&d_, args_, 60)) {                                      \
            test_fail(__FILE__, __LINE__, "snnd did not become ready");      \
            it_cleanup(&d_);                                                 \
            return;                                                          \
        }                                                                    \
        name##_body(&d_);                                                    \
        it_cleanup(&d_);                                                     \
    }                                                                        \
    static void name##_body(snnd_proc *d)

/* GET/POST shorthands that CHECK the transport worked. */
#define HTTP(d, method, path, ctype, body, len, hdrs, resp)                  \
    CHECK_MSG(it_http(d, method, path, ctype, body, len, hdrs, resp) == 0,   \
              "HTTP %s %s failed at transport level", method, path)

#endif
