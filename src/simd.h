/* simd.h: PRIVATE to libsnn. Run-time dispatch of the hot loops to an
 * AVX2+FMA build where the CPU has it, portable code elsewhere.
 *
 * A kernel is written once as an always-inline NAME_body(); SIMD_VOID or
 * SIMD_RET then define NAME_fast (compiled for avx2,fma), NAME_plain
 * (baseline) and NAME, which picks one by the CPU flags read at start-up.
 * The binary therefore runs on any x86-64 and uses FMA where it exists
 * (GCC's target_clones cannot name FMA portably).
 */
#ifndef SNN_SIMD_H
#define SNN_SIMD_H

#define SIMD_INLINE static inline __attribute__((always_inline))

#if defined(__GNUC__) && defined(__x86_64__)
#define SIMD_FAST_TARGET __attribute__((target("avx2,fma")))
extern int snn_simd_fast;
#define SIMD_VOID(name, params, args)                                            \
    SIMD_FAST_TARGET static void name##_fast params { name##_body args; }        \
    static void name##_plain params { name##_body args; }                        \
    static void name params                                                      \
    {                                                                            \
        if (snn_simd_fast) name##_fast args;                                     \
        else name##_plain args;                                                  \
    }
#define SIMD_RET(ret, name, params, args)                                        \
    SIMD_FAST_TARGET static ret name##_fast params { return name##_body args; }  \
    static ret name##_plain params { return name##_body args; }                  \
    static ret name params { return snn_simd_fast ? name##_fast args : name##_plain args; }
#else
#define SIMD_VOID(name, params, args)                                            \
    static void name params { name##_body args; }
#define SIMD_RET(ret, name, params, args)                                        \
    static ret name params { return name##_body args; }
#endif

#endif
