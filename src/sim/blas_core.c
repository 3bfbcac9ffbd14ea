/* blas_core.c: which kernels the process computes with (the CPU tier of
 * the event-driven kernels, OpenBLAS's core), and OpenBLAS's core choice.
 *
 * OpenBLAS (Debian's build is DYNAMIC_ARCH) picks its kernels from the CPU
 * model when it is loaded. A model it does not know gets generic kernels:
 * 0.3.21 on Intel family 6 model 0xCF (Emerald Rapids, this project's
 * machines) falls back to Prescott (SSE3), whose SGEMM is 3-4x slower
 * than the AVX-512 kernels the CPU supports. OPENBLAS_CORETYPE overrides
 * the choice, but OpenBLAS reads it in its initialiser, before main(), and
 * glibc's own start-up resets the environment after an executable's
 * preinit hooks; so snn_blas_core_fix(), called first in main(), re-runs
 * the program once with the variable set when (and only when) OpenBLAS
 * chose a core without AVX2 on a CPU that has it. The core is named by the
 * instruction sets the CPU reports (AVX-512 F, BW, DQ, VL: SkylakeX; AVX2
 * and FMA: Haswell), as OpenBLAS maps the models it knows. A value already
 * in the environment is kept; SNN_BLAS_CORE=keep disables the fix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snn/engine.h"

char *openblas_get_corename(void);

/* the cores OpenBLAS 0.3.21 may fall back to that lack AVX2 */
static const char *const generic_cores[] = {"Prescott", "Core2",  "Penryn",      "Dunnington",
                                            "Nehalem",  "Atom",   "Katmai",      "Coppermine",
                                            "Northwood", "Banias", "Sandybridge", NULL};

const char *snn_blas_core_wanted(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    const char *now = openblas_get_corename();
    int generic = 0;
    for (int i = 0; generic_cores[i]; i++) generic |= now && !strcmp(now, generic_cores[i]);
    if (!generic) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

void snn_blas_core_fix(char **argv)
{
    const char *mode = getenv("SNN_BLAS_CORE");
    if (getenv("OPENBLAS_CORETYPE") || (mode && !strcmp(mode, "keep"))) return;
    const char *core = snn_blas_core_wanted();
    if (!core || setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: carry on with the generic kernels */
}

extern int snn_simd_fast;

const char *snn_kernels_describe(void)
{
    static char buf[96];
#if defined(__GNUC__) && defined(__x86_64__)
    const char *tier = snn_simd_fast >= 2 ? "avx512" : snn_simd_fast ? "avx2" : "plain";
#else
    const char *tier = "plain";
#endif
    snprintf(buf, sizeof buf, "simd %s, openblas %s", tier, openblas_get_corename());
    return buf;
}
