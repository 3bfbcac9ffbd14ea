/* kernels.c: the ops of a planned network (see net_internal.h): scalar
 * reference versions, and fast versions that use OpenBLAS (or, for grouped
 * and depthwise convolution, direct vector loops) for dense inputs and
 * event-driven gather/scatter for sparse ones (spike frames are mostly zero
 * past the first layers: work proportional to spikes, not neurons). Joins
 * (sum, concat at channel offsets) and the max-pool gate are plain loops
 * over the frames.
 *
 * DESIGN: the fast path decides per frame (conv) or per chunk (dense) by
 * the share of non-zero inputs (a 2x2 average pool that only a conv reads
 * is fused into the conv's event listing: kop_apply_pool_conv). A sparse
 * conv frame is listed as events;
 * a very sparse one is scattered (each event adds its weight rows to the
 * kh*kw outputs it reaches), a moderately sparse one gathered per output
 * position (kh*kw*cout multiply-adds per event, accumulated in registers);
 * both give the same floats. A grouped conv gathers each event into its
 * group's output channels only (cout/group multiply-adds per event and
 * kernel tap); a sparse dense frame scatters one weight row per non-zero
 * input; a dense frame goes to the GEMM (grouped: direct loops, vectorised
 * over channels for depthwise). Every fast kernel has its scalar twin
 * (kop_apply_ref, maxpool_gate_ref); joins are one plain loop each, shared
 * by both paths. gather_ratio(), CONV_SCATTER_EVENTS and SCATTER_RATIO are
 * the break-even densities, measured on the shipped models
 * (`snnctl eval --kernels adaptive|dense|gather|scatter`, CPU time).
 * The hot loops exist for three CPU tiers (simd.h): baseline, AVX2+FMA,
 * AVX-512 (the event list packed by compress instructions).
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#pragma GCC optimize("fp-contract=fast")
#endif
#include <cblas.h>
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../convert/net_internal.h"

#define SCATTER_RATIO 0.20
/* conv: the scatter beats the gather below a density of CONV_SCATTER_EVENTS
 * / output channels (the gather's cost per output position and tap is
 * shared by its channels; the scatter's per event grows with them) */
#define CONV_SCATTER_EVENTS 2.0

static int force_mode; /* snn_kernel_mode: 0 adaptive, 1 dense, 2 scatter, 3 gather */

void snn_kernels_set(snn_kernel_mode mode) { force_mode = (int)mode; }

#include "simd.h"

#if defined(__GNUC__) && defined(__x86_64__)
int snn_simd_fast;
__attribute__((constructor)) static void simd_init(void)
{
    __builtin_cpu_init();
    snn_simd_fast = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (snn_simd_fast && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        snn_simd_fast = 2;
    /* SNN_SIMD=plain|avx2 caps the tier (A/B measurements of the kernels) */
    const char *cap = getenv("SNN_SIMD");
    if (cap && !strcmp(cap, "plain")) snn_simd_fast = 0;
    else if (cap && !strcmp(cap, "avx2") && snn_simd_fast > 1) snn_simd_fast = 1;
}
#endif

/* conv: the gather beats the GEMM below this density; it falls as the
 * GEMM gets wider vectors (src/sim/blas_core.c gives OpenBLAS the kernels of
 * the CPU's tier). Measured as the time of kop_apply_fast forced to
 * gather and to dense (snn_kernels_set) on random spike frames of the
 * shipped models' 3x3 shapes (32..128 channels, 8x8..32x32), one thread:
 * break-even 0.28-0.40 with AVX-512 (OpenBLAS SkylakeX), 0.40-0.55 with
 * AVX2 (Haswell); 0.60 was measured with OpenBLAS's SSE3 fallback. */
static double gather_ratio(void)
{
    return snn_simd_fast >= 2 ? 0.35 : snn_simd_fast ? 0.45 : 0.60;
}

SIMD_INLINE int64_t count_nonzero_body(const float *x, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += x[i] != 0.0f;
    return c;
}
SIMD_RET(int64_t, count_nonzero, (const float *x, int64_t n), (x, n))

/* ---- reference (scalar, direct) ---- */

static void conv_ref(const kop *op, const float *in, float *out, int with_bias)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    const int Ho = op->out.h, Wo = op->out.w, Co = op->out.c;
    const int Cg = C / op->group, Mg = Co / op->group;
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++)
            for (int co = 0; co < Co; co++) {
                const int c0 = co / Mg * Cg;
                double acc = with_bias && op->b ? op->b[co] : 0.0;
                for (int ky = 0; ky < op->kh; ky++) {
                    int iy = oy * op->sh - op->pt + ky * op->dh;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < op->kw; kx++) {
                        int ix = ox * op->sw - op->pl + kx * op->dw;
                        if (ix < 0 || ix >= W) continue;
                        const float *x = in + ((size_t)iy * W + ix) * C + c0;
                        const float *w = op->w + (((size_t)ky * op->kw + kx) * Cg) * Co + co;
                        for (int ci = 0; ci < Cg; ci++) acc += (double)x[ci] * w[(size_t)ci * Co];
                    }
                }
                out[((size_t)oy * Wo + ox) * Co + co] = (float)acc;
            }
}

/* The common 2x2, stride 2, unpadded case: four rows of C channels. */
SIMD_INLINE void avgpool2_body(const float *restrict in, float *restrict out, int W, int C,
                               int Ho, int Wo)
{
    for (int oy = 0; oy < Ho; oy++) {
        const float *r0 = in + (size_t)(2 * oy) * W * C, *r1 = r0 + (size_t)W * C;
        float *o = out + (size_t)oy * Wo * C;
        for (int ox = 0; ox < Wo; ox++) {
            const float *a = r0 + (size_t)2 * ox * C, *b = r1 + (size_t)2 * ox * C;
            for (int c = 0; c < C; c++)
                o[(size_t)ox * C + c] = 0.25f * ((a[c] + a[C + c]) + (b[c] + b[C + c]));
        }
    }
}
SIMD_VOID(avgpool2, (const float *restrict in, float *restrict out, int W, int C, int Ho, int Wo),
          (in, out, W, C, Ho, Wo))

static void avgpool(const kop *op, const float *in, float *out)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    const int Ho = op->out.h, Wo = op->out.w;
    if (op->kh == 2 && op->kw == 2 && op->sh == 2 && op->sw == 2 && !op->pt && !op->pl &&
        2 * Ho <= H && 2 * Wo <= W) {
        avgpool2(in, out, W, C, Ho, Wo);
        return;
    }
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            float *o = out + ((size_t)oy * Wo + ox) * C;
            int y0 = oy * op->sh - op->pt, x0 = ox * op->sw - op->pl;
            int y1 = y0 + op->kh, x1 = x0 + op->kw;
            int cnt;
            if (op->count_include_pad) {
                /* ONNX counts padded cells but not cells beyond the pads (ceil_mode) */
                int yc1 = y1 < H + op->pb ? y1 : H + op->pb, xc1 = x1 < W + op->pr ? x1 : W + op->pr;
                cnt = (yc1 - y0) * (xc1 - x0);
            } else {
                int yy0 = y0 < 0 ? 0 : y0, xx0 = x0 < 0 ? 0 : x0;
                int yy1 = y1 > H ? H : y1, xx1 = x1 > W ? W : x1;
                cnt = (yy1 - yy0) * (xx1 - xx0);
            }
            for (int c = 0; c < C; c++) o[c] = 0;
            for (int y = y0 < 0 ? 0 : y0; y < y1 && y < H; y++)
                for (int x = x0 < 0 ? 0 : x0; x < x1 && x < W; x++) {
                    const float *p = in + ((size_t)y * W + x) * C;
                    for (int c = 0; c < C; c++) o[c] += p[c];
                }
            float inv = cnt > 0 ? 1.0f / (float)cnt : 0.0f;
            for (int c = 0; c < C; c++) o[c] *= inv;
        }
}

/* Max over each window, padding ignored (ONNX MaxPool). With offsets
 * (op->w: the stage's offset at the input, op->b: at the output, see
 * net_internal.h) the max is taken of input + offset, less the output's. */
static void maxpool(const kop *op, const float *in, float *out, int with_offsets)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    const int Ho = op->out.h, Wo = op->out.w;
    const float *oi = with_offsets ? op->w : NULL;
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            float *o = out + ((size_t)oy * Wo + ox) * C;
            int y0 = oy * op->sh - op->pt, x0 = ox * op->sw - op->pl;
            int y1 = y0 + op->kh, x1 = x0 + op->kw;
            for (int c = 0; c < C; c++) o[c] = -INFINITY;
            for (int y = y0 < 0 ? 0 : y0; y < y1 && y < H; y++)
                for (int x = x0 < 0 ? 0 : x0; x < x1 && x < W; x++) {
                    const size_t p = ((size_t)y * W + x) * C;
                    for (int c = 0; c < C; c++) {
                        float v = in[p + c] + (oi ? oi[p + c] : 0.0f);
                        o[c] = v > o[c] ? v : o[c];
                    }
                }
            if (oi)
                for (int c = 0; c < C; c++) o[c] -= op->b[((size_t)oy * Wo + ox) * C + c];
        }
}

static void pad(const kop *op, const float *in, float *out)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c, Wo = op->out.w;
    memset(out, 0, sizeof(float) * (size_t)kshape_size(&op->out));
    for (int y = 0; y < H; y++)
        memcpy(out + (((size_t)(y + op->pt) * Wo) + op->pl) * C, in + (size_t)y * W * C,
               sizeof(float) * (size_t)W * C);
}

static void chaffine(const kop *op, const float *in, float *out, int with_bias)
{
    const int64_t n = kshape_size(&op->in);
    const int C = op->in.c;
    for (int64_t i = 0; i < n; i++) {
        int c = op->in.spatial ? (int)(i % C) : (int)i;
        out[i] = in[i] * op->w[c] + (with_bias && op->b ? op->b[c] : 0.0f);
    }
}

static void dense_ref(const kop *op, const float *in, float *out, int with_bias)
{
    const int N = (int)kshape_size(&op->in), M = op->out.c;
    for (int j = 0; j < M; j++) {
        double acc = with_bias && op->b ? op->b[j] : 0.0;
        for (int i = 0; i < N; i++) acc += (double)in[i] * op->w[(size_t)i * M + j];
        out[j] = (float)acc;
    }
}

/* Sum of the operands, in operand order (the first two in one pass). */
static void add_frames(const kop *op, const float *const *in, float *out, int nframes)
{
    const int64_t n = kshape_size(&op->out) * nframes;
    if (op->nin < 2) {
        memcpy(out, in[0], sizeof(float) * (size_t)n);
        return;
    }
    const float *a = in[0], *b = in[1];
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
    for (int k = 2; k < op->nin; k++) {
        const float *x = in[k];
        for (int64_t i = 0; i < n; i++) out[i] += x[i];
    }
}

/* Each operand's channels at its offset (flat frames: a block of elements). */
static void concat_frames(const kop *op, const float *const *in, float *out, int nframes)
{
    const int64_t P = (int64_t)op->out.h * op->out.w * nframes;
    const int Co = op->out.c;
    for (int k = 0; k < op->nin; k++) {
        const int ck = op->cin[k];
        for (int64_t p = 0; p < P; p++)
            memcpy(out + p * Co + op->coff[k], in[k] + p * ck, sizeof(float) * (size_t)ck);
    }
}

void kop_apply_ref(const kop *op, const float *const *in, float *out, int with_bias)
{
    switch (op->kind) {
    case KOP_CONV: conv_ref(op, in[0], out, with_bias); break;
    case KOP_AVGPOOL: avgpool(op, in[0], out); break;
    case KOP_MAXPOOL: maxpool(op, in[0], out, !with_bias && op->w); break;
    case KOP_PAD: pad(op, in[0], out); break;
    case KOP_DENSE: dense_ref(op, in[0], out, with_bias); break;
    case KOP_CHAFFINE: chaffine(op, in[0], out, with_bias); break;
    case KOP_ADD: add_frames(op, in, out, 1); break;
    case KOP_CONCAT: concat_frames(op, in, out, 1); break;
    }
}

/* The gate: per window and channel, the leader (the element with the
 * largest accumulated input so far) passes its current input; the leader
 * changes only when another element's accumulated input exceeds it
 * (strictly), so equal rates never flip it back and forth and, for spike
 * inputs, the output counts exactly the spikes of the most active input.
 * The state: acc [in size] accumulated input, then lead [out size] the
 * leader's input index + 1 (0 = none yet), kept as floats. */
SIMD_INLINE void maxpool_gate_body(const kop *op, const float *restrict in, float *restrict out,
                                   float *restrict acc)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    const int Ho = op->out.h, Wo = op->out.w;
    const int64_t n = kshape_size(&op->in);
    const float *oi = op->w;
    float *restrict lead = acc + n;
    if (oi)
        for (int64_t i = 0; i < n; i++) acc[i] += in[i] + oi[i];
    else
        for (int64_t i = 0; i < n; i++) acc[i] += in[i];
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            const size_t q = ((size_t)oy * Wo + ox) * C;
            float *o = out + q, *ld = lead + q; /* o holds the best acc while scanning */
            int y0 = oy * op->sh - op->pt, x0 = ox * op->sw - op->pl;
            int y1 = y0 + op->kh, x1 = x0 + op->kw;
            for (int c = 0; c < C; c++) o[c] = ld[c] > 0.0f ? acc[(int64_t)ld[c] - 1] : -INFINITY;
            for (int y = y0 < 0 ? 0 : y0; y < y1 && y < H; y++)
                for (int x = x0 < 0 ? 0 : x0; x < x1 && x < W; x++) {
                    const size_t p = ((size_t)y * W + x) * C;
                    const float *a = acc + p;
                    for (int c = 0; c < C; c++) {
                        int take = a[c] > o[c];
                        o[c] = take ? a[c] : o[c];
                        ld[c] = take ? (float)(p + c + 1) : ld[c];
                    }
                }
            for (int c = 0; c < C; c++) {
                int64_t i = (int64_t)ld[c] - 1;
                o[c] = oi ? in[i] + oi[i] - op->b[q + c] : in[i];
            }
        }
}
SIMD_VOID(maxpool_gate, (const kop *op, const float *restrict in, float *restrict out,
                         float *restrict acc), (op, in, out, acc))

/* The reference twin: channel by channel, window by window. */
static void maxpool_gate_ref(const kop *op, const float *in, float *out, float *acc)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    const int Ho = op->out.h, Wo = op->out.w;
    const int64_t n = kshape_size(&op->in);
    const float *oi = op->w;
    float *lead = acc + n;
    for (int64_t i = 0; i < n; i++) acc[i] += in[i] + (oi ? oi[i] : 0.0f);
    for (int c = 0; c < C; c++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                const size_t o = ((size_t)oy * Wo + ox) * C + c;
                int y0 = oy * op->sh - op->pt, x0 = ox * op->sw - op->pl;
                int64_t arg = (int64_t)lead[o] - 1;
                for (int y = y0 < 0 ? 0 : y0; y < y0 + op->kh && y < H; y++)
                    for (int x = x0 < 0 ? 0 : x0; x < x0 + op->kw && x < W; x++) {
                        int64_t i = ((int64_t)y * W + x) * C + c;
                        if (arg < 0 || acc[i] > acc[arg]) arg = i;
                    }
                lead[o] = (float)(arg + 1);
                out[o] = oi ? in[arg] + oi[arg] - op->b[o] : in[arg];
            }
}

void kop_maxpool_gate(const kop *op, const float *in, float *out, int nframes, float *acc, int ref)
{
    const int64_t isz = kshape_size(&op->in), osz = kshape_size(&op->out);
    for (int f = 0; f < nframes; f++) {
        if (ref) maxpool_gate_ref(op, in + f * isz, out + f * osz, acc);
        else maxpool_gate(op, in + f * isz, out + f * osz, acc);
    }
}

/* ---- fast ---- */

int64_t kop_scratch_floats(const kop *op, int nframes)
{
    if (op->kind != KOP_CONV) return 0;
    int64_t csr = 2 * kshape_size(&op->in) + 2 * (int64_t)op->in.h * op->in.w;
    if (op->group > 1) return csr;
    int64_t col = (int64_t)nframes * op->out.h * op->out.w * op->kh * op->kw * op->in.c;
    return col > csr ? col : csr;
}

static int conv_is_pointwise(const kop *op)
{
    return op->kh == 1 && op->kw == 1 && op->sh == 1 && op->sw == 1 && !op->pt && !op->pl &&
           !op->pb && !op->pr;
}

/* Rows oy0..oy1 of the im2col matrix of one frame (row oy * Wo + ox). */
static void im2col(const kop *op, const float *in, float *col, int oy0, int oy1)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    const int Wo = op->out.w;
    const int K = op->kh * op->kw * C;
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            float *row = col + ((size_t)oy * Wo + ox) * K;
            for (int ky = 0; ky < op->kh; ky++) {
                int iy = oy * op->sh - op->pt + ky * op->dh;
                for (int kx = 0; kx < op->kw; kx++) {
                    int ix = ox * op->sw - op->pl + kx * op->dw;
                    float *dst = row + ((size_t)ky * op->kw + kx) * C;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                        memset(dst, 0, sizeof(float) * (size_t)C);
                    else
                        memcpy(dst, in + ((size_t)iy * W + ix) * C, sizeof(float) * (size_t)C);
                }
            }
        }
}

/* A dense frame is cut into conv_dense_blocks(op) blocks of output rows,
 * one GEMM each, whatever the team: the parts of a team take whole
 * blocks, so a frame gives the same floats on any number of threads (the
 * streaming case keeps both cores busy on the GEMM too). */
static int conv_dense_blocks(const kop *op)
{
    int b = op->out.h * op->out.w / 64;
    b = b < op->out.h ? b : op->out.h;
    return b < 1 ? 1 : b > 8 ? 8 : b;
}

/* Output rows oy0..oy1 of one frame through one GEMM. */
static void conv_dense(const kop *op, const float *in, float *out, float *col, int oy0, int oy1)
{
    const int Wo = op->out.w;
    const int K = op->kh * op->kw * op->in.c, Co = op->out.c;
    const float *a = in + (size_t)oy0 * Wo * K; /* pointwise: the frame is its im2col */
    if (!conv_is_pointwise(op)) {
        im2col(op, in, col, oy0, oy1);
        a = col + (size_t)oy0 * Wo * K;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (oy1 - oy0) * Wo, Co, K, 1.0f, a, K,
                op->w, Co, 0.0f, out + (size_t)oy0 * Wo * Co, Co);
}

/* Event-driven convolution of a sparse frame. The non-zero inputs are first
 * listed per input position (channel, value); then every output position
 * gathers the events of its receptive field into register accumulators,
 * 64 output channels at a time, and writes its outputs once. Work is
 * proportional to events x kh x kw x cout, with one weight load per FMA. */
typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef float v16f __attribute__((vector_size(64), aligned(4)));

/* NB vectors of VT (L floats) of output channels from co0, accumulated in
 * registers over the events of the receptive field. The accumulation order
 * of every channel is the same for any VT, so every tier gives the same
 * floats. */
#define GATHER_BLOCK(VT, L, NB)                                                           \
    for (; co0 + (L) * (NB) <= Co; co0 += (L) * (NB)) {                                  \
        VT acc[NB];                                                                       \
        for (int b = 0; b < (NB); b++) acc[b] = (VT){0};                                  \
        for (int ky = 0; ky < op->kh; ky++) {                                             \
            int iy = oy * op->sh - op->pt + ky * op->dh;                                  \
            if (iy < 0 || iy >= H) continue;                                              \
            for (int kx = 0; kx < op->kw; kx++) {                                         \
                int ix = ox * op->sw - op->pl + kx * op->dw;                              \
                if (ix < 0 || ix >= W) continue;                                          \
                int p = iy * W + ix;                                                      \
                const float *wb = op->w + ((size_t)(ky * op->kw + kx) * C) * Co + co0;     \
                for (int32_t e = start[p]; e < stop[p]; e++) {                            \
                    const float *w = wb + (size_t)chan[e] * Co;                           \
                    float x = val[e];                                                     \
                    for (int b = 0; b < (NB); b++) acc[b] += x * *(const VT *)(w + (L) * b); \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
        for (int b = 0; b < (NB); b++) *(VT *)(o + co0 + (L) * b) = acc[b];               \
    }

/* The gathers of several neighbouring output positions at once: QLOOP runs
 * over the events of input position p, QACC(J, T) adds each event through
 * tap pointer wT (at the event's channel, channel block co0) into the
 * accumulators aJ of output J. */
#define QACC(VT, L, NB, J, T)                                                             \
    for (int b = 0; b < (NB); b++) a##J[b] += x * *(const VT *)(w##T + off + (L) * b);
#define QLOOP(...)                                                                        \
    for (int32_t e = start[p]; e < stop[p]; e++) {                                        \
        const size_t off = (size_t)chan[e] * Co;                                          \
        const float x = val[e];                                                           \
        __VA_ARGS__                                                                       \
    }

/* Two neighbouring output positions (oy, ox) and (oy, ox + 1) of a conv of
 * column stride and dilation 1 at once: input column ox - pl + c reaches the
 * first through tap c and the second through tap c - 1, so each event list
 * of the kw + 1 columns is read once for both (kw x 2 lists read one by
 * one) and its loop overhead is shared by twice the FMAs. Each output still
 * takes its taps in the same order (rows, then columns ascending, then the
 * events), so the floats are those of GATHER_BLOCK. */
#define GATHER_PAIR(VT, L, NB)                                                            \
    for (; co0 + (L) * (NB) <= Co; co0 += (L) * (NB)) {                                  \
        VT a1[NB], a2[NB];                                                                \
        for (int b = 0; b < (NB); b++) a1[b] = a2[b] = (VT){0};                           \
        for (int ky = 0; ky < op->kh; ky++) {                                             \
            int iy = oy * op->sh - op->pt + ky * op->dh;                                  \
            if (iy < 0 || iy >= H) continue;                                              \
            const float *wrow = op->w + (size_t)ky * op->kw * C * Co + co0;               \
            for (int c = 0; c <= op->kw; c++) {                                           \
                int ix = ox - op->pl + c;                                                 \
                if (ix < 0 || ix >= W) continue;                                          \
                int p = iy * W + ix;                                                      \
                /* tap c of the first output, tap c - 1 of the second */                  \
                const float *w1 = wrow + (size_t)c * C * Co, *w2 = w1 - (size_t)C * Co;   \
                if (c > 0 && c < op->kw) QLOOP(QACC(VT, L, NB, 1, 1) QACC(VT, L, NB, 2, 2)) \
                else if (c == 0) QLOOP(QACC(VT, L, NB, 1, 1))                             \
                else QLOOP(QACC(VT, L, NB, 2, 2))                                         \
            }                                                                             \
        }                                                                                 \
        for (int b = 0; b < (NB); b++) {                                                  \
            *(VT *)(o + co0 + (L) * b) = a1[b];                                           \
            *(VT *)(o + Co + co0 + (L) * b) = a2[b];                                      \
        }                                                                                 \
    }

/* Four neighbouring output positions (oy, ox .. ox + 3) of a 3-wide conv of
 * column stride and dilation 1, for up to 64 channels (16 accumulators):
 * input column ox - pl + c reaches output j through tap c - j, so the 6
 * columns' event lists serve 12 (output, tap) pairs. As GATHER_PAIR, each
 * output takes its taps in the same order as GATHER_BLOCK: the same floats. */
#define GATHER_QUAD3(VT, L, NB)                                                           \
    for (; co0 + (L) * (NB) <= Co; co0 += (L) * (NB)) {                                  \
        VT a0[NB], a1[NB], a2[NB], a3[NB];                                                \
        for (int b = 0; b < (NB); b++) a0[b] = a1[b] = a2[b] = a3[b] = (VT){0};           \
        for (int ky = 0; ky < 3; ky++) {                                                  \
            int iy = oy * op->sh - op->pt + ky * op->dh;                                  \
            if (iy < 0 || iy >= H) continue;                                              \
            const float *w0 = op->w + (size_t)ky * 3 * C * Co + co0;                      \
            const float *w1 = w0 + (size_t)C * Co, *w2 = w1 + (size_t)C * Co;             \
            for (int c = 0; c < 6; c++) {                                                 \
                int ix = ox - op->pl + c;                                                 \
                if (ix < 0 || ix >= W) continue;                                          \
                int p = iy * W + ix;                                                      \
                switch (c) {                                                              \
                case 0: QLOOP(QACC(VT, L, NB, 0, 0)) break;                               \
                case 1: QLOOP(QACC(VT, L, NB, 0, 1) QACC(VT, L, NB, 1, 0)) break;         \
                case 2: QLOOP(QACC(VT, L, NB, 0, 2) QACC(VT, L, NB, 1, 1)                 \
                                  QACC(VT, L, NB, 2, 0)) break;                           \
                case 3: QLOOP(QACC(VT, L, NB, 1, 2) QACC(VT, L, NB, 2, 1)                 \
                                  QACC(VT, L, NB, 3, 0)) break;                           \
                case 4: QLOOP(QACC(VT, L, NB, 2, 2) QACC(VT, L, NB, 3, 1)) break;         \
                default: QLOOP(QACC(VT, L, NB, 3, 2)) break;                              \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
        for (int b = 0; b < (NB); b++) {                                                  \
            *(VT *)(o + co0 + (L) * b) = a0[b];                                           \
            *(VT *)(o + Co + co0 + (L) * b) = a1[b];                                      \
            *(VT *)(o + 2 * Co + co0 + (L) * b) = a2[b];                                  \
            *(VT *)(o + 3 * Co + co0 + (L) * b) = a3[b];                                  \
        }                                                                                 \
    }

/* The events of one position's C channels x (channel order, numbered
 * from cbase) from list index n; returns the new end. */
typedef int32_t (*csr_position_fn)(const float *restrict x, int C, int32_t *restrict chan,
                                   float *restrict val, int32_t n, int cbase);
static int32_t csr_position_plain(const float *restrict x, int C, int32_t *restrict chan,
                                  float *restrict val, int32_t n, int cbase)
{
    int any = 0; /* a position without events is common in spike frames */
    for (int c = 0; c < C; c++) any |= x[c] != 0.0f;
    if (!any) return n;
    for (int c = 0; c < C; c++) { /* branchless: density is often 10-50% */
        chan[n] = cbase + c;
        val[n] = x[c];
        n += x[c] != 0.0f;
    }
    return n;
}

/* n channels of one position of the 2x2 average pool of a frame (rows r0
 * and r1 = r0 + the frame's row; the two columns C apart), as avgpool2
 * computes them, into x. */
static inline void pool2_position(const float *restrict r0, const float *restrict r1, int C, int n,
                                  float *restrict x)
{
    for (int c = 0; c < n; c++) x[c] = 0.25f * ((r0[c] + r0[C + c]) + (r1[c] + r1[C + c]));
}

#define CSR_POOL_CHANNELS 256 /* channels of a pooled position listed at once */

/* csr_position of the 2x2 average pool of one position (rows r0 and r1 =
 * r0 + the frame's row; the two columns C apart), the pool computed as
 * avgpool2 computes it and never stored. */
typedef int32_t (*csr_pool_position_fn)(const float *restrict r0, const float *restrict r1, int C,
                                        int32_t *restrict chan, float *restrict val, int32_t n);
static int32_t csr_pool_position_plain(const float *restrict r0, const float *restrict r1, int C,
                                       int32_t *restrict chan, float *restrict val, int32_t n)
{
    float x[CSR_POOL_CHANNELS];
    for (int c0 = 0; c0 < C; c0 += CSR_POOL_CHANNELS) {
        const int cn = C - c0 < CSR_POOL_CHANNELS ? C - c0 : CSR_POOL_CHANNELS;
        pool2_position(r0 + c0, r1 + c0, C, cn, x);
        n = csr_position_plain(x, cn, chan, val, n, c0);
    }
    return n;
}

#if defined(__GNUC__) && defined(__x86_64__)
/* The same on AVX-512: 16 channels of a position tested with one
 * compare, their non-zero values and channel numbers packed in order by
 * the compress instructions (no per-channel loop). */
SIMD_512_TARGET static int32_t csr_position_512(const float *restrict x, int C,
                                                 int32_t *restrict chan, float *restrict val,
                                                 int32_t n, int cbase)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 zero = _mm512_setzero_ps();
    for (int c0 = 0; c0 < C; c0 += 16) {
        const __mmask16 m = C - c0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c0)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + c0);
        /* x != 0, NaN included (unordered), as the scalar test */
        const __mmask16 nz = _mm512_mask_cmp_ps_mask(m, v, zero, _CMP_NEQ_UQ);
        if (!nz) continue;
        _mm512_mask_compressstoreu_epi32(chan + n, nz,
                                         _mm512_add_epi32(iota, _mm512_set1_epi32(cbase + c0)));
        _mm512_mask_compressstoreu_ps(val + n, nz, v);
        n += __builtin_popcount(nz);
    }
    return n;
}

/* csr_pool_position on AVX-512: the pool computed 16 channels at a time in
 * registers with pool2_position's operations (the same floats). */
SIMD_512_TARGET static int32_t csr_pool_position_512(const float *restrict r0,
                                                      const float *restrict r1, int C,
                                                      int32_t *restrict chan, float *restrict val,
                                                      int32_t n)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 zero = _mm512_setzero_ps(), quarter = _mm512_set1_ps(0.25f);
    for (int c0 = 0; c0 < C; c0 += 16) {
        const __mmask16 m = C - c0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c0)) - 1);
        const __m512 a = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r0 + c0), _mm512_maskz_loadu_ps(m, r0 + C + c0));
        const __m512 b = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r1 + c0), _mm512_maskz_loadu_ps(m, r1 + C + c0));
        const __m512 v = _mm512_mul_ps(quarter, _mm512_add_ps(a, b));
        const __mmask16 nz = _mm512_mask_cmp_ps_mask(m, v, zero, _CMP_NEQ_UQ);
        if (!nz) continue;
        _mm512_mask_compressstoreu_epi32(chan + n, nz, _mm512_add_epi32(iota, _mm512_set1_epi32(c0)));
        _mm512_mask_compressstoreu_ps(val + n, nz, v);
        n += __builtin_popcount(nz);
    }
    return n;
}

#endif

/* The CPU tier's listers. */
static csr_position_fn csr_position_pick(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (snn_simd_fast >= 2) return csr_position_512;
#endif
    return csr_position_plain;
}

static csr_pool_position_fn csr_pool_position_pick(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (snn_simd_fast >= 2) return csr_pool_position_512;
#endif
    return csr_pool_position_plain;
}

/* The event list of conv op's input frame `in` (in `scratch`): per input
 * position p, the events start[p] .. stop[p]-1 (channel, value) of its
 * non-zero inputs in channel order. List positions [p0, p1) (a team's
 * share: their events go from index p0*C, so shares do not overlap);
 * returns their count. With `pool` (a 2x2 stride-2 average pool that op
 * reads: kop_pool_fuses), the list is of the pool of the frame `in` at
 * pool's input, its values as avgpool2 computes them and never stored. */
static int32_t frame_csr(const kop *op, const kop *pool, const float *restrict in, float *scratch,
                         int p0, int p1)
{
    const csr_position_fn position = csr_position_pick();
    const csr_pool_position_fn pooled = csr_pool_position_pick();
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    int32_t *start = (int32_t *)scratch, *stop = start + H * W;
    int32_t *chan = stop + H * W;
    float *val = (float *)(chan + (size_t)H * W * C);
    int32_t n = p0 * C;
    for (int p = p0; p < p1; p++) {
        start[p] = n;
        if (!pool) {
            n = position(in + (size_t)p * C, C, chan, val, n, 0);
        } else {
            const float *r0 = in + ((size_t)(2 * (p / W)) * pool->in.w + 2 * (p % W)) * C;
            n = pooled(r0, r0 + (size_t)pool->in.w * C, C, chan, val, n);
        }
        stop[p] = n;
    }
    return n - p0 * C;
}

SIMD_INLINE void conv_gather_body(const kop *op, float *restrict out, const float *scratch,
                                  int oy0, int oy1, const int lanes)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    const int Wo = op->out.w, Co = op->out.c;
    const int32_t *start = (const int32_t *)scratch, *stop = start + H * W;
    const int32_t *chan = stop + H * W;
    const float *val = (const float *)(chan + (size_t)H * W * C);
    /* pairs of positions: AVX-512 (32 registers), whole vectors of channels */
    const int pairs = lanes == 16 && op->sw == 1 && op->dw == 1 && Co % 16 == 0;
    const int quads = pairs && op->kw == 3 && Co <= 64;
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            float *o = out + ((size_t)oy * Wo + ox) * Co;
            int co0 = 0;
            if (quads && ox + 3 < Wo) {
                GATHER_QUAD3(v16f, 16, 4)
                GATHER_QUAD3(v16f, 16, 2)
                GATHER_QUAD3(v16f, 16, 1)
                ox += 3;
                continue;
            }
            if (pairs && ox + 1 < Wo) {
                GATHER_PAIR(v16f, 16, 8)
                GATHER_PAIR(v16f, 16, 4)
                GATHER_PAIR(v16f, 16, 2)
                GATHER_PAIR(v16f, 16, 1)
                ox++;
                continue;
            }
            if (lanes == 16) { /* AVX-512: 128 channels in one pass */
                GATHER_BLOCK(v16f, 16, 8)
                GATHER_BLOCK(v16f, 16, 4)
                GATHER_BLOCK(v16f, 16, 2)
                GATHER_BLOCK(v16f, 16, 1)
            }
            GATHER_BLOCK(v8f, 8, 8)
            GATHER_BLOCK(v8f, 8, 4)
            GATHER_BLOCK(v8f, 8, 2) /* 16 channels in one pass over the events */
            GATHER_BLOCK(v8f, 8, 1)
            for (; co0 < Co; co0++) { /* channels beyond a multiple of 8 */
                float acc = 0;
                for (int ky = 0; ky < op->kh; ky++) {
                    int iy = oy * op->sh - op->pt + ky * op->dh;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < op->kw; kx++) {
                        int ix = ox * op->sw - op->pl + kx * op->dw;
                        if (ix < 0 || ix >= W) continue;
                        int p = iy * W + ix;
                        const float *wb = op->w + ((size_t)(ky * op->kw + kx) * C) * Co + co0;
                        for (int32_t e = start[p]; e < stop[p]; e++)
                            acc += val[e] * wb[(size_t)chan[e] * Co];
                    }
                }
                o[co0] = acc;
            }
        }
}
SIMD_VOID_LANES(conv_gather,
                (const kop *op, float *restrict out, const float *scratch, int oy0, int oy1), op, out,
                scratch, oy0, oy1)

/* Event-driven convolution of a very sparse frame, output rows [oy0,
 * oy1): the rows are cleared, then every event adds its weight row to the
 * kh*kw output positions it reaches. Work is proportional to the events
 * (plus the cleared outputs), where the gather above visits every output
 * position and kernel tap. Each output receives its contributions in the
 * gather's order (input positions ascending, then channels; one tap links
 * an input position to an output), each as one multiply-add into a sum
 * that starts at zero, so the two kernels give the same floats. */
SIMD_INLINE void conv_scatter_body(const kop *op, float *restrict out, const float *scratch,
                                   int oy0, int oy1)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    const int Wo = op->out.w, Co = op->out.c;
    const int32_t *start = (const int32_t *)scratch, *stop = start + H * W;
    const int32_t *chan = stop + H * W;
    const float *val = (const float *)(chan + (size_t)H * W * C);
    memset(out + (size_t)oy0 * Wo * Co, 0, sizeof(float) * (size_t)(oy1 - oy0) * Wo * Co);
    int iy0 = oy0 * op->sh - op->pt, iy1 = (oy1 - 1) * op->sh - op->pt + (op->kh - 1) * op->dh + 1;
    if (iy0 < 0) iy0 = 0;
    if (iy1 > H) iy1 = H;
    for (int iy = iy0; iy < iy1; iy++)
        for (int ix = 0; ix < W; ix++) {
            const int p = iy * W + ix;
            if (start[p] == stop[p]) continue;
            for (int ky = 0; ky < op->kh; ky++) {
                const int ty = iy + op->pt - ky * op->dh;
                if (ty < 0 || (op->sh > 1 && ty % op->sh)) continue;
                const int oy = op->sh > 1 ? ty / op->sh : ty;
                if (oy < oy0 || oy >= oy1) continue;
                for (int kx = 0; kx < op->kw; kx++) {
                    const int tx = ix + op->pl - kx * op->dw;
                    if (tx < 0 || (op->sw > 1 && tx % op->sw)) continue;
                    const int ox = op->sw > 1 ? tx / op->sw : tx;
                    if (ox >= Wo) continue;
                    float *restrict o = out + ((size_t)oy * Wo + ox) * Co;
                    const float *wb = op->w + ((size_t)(ky * op->kw + kx) * C) * Co;
                    for (int32_t e = start[p]; e < stop[p]; e++) {
                        const float *restrict w = wb + (size_t)chan[e] * Co;
                        const float x = val[e];
                        for (int c = 0; c < Co; c++) o[c] += x * w[c];
                    }
                }
            }
        }
}
SIMD_VOID(conv_scatter, (const kop *op, float *restrict out, const float *scratch, int oy0, int oy1),
          (op, out, scratch, oy0, oy1))

/* Grouped convolution (group > 1), one frame. Dense (`in` given): direct
 * loops over each output position, the weights of a (ky, kx, ci) row being
 * contiguous over the group's output channels (depthwise: over all
 * channels). Sparse (`in` NULL): the events listed by frame_csr in
 * `scratch`, each gathered into the output channels of its group. */
SIMD_INLINE void conv_grouped_body(const kop *op, const float *restrict in, float *restrict out,
                                   const float *scratch, int oy0, int oy1)
{
    const int H = op->in.h, W = op->in.w, C = op->in.c;
    const int Wo = op->out.w, Co = op->out.c;
    const int G = op->group, Cg = C / G, Mg = Co / G;
    const int32_t *start = (const int32_t *)scratch, *stop = start + H * W;
    const int32_t *chan = stop + H * W;
    const float *val = (const float *)(chan + (size_t)H * W * C);
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            float *restrict o = out + ((size_t)oy * Wo + ox) * Co;
            for (int c = 0; c < Co; c++) o[c] = 0.0f;
            for (int ky = 0; ky < op->kh; ky++) {
                int iy = oy * op->sh - op->pt + ky * op->dh;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < op->kw; kx++) {
                    int ix = ox * op->sw - op->pl + kx * op->dw;
                    if (ix < 0 || ix >= W) continue;
                    const int p = iy * W + ix;
                    const float *wk = op->w + ((size_t)(ky * op->kw + kx) * Cg) * Co;
                    if (!in) {
                        for (int32_t e = start[p]; e < stop[p]; e++) {
                            const int c = chan[e], g = c / Cg, ci = c - g * Cg;
                            const float *w = wk + (size_t)ci * Co + (size_t)g * Mg;
                            float *og = o + (size_t)g * Mg;
                            for (int m = 0; m < Mg; m++) og[m] += val[e] * w[m];
                        }
                        continue;
                    }
                    const float *x = in + (size_t)p * C;
                    if (Cg == 1 && Mg == 1) { /* depthwise */
                        for (int c = 0; c < Co; c++) o[c] += x[c] * wk[c];
                        continue;
                    }
                    for (int g = 0; g < G; g++)
                        for (int ci = 0; ci < Cg; ci++) {
                            const float xv = x[g * Cg + ci];
                            const float *w = wk + (size_t)ci * Co + (size_t)g * Mg;
                            float *og = o + (size_t)g * Mg;
                            for (int m = 0; m < Mg; m++) og[m] += xv * w[m];
                        }
                }
            }
        }
}
SIMD_VOID(conv_grouped, (const kop *op, const float *restrict in, float *restrict out,
                         const float *scratch, int oy0, int oy1), (op, in, out, scratch, oy0, oy1))

/* One call's work in parts for a team (kteam_run): a conv frame's event
 * list by input rows, its gather (or direct grouped loops) by output rows,
 * the dense scatter by blocks of output columns. */
typedef struct kjob {
    const kop *op;
    const kop *pool;            /* conv: list the events of this pool of `in` (frame_csr) */
    const float *in;
    float *out;
    float *scratch;
    int nframes;
    int32_t nnz[KTEAM_PARTS];
} kjob;

static void share(int n, int part, int nparts, int *lo, int *hi)
{
    *lo = (int)((int64_t)n * part / nparts);
    *hi = (int)((int64_t)n * (part + 1) / nparts);
}

/* Parts for `units` independent units: 1 without a team. */
static int nparts_for(const kteam *team, int units)
{
    return !team ? 1 : units < KTEAM_PARTS ? units : KTEAM_PARTS;
}

static void job_csr(void *arg, int part, int nparts)
{
    kjob *j = arg;
    int y0, y1;
    share(j->op->in.h, part, nparts, &y0, &y1);
    j->nnz[part] = frame_csr(j->op, j->pool, j->in, j->scratch, y0 * j->op->in.w, y1 * j->op->in.w);
}

static void job_gather(void *arg, int part, int nparts)
{
    kjob *j = arg;
    int oy0, oy1;
    share(j->op->out.h, part, nparts, &oy0, &oy1);
    if (j->op->group == 1) conv_gather(j->op, j->out, j->scratch, oy0, oy1);
    else conv_grouped(j->op, j->in, j->out, j->scratch, oy0, oy1);
}

static void job_conv_dense(void *arg, int part, int nparts)
{
    kjob *j = arg;
    const int nb = conv_dense_blocks(j->op), Ho = j->op->out.h;
    int b0, b1;
    share(nb, part, nparts, &b0, &b1);
    for (int b = b0; b < b1; b++) {
        int oy0, oy1;
        share(Ho, b, nb, &oy0, &oy1);
        conv_dense(j->op, j->in, j->out, j->scratch, oy0, oy1);
    }
}

static void job_conv_scatter(void *arg, int part, int nparts)
{
    kjob *j = arg;
    int oy0, oy1;
    share(j->op->out.h, part, nparts, &oy0, &oy1);
    if (oy0 < oy1) conv_scatter(j->op, j->out, j->scratch, oy0, oy1);
}

/* y[m0..m1) += the weight rows of ne events (input idx[e], value val[e]),
 * NB vectors of output columns at a time held in registers over all the
 * events: one weight load per FMA, y read and written once per batch of
 * events. Every column receives its events in list order, each as one
 * multiply-add, as adding one event's row at a time would: the same
 * floats. */
#define DENSE_BLOCK(VT, L, NB)                                                   \
    for (; co0 + (L) * (NB) <= m1; co0 += (L) * (NB)) {                          \
        VT acc[NB];                                                              \
        for (int b = 0; b < (NB); b++) acc[b] = *(const VT *)(y + co0 + (L) * b); \
        for (int e = 0; e < ne; e++) {                                           \
            const float *wr = w + (size_t)idx[e] * M + co0;                      \
            float x = val[e];                                                    \
            for (int b = 0; b < (NB); b++) acc[b] += x * *(const VT *)(wr + (L) * b); \
        }                                                                        \
        for (int b = 0; b < (NB); b++) *(VT *)(y + co0 + (L) * b) = acc[b];      \
    }

SIMD_INLINE void dense_events_body(const float *restrict w, int M, const int32_t *restrict idx,
                                   const float *restrict val, int ne, float *restrict y, int m0,
                                   int m1, const int lanes)
{
    int co0 = m0;
    if (lanes == 16) {
        DENSE_BLOCK(v16f, 16, 8)
        DENSE_BLOCK(v16f, 16, 4)
        DENSE_BLOCK(v16f, 16, 2)
        DENSE_BLOCK(v16f, 16, 1)
    }
    DENSE_BLOCK(v8f, 8, 8)
    DENSE_BLOCK(v8f, 8, 4)
    DENSE_BLOCK(v8f, 8, 2)
    DENSE_BLOCK(v8f, 8, 1)
    for (; co0 < m1; co0++) {
        float acc = y[co0];
        for (int e = 0; e < ne; e++) acc += val[e] * w[(size_t)idx[e] * M + co0];
        y[co0] = acc;
    }
}
SIMD_VOID_LANES(dense_events,
                (const float *restrict w, int M, const int32_t *restrict idx,
                 const float *restrict val, int ne, float *restrict y, int m0, int m1),
                w, M, idx, val, ne, y, m0, m1)

#define SCATTER_EVENTS 256 /* events of a dense frame applied at once */

static void job_scatter(void *arg, int part, int nparts)
{
    kjob *j = arg;
    const int N = (int)kshape_size(&j->op->in), M = j->op->out.c;
    int m0, m1;
    share((M + 15) / 16, part, nparts, &m0, &m1);
    m0 *= 16;
    m1 = m1 * 16 < M ? m1 * 16 : M;
    if (m0 >= m1) return;
    int32_t idx[SCATTER_EVENTS];
    float val[SCATTER_EVENTS];
    const csr_position_fn position = csr_position_pick();
    for (int f = 0; f < j->nframes; f++) {
        const float *x = j->in + (size_t)f * N;
        float *y = j->out + (size_t)f * M;
        memset(y + m0, 0, sizeof(float) * (size_t)(m1 - m0));
        for (int i0 = 0; i0 < N; i0 += SCATTER_EVENTS) { /* the events, in input order */
            const int len = N - i0 < SCATTER_EVENTS ? N - i0 : SCATTER_EVENTS;
            const int ne = position(x + i0, len, idx, val, 0, i0);
            if (ne) dense_events(j->op->w, M, idx, val, ne, y, m0, m1);
        }
    }
}

/* Returns the non-zero inputs of the frames. */
static int64_t dense_fast(const kop *op, const float *in, float *out, int nframes, kteam *team)
{
    const int N = (int)kshape_size(&op->in), M = op->out.c;
    int64_t events = 0;
    /* decided and computed frame by frame, so that a frame's result does
     * not depend on the chunk it is in */
    for (int f = 0; f < nframes; f++) {
        const float *x = in + (size_t)f * N;
        float *y = out + (size_t)f * M;
        int64_t nnz = count_nonzero(x, N);
        events += nnz;
        int scatter = force_mode == 2 || (force_mode != 1 && nnz < SCATTER_RATIO * N);
        if (!scatter) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, M, N, 1.0f, x, N, op->w, M, 0.0f,
                        y, M);
            continue;
        }
        kjob j = {.op = op, .in = x, .out = y, .nframes = 1};
        /* each part scans the inputs: a few parts per thread */
        int blocks = (M + 15) / 16, np = 2 * kteam_size(team);
        kteam_run(team, job_scatter, &j, nparts_for(team, blocks < np ? blocks : np));
    }
    return events;
}

/* Conv frames: gather the sparse ones; a dense frame goes through the GEMM
 * on its own (grouped: direct loops), so a frame's result never depends on
 * the frames beside it in the chunk: the same for any chunk. With `pool`,
 * `in` holds that pool's input frames and the events are listed from the
 * pool computed on the fly; a frame that turns out dense is pooled into
 * `pooled` (the pool's output frames) for the GEMM. Returns the non-zero
 * inputs of the frames (of the pool's output, with `pool`). */
static int64_t conv_frames(const kop *op, const kop *pool, const float *in, float *pooled, float *out,
                           int nframes, float *scratch, kteam *team)
{
    const int64_t isz = kshape_size(pool ? &pool->in : &op->in), osz = kshape_size(&op->out);
    const int pcsr = nparts_for(team, op->in.h), prow = nparts_for(team, op->out.h);
    int64_t events = 0;
    for (int f = 0; f < nframes; f++) {
        kjob j = {.op = op, .pool = pool, .in = in + f * isz, .out = out + f * osz, .scratch = scratch};
        int dense = force_mode == 1;
        if (!dense) {
            /* the event list doubles as the density count */
            kteam_run(team, job_csr, &j, pcsr);
            int64_t nnz = 0;
            for (int t = 0; t < pcsr; t++) nnz += j.nnz[t];
            events += nnz;
            dense = force_mode == 0 && nnz >= gather_ratio() * kshape_size(&op->in);
            /* gather (3) forces the gather for every frame */
            if (!dense && op->group == 1 &&
                (force_mode == 2 ||
                 (force_mode == 0 && nnz * op->out.c < CONV_SCATTER_EVENTS * kshape_size(&op->in)))) {
                kteam_run(team, job_conv_scatter, &j, prow);
                continue;
            }
            if (!dense) {
                j.in = NULL; /* grouped: from the events */
                kteam_run(team, job_gather, &j, prow);
                continue;
            }
        }
        if (pool) {
            float *pf = pooled + f * kshape_size(&op->in);
            avgpool(pool, j.in, pf);
            j.in = pf;
        }
        if (force_mode == 1) events += count_nonzero(j.in, kshape_size(&op->in)); /* not listed */
        if (op->group > 1)
            kteam_run(team, job_gather, &j, prow); /* direct loops on j.in */
        else
            kteam_run(team, job_conv_dense, &j, nparts_for(team, conv_dense_blocks(op)));
    }
    return events;
}

int kop_pool_fuses(const kop *pool, const kop *op)
{
    return pool->kind == KOP_AVGPOOL && pool->kh == 2 && pool->kw == 2 && pool->sh == 2 &&
           pool->sw == 2 && !pool->pt && !pool->pl && 2 * pool->out.h <= pool->in.h &&
           2 * pool->out.w <= pool->in.w && op->kind == KOP_CONV && op->group == 1 &&
           op->nin == 1 && op->in.h == pool->out.h && op->in.w == pool->out.w &&
           op->in.c == pool->out.c && pool->in.c == pool->out.c;
}

int64_t kop_apply_pool_conv(const kop *pool, const kop *op, const float *in, float *pooled,
                            float *out, int nframes, float *scratch, kteam *team)
{
    return conv_frames(op, pool, in, pooled, out, nframes, scratch, team);
}

int64_t kop_apply_fast(const kop *op, const float *const *inp, float *out, int nframes,
                       float *scratch)
{
    return kop_apply_team(op, inp, out, nframes, scratch, NULL);
}

int64_t kop_apply_team(const kop *op, const float *const *inp, float *out, int nframes,
                       float *scratch, kteam *team)
{
    const int64_t isz = kshape_size(&op->in), osz = kshape_size(&op->out);
    const float *in = inp[0];
    switch (op->kind) {
    case KOP_CONV:
        return conv_frames(op, NULL, in, NULL, out, nframes, scratch, team);
    case KOP_DENSE:
        return dense_fast(op, in, out, nframes, team);
    case KOP_ADD:
        add_frames(op, inp, out, nframes);
        return 0;
    case KOP_CONCAT:
        concat_frames(op, inp, out, nframes);
        return 0;
    default:
        for (int f = 0; f < nframes; f++) {
            const float *x[KOP_MAX_IN] = {in + f * isz};
            kop_apply_ref(op, x, out + f * osz, 0);
        }
        return 0;
    }
}

int64_t kop_count_nonzero(const float *x, int64_t n) { return count_nonzero(x, n); }

void snn_blas_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
