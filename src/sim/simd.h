/* simd.h: PRIVATE to libsnn. Run-time dispatch of the hot loops to an
 * AVX2+FMA build where the CPU has it, portable code elsewhere.
 *
 * A kernel is written once as an always-inline NAME_body(); SIMD_VOID or
 * SIMD_RET then define NAME_fast512 (compiled for AVX-512), NAME_fast
 * (avx2,fma), NAME_plain (baseline) and NAME, which picks one by the CPU
 * flags read at start-up.
 * The binary therefore runs on any x86-64 and uses FMA where it exists
 * (GCC's target_clones cannot name FMA portably).
 */
#ifndef SNN_SIMD_H
#define SNN_SIMD_H

#define SIMD_INLINE static inline __attribute__((always_inline))

#if defined(__GNUC__) && defined(__x86_64__)
#define SIMD_FAST_TARGET __attribute__((target("avx2,fma")))
#define SIMD_512_TARGET                                                         \
    __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")))
/* 0: baseline x86-64; 1: AVX2+FMA; 2: AVX-512 (F, VL, BW, DQ) as well.
 * Set once at start-up from the CPU flags (kernels.c); tests lower it to
 * compare the tiers. */
extern int snn_simd_fast;
#define SIMD_VOID(name, params, args)                                            \
    SIMD_512_TARGET static void name##_fast512 params { name##_body args; }      \
    SIMD_FAST_TARGET static void name##_fast params { name##_body args; }        \
    static void name##_plain params { name##_body args; }                        \
    static void name params                                                      \
    {                                                                            \
        if (snn_simd_fast >= 2) name##_fast512 args;                             \
        else if (snn_simd_fast) name##_fast args;                                \
        else name##_plain args;                                                  \
    }
#define SIMD_RET(ret, name, params, args)                                        \
    SIMD_512_TARGET static ret name##_fast512 params { return name##_body args; } \
    SIMD_FAST_TARGET static ret name##_fast params { return name##_body args; }  \
    static ret name##_plain params { return name##_body args; }                  \
    static ret name params                                                       \
    {                                                                            \
        return snn_simd_fast >= 2 ? name##_fast512 args                          \
               : snn_simd_fast    ? name##_fast args                             \
                                  : name##_plain args;                           \
    }
/* As SIMD_VOID for a body whose last parameter is its vector width in
 * floats (a compile-time constant in each variant): 16 on AVX-512, 8 on
 * the others. */
#define SIMD_VOID_LANES(name, params, ...)                                       \
    SIMD_512_TARGET static void name##_fast512 params { name##_body(__VA_ARGS__, 16); } \
    SIMD_FAST_TARGET static void name##_fast params { name##_body(__VA_ARGS__, 8); }   \
    static void name##_plain params { name##_body(__VA_ARGS__, 8); }             \
    static void name params                                                      \
    {                                                                            \
        if (snn_simd_fast >= 2) name##_fast512(__VA_ARGS__);                     \
        else if (snn_simd_fast) name##_fast(__VA_ARGS__);                        \
        else name##_plain(__VA_ARGS__);                                          \
    }
#else
#define SIMD_VOID(name, params, args)                                            \
    static void name params { name##_body args; }
#define SIMD_RET(ret, name, params, args)                                        \
    static ret name params { return name##_body args; }
#define SIMD_VOID_LANES(name, params, ...)                                       \
    static void name params { name##_body(__VA_ARGS__, 8); }
#endif

#endif
