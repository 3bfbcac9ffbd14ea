/* test_main.c: runner for the TEST() harness (see tests/test.h). */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__SANITIZE_THREAD__)
#include "snn/engine.h" /* snn_blas_threads */
#endif

#define MAX_TESTS 1024

static struct {
    const char *name;
    const char *file;
    test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static int cur_failed, cur_skipped;
static char cur_skip_why[256];

void test_register(const char *name, test_fn fn, const char *file)
{
    if (ntests < MAX_TESTS) {
        tests[ntests].name = name;
        tests[ntests].fn = fn;
        tests[ntests].file = file;
        ntests++;
    }
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    if (!cur_failed) fprintf(stdout, "  %s:%d: ", file, line);
    else fprintf(stdout, "  also %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    cur_failed = 1;
}

int test_failed(void) { return cur_failed; }

void test_skip(const char *why)
{
    cur_skipped = 1;
    snprintf(cur_skip_why, sizeof cur_skip_why, "%s", why);
}

static char root[1024];

static void find_root(void)
{
    /* The repo root is where tests/test.h lives: the cwd or $SNN_ROOT. */
    const char *env = getenv("SNN_ROOT");
    if (env) snprintf(root, sizeof root, "%s", env);
    else if (!getcwd(root, sizeof root)) strcpy(root, ".");
}

const char *test_path(const char *rel)
{
    static char buf[8][1200];
    static int slot;
    char *b = buf[slot++ & 7];
    if (strncmp(rel, "../", 3) == 0 || strncmp(rel, "models/", 7) == 0 ||
        strncmp(rel, "config/", 7) == 0 || strncmp(rel, "build", 5) == 0)
        snprintf(b, 1200, "%s/%s", root, rel);
    else
        snprintf(b, 1200, "%s/tests/data/%s", root, rel);
    return b;
}

const char *test_shared(const char *rel)
{
    static char buf[4][1200];
    static int slot;
    char *b = buf[slot++ & 3];
    const char *env = getenv("SNN_SHARED");
    if (env) snprintf(b, 1200, "%s/datasets/%s", env, rel);
    else snprintf(b, 1200, "%s/../shared/datasets/%s", root, rel);
    return access(b, R_OK) == 0 ? b : NULL;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    find_root();
    setvbuf(stdout, NULL, _IOLBF, 0);
#if defined(__SANITIZE_THREAD__)
    /* OpenBLAS is not built with TSan: the synchronisation of its worker
     * threads is invisible to it, so a multi-threaded GEMM reads as a race
     * on its output. The engine's own threads (src/sim/team.c) stay
     * checked; snnctl and the daemon's workers run BLAS on one thread too. */
    snn_blas_threads(1);
#endif
    for (int i = 0; i < ntests; i++) {
        struct timespec t0, t1;
        if (argc > 1 && !strstr(tests[i].name, argv[1]) &&
            !strstr(tests[i].file, argv[1]))
            continue;
        cur_failed = 0;
        cur_skipped = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (cur_failed) {
            printf("FAIL %s (%.0f ms)\n", tests[i].name, ms);
            failed++;
        } else if (cur_skipped) {
            printf("SKIP %s: %s\n", tests[i].name, cur_skip_why);
            skipped++;
        } else {
            printf("PASS %s (%.0f ms)\n", tests[i].name, ms);
            passed++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
