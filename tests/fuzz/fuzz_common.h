/* fuzz_common.h: shared helpers of the libFuzzer targets in tests/fuzz/.
 *
 * The targets are built by tests/fuzz/fuzz.mk (`make fuzz`) with clang
 * -fsanitize=fuzzer,address,undefined; every target is one file with
 * LLVMFuzzerTestOneInput, and the ones that reach the daemon's parsers link
 * the server objects except main.c (fuzz_srv.h supplies what main.c defines).
 * SNN_ROOT (a compile-time string, overridable by the environment variable
 * of the same name) locates the repository's models and fixtures.
 */
#ifndef SNN_FUZZ_COMMON_H
#define SNN_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SNN_ROOT
#define SNN_ROOT "."
#endif

/* Absolute path of a repository file (static buffer). */
static inline const char *fz_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("SNN_ROOT");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : SNN_ROOT, rel);
    return buf;
}

/* A NUL-terminated copy of the input (parsers that take C strings). */
static inline char *fz_strndup(const unsigned char *d, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, d, n);
    s[n] = '\0';
    return s;
}

#endif
