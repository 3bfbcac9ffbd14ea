/* engine.c: the simulation of a planned network (net_internal.h).
 *
 * DESIGN: a run advances time in chunks. Within a chunk each image goes
 * through the layers in order (the DAG's topological order), and every
 * layer advances all the chunk's steps before the next layer starts: the
 * stage feeding a neuron layer is then one call per op over `tc` frames of
 * its source layers (a GEMM, or an event-driven gather/scatter when the
 * frames are sparse), and neuron voltages, synapse states and max-pool
 * gates carry over from chunk to chunk. Each layer keeps its chunk of spike
 * frames until the layers after it have read them. Because layers only
 * feed forward, the result does not depend on the chunk size; chunk 1 gives
 * per-step results for streaming and early exit checks. A stage that reads
 * only the input image is computed once per image (the input is constant
 * over time). SNN_ENGINE_REFERENCE runs chunk 1 with the scalar direct
 * kernels.
 *
 * Memory: everything is allocated by snn_engine_new for its max batch and
 * chunk (and, for a team, the pipeline's by snn_engine_set_threads);
 * snn_engine_run does not allocate. Large buffers are fresh mappings
 * (ealloc).
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../convert/net_internal.h"

#define MAX_CHUNK 32
/* The chunk a run takes when it names none: long enough that each op and
 * layer is called for several frames at once, short enough that a layer's
 * frames stay in cache. 2 engines of batch 16, 30 steps (build/snnbench
 * stream --profile chunked --chunk C): the seed in nengo mode 455-541
 * images/s at C = 6 to 15 against 416-492 with all 30 steps at once and
 * 444-454 at 4; the dense cifar10-resnet 77-82 at 4 and 8 against 62-67. */
#define DEFAULT_CHUNK 8
#define DEFAULT_CHUNK_EARLY 4 /* an early exit is checked between chunks */
#define PIPE_CHUNK 8          /* the longest chunk the pipeline takes */
#define PIPE_PROBES 2         /* team runs timed, layer by layer, to place the cut */

#include "simd.h"

/* What a thread running layers of an image needs for its own: the stage
 * op outputs, kernel scratch, the current of a constant stage, the team
 * its kernels may use, and the table of spike frames it reads and
 * writes ([layer] -> the chunk's frames). */
typedef struct lane {
    float **slot;               /* [nslots] -> [max_chunk x max_frame] stage op outputs */
    float *col;                 /* im2col / event list scratch */
    float *J;                   /* [max_frame] input current of one step */
    kteam *team;
    float **spk;
} lane;

struct snn_engine {
    const snn_net *net;
    snn_engine_mode mode;
    int max_batch, max_steps, max_chunk;
    int64_t max_frame;          /* largest frame of any op input/output */
    float *x;                   /* one input image in HWC */
    float **u0;                 /* [layer] -> [max_batch x neurons] constant stage output, or
                                 * a mixed stage's image part plus its bias; else NULL */
    float *zero;                /* [max_chunk x max_frame] zero frames (mixed stages) */
    float **v;                  /* [layer] -> [max_batch x neurons] voltages */
    float **y;                  /* [layer] -> [max_batch x size] synapse states (or NULL) */
    float **v0;                 /* [layer] initial voltages (shared by all images) */
    float **gate;               /* [state] -> [max_batch x state size] max-pool gates */
    float *acc;                 /* [max_batch x nclasses] readout mean accumulators */
    uint8_t **fired;            /* [layer] -> [max_batch x neurons] */
    int npool;
    float **pool;               /* [npool] -> [max_chunk x largest layer] spike frame buffers */
    int nslots;
    lane main;                  /* the run's thread (and its team) */
    kteam *team;                /* threads of one run (snn_engine_set_threads), NULL = 1 */
    /* the pipeline (engine_pipelined): the layers after `cut` run a chunk
     * behind on a helper of the team, in their own lane */
    lane side;
    float **pspk[2];            /* [parity][layer] -> [PIPE_CHUNK x neurons] spike frames */
    uint8_t **fired0;           /* [layer] -> the front's fired flags before its chunk */
    double *applied0;           /* [layer] the front's syn_applied before its chunk */
    int pipe_ok;                /* side and pspk allocated */
    int cut;                    /* last layer of the front part, 0 = none (yet) */
    int forced_cut;             /* engine_pipe_cut: -1 = chosen from probes, 0 = off, k */
    int probes;                 /* team runs timed so far */
    double *lcost;              /* [layer] seconds in the probes */
    float *z;                   /* [nclasses] readout */
    float *zp;                  /* [nclasses] readout in class order (net->out_perm) */
    int *streak, *top;
    uint8_t *stopped;
    uint8_t *seen;              /* [max_batch] the readout has received input */
    size_t bytes;
};

/* ---- neurons and synapses ---- */

/* One kernel for both spiking neurons: v += clamp(J, jmin, jmax) dt,
 * k = min(floor(v), kcap) spikes when v >= 1 (never negative), v -= k,
 * out = k * amplitude / dt. jmin 0 is nengo's spiking ReLU (v never decreases, so
 * the max below is a no-op and its results are nengo's exactly); jmin
 * -1e9 is "if", whose membrane keeps a deficit, so inhibition cancels
 * excitation. The clamps keep v below 2^31 (dt <= 1), so the integer count
 * is floor(v), and the loop has no branch, so it vectorises. A Clip layer
 * of spiking-relu clamps the current (jmax); one of "if" caps the spikes
 * per step instead (kcap) and keeps the excess in the membrane, so its
 * rate converges to clip(mean current), the ANN's, even when the current
 * fluctuates around the ceiling (a clamped current would lose the excess
 * of every step above it). */
SIMD_INLINE double neuron_update_body(float *restrict v, const float *restrict J, float *restrict out,
                                      int64_t n, float dt, float amplitude, float jmin, float jmax,
                                      int32_t kcap, uint8_t *restrict fired)
{
    int64_t spikes = 0;
    const float h = amplitude / dt;
    for (int64_t i = 0; i < n; i++) {
        float j = J[i] > jmin ? J[i] : jmin;
        j = j < jmax ? j : jmax;
        float vi = v[i] + j * dt;
        /* floor(max(vi, 0)) as max(trunc(vi), 0): the same integer for
         * every vi (NaN included), and a form GCC vectorises (a float
         * select before the conversion keeps the loop scalar) */
        int32_t k = (int32_t)vi;
        k = k > 0 ? k : 0;
        k = k < kcap ? k : kcap;
        float kf = (float)k;
        v[i] = vi - kf;
        out[i] = kf * h;
        spikes += k;
        if (fired) /* loop-invariant: unswitched */
            fired[i] |= (uint8_t)(k > 0);
    }
    return (double)spikes;
}
SIMD_RET(double, neuron_update,
         (float *restrict v, const float *restrict J, float *restrict out, int64_t n, float dt,
          float amplitude, float jmin, float jmax, int32_t kcap, uint8_t *restrict fired),
         (v, J, out, n, dt, amplitude, jmin, jmax, kcap, fired))

#define JMAX_NONE 1e9f
#define KCAP_NONE INT32_MAX
#define JMIN_RELU 0.0f      /* spiking-relu: the current is rectified */
#define JMIN_IF (-1e9f)     /* if: the signed current */

double snn_neuron_if(float *v, const float *J, float *out, int64_t n, float dt, float amplitude,
                     uint8_t *fired)
{
    return neuron_update(v, J, out, n, dt, amplitude, JMIN_IF, JMAX_NONE, KCAP_NONE, fired);
}

double snn_neuron_spiking_relu(float *v, const float *J, float *out, int64_t n, float dt,
                               float amplitude, uint8_t *fired)
{
    return neuron_update(v, J, out, n, dt, amplitude, JMIN_RELU, JMAX_NONE, KCAP_NONE, fired);
}

double snn_neuron_spiking_relu_max(float *v, const float *J, float *out, int64_t n, float dt,
                                   float amplitude, float jmax, uint8_t *fired)
{
    return neuron_update(v, J, out, n, dt, amplitude, JMIN_RELU, jmax < JMAX_NONE ? jmax : JMAX_NONE,
                         KCAP_NONE, fired);
}

/* J = gain * (x + bias) where x is the synapse state read before its update
 * (one-step delay) or, without a synapse, the input itself. */
SIMD_INLINE void input_current_body(float *restrict J, float *restrict y, const float *restrict u,
                                    const float *restrict bias, int64_t n, float gain, float a,
                                    float b)
{
    if (y) {
        for (int64_t i = 0; i < n; i++) {
            J[i] = gain * (y[i] + bias[i]);
            y[i] = a * y[i] + b * u[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) J[i] = gain * (u[i] + bias[i]);
    }
}
SIMD_VOID(input_current,
          (float *restrict J, float *restrict y, const float *restrict u, const float *restrict bias,
           int64_t n, float gain, float a, float b),
          (J, y, u, bias, n, gain, a, b))

/* The two above in one pass for a layer whose current changes every step:
 * J = gain * (x + bias) as input_current computes it (x: the synapse
 * state before its update, or u without a synapse), then the neuron
 * update of neuron_update on it; the same float operations in the same
 * order, without the round trip through a current buffer. */
SIMD_INLINE int64_t neuron_step_body(float *restrict v, float *restrict y, const float *restrict u,
                                     const float *restrict bias, float *restrict out, int64_t n,
                                     float gain, float a, float b, float dt, float h, float jmin,
                                     float jmax, int32_t kcap, uint8_t *restrict fired)
{
    int64_t spikes = 0;
    for (int64_t i = 0; i < n; i++) {
        float x;
        if (y) { /* loop-invariant: unswitched */
            x = y[i];
            y[i] = a * y[i] + b * u[i];
        } else {
            x = u[i];
        }
        float J = gain * (x + bias[i]);
        float j = J > jmin ? J : jmin;
        j = j < jmax ? j : jmax;
        float vi = v[i] + j * dt;
        int32_t k = (int32_t)vi; /* floor(max(vi, 0)): see neuron_update */
        k = k > 0 ? k : 0;
        k = k < kcap ? k : kcap;
        float kf = (float)k;
        v[i] = vi - kf;
        out[i] = kf * h;
        spikes += k;
        fired[i] |= (uint8_t)(k > 0);
    }
    return spikes;
}
SIMD_RET(int64_t, neuron_step,
         (float *restrict v, float *restrict y, const float *restrict u, const float *restrict bias,
          float *restrict out, int64_t n, float gain, float a, float b, float dt, float h,
          float jmin, float jmax, int32_t kcap, uint8_t *restrict fired),
         (v, y, u, bias, out, n, gain, a, b, dt, h, jmin, jmax, kcap, fired))

void snn_lowpass_delay(float *y, const float *u, float *out, int64_t n, float a, float b)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = y[i];
        y[i] = a * y[i] + b * u[i];
    }
}

/* One neuron layer advancing the tc steps of a chunk for one image, its
 * neurons cut into parts for a team (kteam_run; whole blocks of 16, every
 * neuron sees the same float operations whatever the parts). */
#define NEURONS_PER_PART 2048
typedef struct neuron_job {
    const snn_net *net;
    const klayer *ly;
    int64_t n, ustride;
    int tc;
    const float *U, *bias;
    float *y, *v, *J, *out;
    uint8_t *fired;
    float dt, fa, fb, jmax;
    int32_t kcap;
    double k[KTEAM_PARTS][MAX_CHUNK]; /* spikes of each part per step */
} neuron_job;

static void neuron_job_run(void *arg, int ith, int nth) /* ith: the part */
{
    neuron_job *j = arg;
    const klayer *ly = j->ly;
    const int64_t nb = (j->n + 15) / 16;
    const int64_t i0 = nb * ith / nth * 16, i1e = nb * (ith + 1) / nth * 16;
    const int64_t i1 = i1e < j->n ? i1e : j->n, m = i1 - i0;
    const snn_neuron_type nt = j->net->params.neuron;
    if (m <= 0) {
        for (int t = 0; t < j->tc; t++) j->k[ith][t] = 0;
        return;
    }
    float *J = j->J + i0, *y = j->y ? j->y + i0 : NULL;
    for (int t = 0; t < j->tc; t++) {
        const float *u = j->U + t * j->ustride + i0;
        float *s = j->out + t * j->n + i0;
        if (snn_neuron_spikes(nt) && (j->ustride || y)) {
            const float jmin = nt == SNN_NEURON_IF ? JMIN_IF : JMIN_RELU;
            j->k[ith][t] = (double)neuron_step(j->v + i0, y, u, j->bias + i0, s, m, ly->gain, j->fa,
                                               j->fb, j->dt, ly->amplitude / j->dt, jmin, j->jmax, j->kcap,
                                               j->fired + i0);
            continue;
        }
        /* a constant input (stage 0: the image) needs J once */
        if (t == 0 || j->ustride || y) input_current(J, y, u, j->bias + i0, m, ly->gain, j->fa, j->fb);
        if (snn_neuron_spikes(nt)) {
            j->k[ith][t] = neuron_update(j->v + i0, J, s, m, j->dt, ly->amplitude,
                                         nt == SNN_NEURON_IF ? JMIN_IF : JMIN_RELU, j->jmax, j->kcap,
                                         j->fired + i0);
        } else {
            for (int64_t i = 0; i < m; i++) {
                float a = J[i] > 0.0f ? J[i] * ly->amplitude : 0.0f;
                if (ly->clip_max > 0 && a > ly->clip_max) a = ly->clip_max;
                s[i] = a;
            }
        }
    }
}

/* ---- setup ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The engine's buffers. A large one is its own fresh mapping: placed by
 * the kernel, not in memory an earlier engine of the process freed (one
 * image on two threads ran at 460 images/s in heap memory that a batch
 * engine had used before, 711 in fresh mappings: build/snnbench stream,
 * seed in nengo mode, default malloc against MALLOC_MMAP_THRESHOLD_=131072).
 * A 64-byte header before each buffer keeps its mapping length (0: from
 * calloc). efree releases either. */
#define EALLOC_HDR 64
#define EALLOC_MAP (64 * 1024)
static void *ealloc(snn_engine *e, size_t n)
{
    size_t len = n + EALLOC_HDR;
    char *b;
    if (n >= EALLOC_MAP) {
        b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b == MAP_FAILED) return NULL;
    } else if (!(b = calloc(1, len))) {
        return NULL;
    }
    *(size_t *)b = n >= EALLOC_MAP ? len : 0;
    e->bytes += n;
    return b + EALLOC_HDR;
}

static void efree(void *p)
{
    if (!p) return;
    char *b = (char *)p - EALLOC_HDR;
    size_t len = *(size_t *)b;
    if (len) munmap(b, len);
    else free(b);
}

/* Spike frame buffers by liveness: layer l's frames are read by the
 * stages of later layers up to last[l]; once that stage has run (before
 * layer last[l]'s own neurons write), its buffer takes new frames. A chain
 * needs one buffer: each layer overwrites the frames its stage just read. */
static int plan_spike_buffers(snn_engine *e)
{
    const snn_net *net = e->net;
    const int L = net->nlayers;
    int64_t nmax = 1;
    int *last = calloc((size_t)L, sizeof *last), *owner = calloc((size_t)L, sizeof *owner);
    if (!last || !owner || !(e->pool = calloc((size_t)L, sizeof *e->pool))) {
        free(last);
        free(owner);
        return -1;
    }
    for (int l = 1; l < L; l++) {
        const kstage *st = &net->stages[l - 1];
        for (int k = 0; k < st->nsrc; k++) last[st->src[k]] = l;
        if (e->v[l] && net->layers[l].info.neurons > nmax) nmax = net->layers[l].info.neurons;
    }
    /* owner[i]: the layer whose frames pool buffer i holds, 0 = free */
    int rc = 0;
    for (int l = 1; l < L && !rc; l++) {
        const kstage *st = &net->stages[l - 1];
        for (int i = 0; i < e->npool; i++)
            for (int k = 0; k < st->nsrc; k++)
                if (owner[i] == st->src[k] && last[st->src[k]] == l) owner[i] = 0;
        if (!e->v[l]) continue;
        int i = 0;
        while (i < e->npool && owner[i]) i++;
        if (i == e->npool) {
            if (!(e->pool[i] = ealloc(e, sizeof(float) * (size_t)e->max_chunk * (size_t)nmax))) rc = -1;
            else e->npool++;
        }
        owner[i] = l;
        e->main.spk[l] = e->pool[i];
    }
    free(last);
    free(owner);
    return rc;
}

/* A lane's scratch (its spike frame table is set by its user). */
static int lane_alloc(snn_engine *e, lane *ln, int frames, int64_t col)
{
    const size_t fch = sizeof(float) * (size_t)frames * (size_t)e->max_frame;
    if (!(ln->slot = calloc((size_t)e->nslots + 1, sizeof *ln->slot)) ||
        !(ln->J = ealloc(e, sizeof(float) * (size_t)e->max_frame)) ||
        !(ln->col = ealloc(e, sizeof(float) * (size_t)col)))
        return -1;
    for (int i = 0; i < e->nslots; i++)
        if (!(ln->slot[i] = ealloc(e, fch))) return -1;
    return 0;
}

static void lane_free(snn_engine *e, lane *ln)
{
    for (int i = 0; ln->slot && i < e->nslots; i++) efree(ln->slot[i]);
    free(ln->slot);
    efree(ln->J);
    efree(ln->col);
}

static void pipe_free(snn_engine *e)
{
    lane_free(e, &e->side);
    memset(&e->side, 0, sizeof e->side);
    for (int p = 0; p < 2; p++) {
        for (int l = 0; e->pspk[p] && l < e->net->nlayers; l++) efree(e->pspk[p][l]);
        free(e->pspk[p]);
        e->pspk[p] = NULL;
    }
    for (int l = 0; e->fired0 && l < e->net->nlayers; l++) efree(e->fired0[l]);
    free(e->fired0);
    e->fired0 = NULL;
    free(e->applied0);
    e->applied0 = NULL;
    e->pipe_ok = 0;
}

void snn_engine_free(snn_engine *e)
{
    if (!e) return;
    const snn_net *net = e->net;
    for (int l = 0; l < net->nlayers; l++) {
        if (e->v) efree(e->v[l]);
        if (e->y) efree(e->y[l]);
        if (e->v0) efree(e->v0[l]);
        if (e->fired) efree(e->fired[l]);
        if (e->u0) efree(e->u0[l]);
    }
    for (int i = 0; e->gate && i < net->nstates; i++) efree(e->gate[i]);
    for (int i = 0; e->pool && i < e->npool; i++) efree(e->pool[i]);
    free(e->pool);
    lane_free(e, &e->main);
    free(e->main.spk);
    pipe_free(e);
    free(e->lcost);
    free(e->v);
    free(e->y);
    free(e->v0);
    free(e->fired);
    free(e->u0);
    free(e->gate);
    efree(e->x);
    efree(e->zero);
    efree(e->acc);
    kteam_free(e->team);
    efree(e->z);
    efree(e->zp);
    efree(e->streak);
    efree(e->top);
    efree(e->stopped);
    efree(e->seen);
    free(e);
}

snn_engine *snn_engine_new(const snn_net *net, int max_batch, int max_steps, snn_engine_mode mode,
                           snn_error *err)
{
    if (!net || max_batch < 1 || max_steps < 1 || max_batch > 1 << 16 || max_steps > 1 << 20) {
        snn_error_set(err, SNN_EINVALID, "engine: bad max batch %d or max steps %d", max_batch,
                      max_steps);
        return NULL;
    }
    snn_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snn_error_set(err, SNN_ENOMEM, "out of memory");
        return NULL;
    }
    e->net = net;
    e->mode = mode;
    e->max_batch = max_batch;
    e->max_steps = max_steps;
    e->max_chunk = mode == SNN_ENGINE_REFERENCE ? 1 : (max_steps < MAX_CHUNK ? max_steps : MAX_CHUNK);
    int64_t mf = kshape_size(&net->input_shape), col = 1;
    for (int s = 0; s < net->nstages; s++) {
        const kstage *st = &net->stages[s];
        if (st->nslots > e->nslots) e->nslots = st->nslots;
        for (int i = 0; i < st->nops; i++) {
            const kop *op = &st->ops[i];
            if (kshape_size(&op->in) > mf) mf = kshape_size(&op->in);
            if (kshape_size(&op->out) > mf) mf = kshape_size(&op->out);
            int frames = st->constant ? 1 : e->max_chunk; /* constant stages run once per image */
            if (kop_scratch_floats(op, frames) > col) col = kop_scratch_floats(op, frames);
        }
    }
    e->max_frame = mf;
    e->forced_cut = -1;
    const int L = net->nlayers, B = max_batch, C = net->nclasses;
    size_t fch = sizeof(float) * (size_t)e->max_chunk * (size_t)mf;
    int ok = (e->v = calloc((size_t)L, sizeof *e->v)) && (e->y = calloc((size_t)L, sizeof *e->y)) &&
             (e->v0 = calloc((size_t)L, sizeof *e->v0)) &&
             (e->fired = calloc((size_t)L, sizeof *e->fired)) &&
             (e->main.spk = calloc((size_t)L, sizeof *e->main.spk)) &&
             (e->lcost = calloc((size_t)L, sizeof *e->lcost)) && lane_alloc(e, &e->main, e->max_chunk, col) == 0 &&
             (e->u0 = calloc((size_t)L, sizeof *e->u0)) &&
             (e->gate = calloc((size_t)net->nstates + 1, sizeof *e->gate)) &&
             (e->x = ealloc(e, sizeof(float) * (size_t)mf)) &&
             (e->acc = ealloc(e, sizeof(float) * (size_t)B * C)) &&
             (e->z = ealloc(e, sizeof(float) * (size_t)C)) &&
             (e->zp = ealloc(e, sizeof(float) * (size_t)C)) &&
             (e->streak = ealloc(e, sizeof(int) * (size_t)B)) &&
             (e->top = ealloc(e, sizeof(int) * (size_t)B)) && (e->stopped = ealloc(e, (size_t)B)) &&
             (e->seen = ealloc(e, (size_t)B));
    for (int i = 0; ok && i < net->nstates; i++)
        ok = (e->gate[i] = ealloc(e, sizeof(float) * (size_t)B * (size_t)net->state_size[i])) != NULL;
    for (int l = 1; ok && l < L; l++) {
        const klayer *ly = &net->layers[l];
        int64_t n = ly->info.neurons;
        if (net->stages[l - 1].constant || net->stages[l - 1].mixed)
            ok = (e->u0[l] = ealloc(e, sizeof(float) * (size_t)(B * n))) != NULL;
        if (ok && net->stages[l - 1].mixed && !e->zero) ok = (e->zero = ealloc(e, fch)) != NULL;
        if (ok && ly->info.kind == SNN_LAYER_NEURONS) {
            ok = (e->v[l] = ealloc(e, sizeof(float) * (size_t)(B * n))) &&
                 (e->v0[l] = ealloc(e, sizeof(float) * (size_t)n)) &&
                 (e->fired[l] = ealloc(e, (size_t)(B * n)));
            if (!ok) break;
            uint64_t s = net->params.v0_seed * 0x100000001B3ull + (uint64_t)l;
            for (int64_t i = 0; i < n; i++) {
                switch (net->params.v0) {
                case SNN_V0_ZERO: e->v0[l][i] = 0.0f; break;
                case SNN_V0_HALF: e->v0[l][i] = 0.5f; break;
                case SNN_V0_UNIFORM:
                    e->v0[l][i] = (float)((splitmix64(&s) >> 40) * (1.0 / 16777216.0));
                    break;
                }
            }
        }
        if (ly->synapse) ok = (e->y[l] = ealloc(e, sizeof(float) * (size_t)(B * n))) != NULL;
    }
    if (ok) ok = plan_spike_buffers(e) == 0;
    if (!ok) {
        snn_engine_free(e);
        snn_error_set(err, SNN_ENOMEM, "engine: out of memory");
        return NULL;
    }
    return e;
}

/* The pipeline's own memory (a team's engine): the side lane, and for
 * every neuron layer two buffers of PIPE_CHUNK frames, one per parity of
 * the chunk, so that the front part writes chunk c while the back part
 * reads chunk c-1. Its frames are not shared between layers: the two
 * parts run at once. */
static int pipe_alloc(snn_engine *e)
{
    const snn_net *net = e->net;
    const int L = net->nlayers, frames = e->max_chunk < PIPE_CHUNK ? e->max_chunk : PIPE_CHUNK;
    int64_t col = 1;
    for (int s = 0; s < net->nstages; s++)
        for (int i = 0; i < net->stages[s].nops; i++) {
            int64_t c = kop_scratch_floats(&net->stages[s].ops[i], net->stages[s].constant ? 1 : frames);
            if (c > col) col = c;
        }
    if (lane_alloc(e, &e->side, frames, col)) return -1; /* its spk: a pspk table */
    if (!(e->fired0 = calloc((size_t)L, sizeof *e->fired0)) ||
        !(e->applied0 = calloc((size_t)L, sizeof *e->applied0)))
        return -1;
    for (int l = 1; l < L; l++)
        if (e->v[l] && !(e->fired0[l] = ealloc(e, (size_t)net->layers[l].info.neurons))) return -1;
    for (int p = 0; p < 2; p++) {
        if (!(e->pspk[p] = calloc((size_t)L, sizeof(float *)))) return -1;
        for (int l = 1; l < L; l++)
            if (e->v[l] && !(e->pspk[p][l] = ealloc(e, sizeof(float) * (size_t)frames *
                                                          (size_t)net->layers[l].info.neurons)))
                return -1;
    }
    return 0;
}

/* Tests: the pipeline's cut (-1: chosen from the first runs' layer times,
 * 0: no pipeline, k: layers 1..k in front). */
void engine_pipe_cut(snn_engine *e, int cut) { e->forced_cut = cut; }

size_t snn_engine_memory_bytes(const snn_engine *e) { return e->bytes + sizeof *e; }

snn_err snn_engine_set_threads(snn_engine *e, int threads, snn_error *err)
{
    if (threads < 1 || threads > KTEAM_MAX)
        return snn_error_set(err, SNN_EINVALID, "engine threads %d not in [1, %d]", threads,
                             KTEAM_MAX);
    if (threads == kteam_size(e->team)) return SNN_OK;
    kteam *t = NULL;
    if (threads > 1 && e->mode == SNN_ENGINE_FAST && !(t = kteam_new(threads)))
        return snn_error_set(err, SNN_ENOMEM, "engine: cannot start %d threads", threads);
    kteam_free(e->team);
    e->team = t;
    e->main.team = t;
    if (t && !e->pipe_ok) {
        if (pipe_alloc(e)) {
            pipe_free(e);
            return snn_error_set(err, SNN_ENOMEM, "engine: out of memory");
        }
        e->pipe_ok = 1;
    }
    return SNN_OK;
}

/* ---- results ---- */

void snn_run_opts_init(snn_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 30;
    o->stats = 1;
    o->raster_layer = -1;
}

void snn_result_deinit(snn_result *r)
{
    if (!r) return;
    free(r->probs);
    free(r->pred);
    free(r->pred_prob);
    free(r->stop_step);
    if (r->layers)
        for (int i = 0; i < r->nlayers; i++) {
            free(r->layers[i].spikes_per_step);
            free(r->layers[i].spikes_by_image);
            free(r->layers[i].fired_by_image);
        }
    free(r->layers);
    free(r->raster.neuron_index);
    free(r->raster.counts);
    memset(r, 0, sizeof *r);
}

snn_err snn_result_init(snn_result *r, const snn_net *net, int max_batch, int max_steps,
                        int raster_neurons)
{
    memset(r, 0, sizeof *r);
    if (max_batch < 1 || max_steps < 1 || raster_neurons < 0 || raster_neurons > 1 << 16)
        return SNN_EINVALID;
    r->max_batch = max_batch;
    r->max_steps = max_steps;
    r->nclasses = net->nclasses;
    r->nlayers = net->nlayers;
    r->raster.layer = -1;
    r->raster.max_neurons = raster_neurons;
    r->raster.nneurons = 0;
    int ok = (r->probs = calloc((size_t)max_steps * max_batch * net->nclasses, sizeof(float))) &&
             (r->pred = calloc((size_t)max_batch, sizeof(int))) &&
             (r->pred_prob = calloc((size_t)max_batch, sizeof(float))) &&
             (r->stop_step = calloc((size_t)max_batch, sizeof(int))) &&
             (r->layers = calloc((size_t)net->nlayers, sizeof *r->layers));
    for (int i = 0; ok && i < net->nlayers; i++)
        ok = (r->layers[i].spikes_per_step = calloc((size_t)max_steps, sizeof(double))) &&
             (r->layers[i].spikes_by_image = calloc((size_t)max_batch, sizeof(double))) &&
             (r->layers[i].fired_by_image = calloc((size_t)max_batch, sizeof(double)));
    if (ok && raster_neurons)
        ok = (r->raster.neuron_index = calloc((size_t)raster_neurons, sizeof(int64_t))) &&
             (r->raster.counts = calloc((size_t)raster_neurons * max_steps, sizeof(uint16_t)));
    if (!ok) {
        snn_result_deinit(r);
        return SNN_ENOMEM;
    }
    return SNN_OK;
}

const float *snn_result_probs(const snn_result *r, int step, int image)
{
    return r->probs + ((size_t)step * r->batch + image) * r->nclasses;
}

int snn_argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* ---- the run ---- */

/* Frame size of operand k of op. */
static int64_t operand_size(const kop *op, int k)
{
    return op->kind == KOP_CONCAT ? (int64_t)op->in.h * op->in.w * op->cin[k] : kshape_size(&op->in);
}

/* Op i of a stage is a pool that only the next op, a conv, reads: the two
 * run as one (kop_apply_pool_conv). */
static int pool_fused(const kstage *st, int i)
{
    if (i + 1 >= st->nops || !kop_pool_fuses(&st->ops[i], &st->ops[i + 1]) ||
        st->ops[i + 1].src[0] != i)
        return 0;
    for (int k = i + 2; k < st->nops; k++)
        for (int q = 0; q < st->ops[k].nin; q++)
            if (st->ops[k].src[q] == i) return 0;
    return 1;
}

/* Apply a stage to tc frames of its sources (srcs[k]: the frames of layer
 * st->src[k]) for image b; returns the output frames and adds to *applied
 * the synaptic events its conv and dense ops applied (non-zero inputs x
 * kop.fanout). */
static const float *run_stage(snn_engine *e, const lane *ln, const kstage *st,
                              const float *const *srcs, int tc, int b, double *applied)
{
    const float *out = NULL;
    const int ref = e->mode == SNN_ENGINE_REFERENCE;
    for (int i = 0; i < st->nops; i++) {
        const kop *op = &st->ops[i];
        const float *in[KOP_MAX_IN];
        for (int k = 0; k < op->nin; k++)
            in[k] = op->src[k] >= 0 ? ln->slot[st->ops[op->src[k]].slot] : srcs[-1 - op->src[k]];
        float *dst = ln->slot[op->slot];
        if (op->state >= 0) {
            float *g = e->gate[op->state] + (size_t)b * (size_t)e->net->state_size[op->state];
            kop_maxpool_gate(op, in[0], dst, tc, g, ref);
        } else if (ref) {
            const int64_t osz = kshape_size(&op->out);
            for (int f = 0; f < tc; f++) {
                const float *inf[KOP_MAX_IN];
                for (int k = 0; k < op->nin; k++) inf[k] = in[k] + f * operand_size(op, k);
                kop_apply_ref(op, inf, dst + f * osz, 0);
            }
            if (op->fanout > 0)
                *applied += (double)kop_count_nonzero(in[0], tc * kshape_size(&op->in)) * op->fanout;
        } else if (pool_fused(st, i)) {
            const kop *conv = &st->ops[++i];
            float *cdst = ln->slot[conv->slot];
            *applied += (double)kop_apply_pool_conv(op, conv, in[0], dst, cdst, tc, ln->col, ln->team) *
                        conv->fanout;
            dst = cdst;
        } else {
            *applied += (double)kop_apply_team(op, in, dst, tc, ln->col, ln->team) * op->fanout;
        }
        out = dst;
    }
    return out;
}

static void softmax(const float *z, float *p, int n)
{
    float m = z[0];
    for (int i = 1; i < n; i++)
        if (z[i] > m) m = z[i];
    double s = 0;
    for (int i = 0; i < n; i++) s += (p[i] = expf(z[i] - m));
    for (int i = 0; i < n; i++) p[i] = (float)(p[i] / s);
}

/* The stop rule. Steps before the readout has received any input (the
 * synapse delays of the first steps show only the biases) never count. */
static int early_exit_check(snn_engine *e, const snn_early_exit *ee, int b, const float *p, int n,
                            int step, int informed)
{
    if (!informed) {
        e->streak[b] = 0;
        e->top[b] = -1;
        return 0;
    }
    int top = snn_argmax(p, n);
    float second = 0;
    for (int i = 0; i < n; i++)
        if (i != top && p[i] > second) second = p[i];
    if (step == 0 || top != e->top[b]) e->streak[b] = 0;
    e->top[b] = top;
    if (p[top] >= ee->min_prob && p[top] - second >= ee->min_margin) e->streak[b]++;
    else e->streak[b] = 0;
    return e->streak[b] >= ee->patience && step + 1 >= ee->min_steps;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The RN neurons a raster shows, of a layer of N = P positions x C channels
 * (frame index p*C + c, channels last): sample k takes position
 * floor(k*P/RN) and channel k mod C, so the sample covers every channel and
 * the whole image. Evenly spaced indices alone alias: conv1 of the CIFAR-10
 * nets has 32 channels and 32768/512 = 64, so every sample would be channel
 * 0, which may never fire. Distinct because RN <= N; stored ascending. */
static void raster_sample(int64_t N, int C, int rn, int64_t *idx)
{
    if (C < 1 || N % C) C = 1;
    int64_t P = N / C;
    for (int k = 0; k < rn; k++) idx[k] = (int64_t)k * P / rn * C + k % C;
    qsort(idx, (size_t)rn, sizeof *idx, cmp_i64);
}

/* One run's chunk in progress: what run_layer needs besides the engine. */
typedef struct run_ctx {
    const snn_run_opts *o;
    snn_result *res;
    int batch, early;
    int t0, tc;                 /* the chunk: steps [t0, t0 + tc) */
    int alive;                  /* images not stopped */
} run_ctx;

/* Layer l of image b advances the chunk's steps on lane ln: its stage over
 * the frames of its sources, then its neurons into its own frames (or, for
 * the output, the readout and the probabilities of each step). */
static void run_layer(snn_engine *e, const lane *ln, run_ctx *r, int l, int b)
{
    const snn_net *net = e->net;
    const snn_run_opts *o = r->o;
    snn_result *res = r->res;
    snn_raster *ras = &res->raster;
    const int C = net->nclasses, batch = r->batch, early = r->early, t0 = r->t0, tc = r->tc;
    const float dt = (float)net->params.dt;
    const float fa = (float)net->filt_a, fb = (float)net->filt_b;
    const klayer *ly = &net->layers[l];
    const kstage *st = &net->stages[l - 1];
    const int64_t n = ly->info.neurons;
    const float *U;          /* stage output frames (stride n), or the constant u0 */
    const float *bias = st->bias; /* mixed: the image's part too */
    int64_t ustride = n;
    if (st->constant) {
        U = e->u0[l] + (size_t)b * n;
        ustride = 0;
    } else {
        const float *srcs[KOP_MAX_IN];
        for (int k = 0; k < st->nsrc; k++) srcs[k] = st->src[k] ? ln->spk[st->src[k]] : e->zero;
        double applied = 0;
        U = run_stage(e, ln, st, srcs, tc, b, &applied);
        res->layers[l].syn_applied += applied;
        if (st->mixed) bias = e->u0[l] + (size_t)b * n;
    }
    float *ystate = e->y[l] ? e->y[l] + (size_t)b * n : NULL;
    if (ly->info.kind == SNN_LAYER_OUTPUT) {
        float *acc = e->acc + (size_t)b * C;
        for (int t = 0; t < tc; t++) {
            const float *u = U + t * ustride;
            int step = t0 + t, nz = 0;
            for (int c = 0; c < C; c++) nz |= u[c] != 0.0f;
            /* with a synapse the readout sees this input next step */
            int informed = ystate && net->params.readout != SNN_READOUT_MEAN
                               ? e->seen[b]
                               : (e->seen[b] | nz);
            e->seen[b] |= nz;
            if (net->params.readout == SNN_READOUT_MEAN) {
                for (int c = 0; c < C; c++) {
                    acc[c] += u[c];
                    e->z[c] = acc[c] / (float)(step + 1) + bias[c];
                }
            } else if (ystate) {
                for (int c = 0; c < C; c++) {
                    e->z[c] = ystate[c] + bias[c];
                    ystate[c] = fa * ystate[c] + fb * u[c];
                }
            } else {
                for (int c = 0; c < C; c++) e->z[c] = u[c] + bias[c];
            }
            float *p = res->probs + ((size_t)step * batch + b) * C;
            if (net->out_perm) { /* classes in the output's ONNX order */
                for (int c = 0; c < C; c++) e->zp[c] = e->z[net->out_perm[c]];
                softmax(e->zp, p, C);
            } else {
                softmax(e->z, p, C);
            }
            if (!e->stopped[b] && early &&
                early_exit_check(e, &o->early_exit, b, p, C, step, informed)) {
                e->stopped[b] = 1;
                res->stop_step[b] = step + 1;
                r->alive--;
            }
        }
        return;
    }
    /* neuron layer: tc steps into its spike frames */
    neuron_job nj = {.net = net, .ly = ly, .n = n, .ustride = ustride, .tc = tc,
                     .U = U, .bias = bias, .y = ystate, .v = e->v[l] + (size_t)b * n,
                     .J = ln->J, .out = ln->spk[l], .fired = e->fired[l] + (size_t)b * n,
                     .dt = dt, .fa = fa, .fb = fb, .jmax = JMAX_NONE, .kcap = KCAP_NONE};
    if (ly->clip_max > 0 && net->params.neuron == SNN_NEURON_IF) {
        /* the ceiling as spikes per step (at least one) */
        double kc = floor((double)ly->clip_max / ly->amplitude * dt + 1e-4);
        nj.kcap = kc < 1 ? 1 : kc > 1e6 ? 1000000 : (int32_t)kc;
    } else if (ly->clip_max > 0) {
        nj.jmax = ly->clip_max / ly->amplitude;
    }
    int np = ln->team ? (int)((n + NEURONS_PER_PART - 1) / NEURONS_PER_PART) : 1;
    if (np > KTEAM_PARTS) np = KTEAM_PARTS;
    kteam_run(ln->team, neuron_job_run, &nj, np);
    if (!snn_neuron_spikes(net->params.neuron)) return;
    for (int t = 0; t < tc; t++) {
        if (o->stats)
            for (int i = 0; i < np; i++) {
                res->layers[l].spikes_per_step[t0 + t] += nj.k[i][t];
                res->layers[l].spikes_by_image[b] += nj.k[i][t];
            }
        if (b == 0 && ras->layer == l) {
            const float *s = ln->spk[l] + t * n;
            uint16_t *row = ras->counts + (size_t)(t0 + t) * ras->nneurons;
            float inv = dt / ly->amplitude;
            for (int q = 0; q < ras->nneurons; q++) {
                float c = s[ras->neuron_index[q]] * inv + 0.5f;
                row[q] = c > 65535.0f ? 65535 : (uint16_t)c;
            }
        }
    }
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the pipeline ----
 *
 * DESIGN: one image (batch 1) on a team is cut in two parts by layer, a
 * front (layers 1..cut) and a back (the rest, the readout included): the
 * caller runs the front's chunk c with the team while a helper runs the
 * back's chunk c-1 in its own lane (kteam_side), then joins the front's
 * jobs; one hand-over per chunk instead of a fork-join per op only. Each
 * layer's frames have two buffers, by the parity of the chunk, so the
 * back reads chunk c-1 while the front writes chunk c. Every layer still
 * sees the same frames in the same order, so the results are the 1-thread
 * run's bit for bit. The cut balances the two parts by the layer times of
 * the engine's first PIPE_PROBES team runs (which run unpipelined). An
 * early exit is decided by the readout, in the back, a chunk late: the
 * front's chunk beyond the stop is then undone where it shows (its spike
 * counts, fired flags and raster rows), and its states, which the run
 * does not return, are reset by the next run. */

/* The cut minimising the larger part, by the probes' layer times. */
static int pipe_cut(const snn_engine *e)
{
    const int S = e->net->nstages;
    double total = 0, front = 0, best = 1e300;
    int cut = 0;
    for (int l = 1; l <= S; l++) total += e->lcost[l];
    for (int k = 1; k < S; k++) {
        front += e->lcost[k];
        double m = front > total - front ? front : total - front;
        if (m < best) {
            best = m;
            cut = k;
        }
    }
    return cut;
}

/* The cut a run uses: the test's, else the engine's own. */
static int cut_now(const snn_engine *e) { return e->forced_cut >= 0 ? e->forced_cut : e->cut; }

/* The chunk of a run starting at step t0. */
static int chunk_at(int t0, int chunk, int steps) { return t0 + chunk <= steps ? chunk : steps - t0; }

static int pipelined(const snn_engine *e, int batch, int chunk)
{
    const int cut = cut_now(e);
    return e->team && e->pipe_ok && e->mode == SNN_ENGINE_FAST && batch == 1 && chunk <= PIPE_CHUNK && cut >= 1 && cut < e->net->nstages;
}

typedef struct back_job {
    snn_engine *e;
    run_ctx r;
    int cut;
} back_job;

static void back_run(void *arg, int part, int nparts)
{
    back_job *j = arg;
    for (int l = j->cut + 1; l <= j->e->net->nstages; l++) run_layer(j->e, &j->e->side, &j->r, l, 0);
}

/* Undo the front's chunk r->t0.. of a run that stopped before it. */
static void front_undo(snn_engine *e, const run_ctx *r, int cut)
{
    snn_result *res = r->res;
    for (int l = 1; l <= cut; l++) {
        snn_layer_stats *ls = &res->layers[l];
        ls->syn_applied = e->applied0[l];
        if (!e->v[l]) continue;
        memcpy(e->fired[l], e->fired0[l], (size_t)e->net->layers[l].info.neurons);
        for (int t = r->t0; t < r->t0 + r->tc; t++) {
            ls->spikes_by_image[0] -= ls->spikes_per_step[t]; /* integers: exact */
            ls->spikes_per_step[t] = 0;
            if (res->raster.layer == l)
                memset(res->raster.counts + (size_t)t * res->raster.nneurons, 0,
                       sizeof(uint16_t) * (size_t)res->raster.nneurons);
        }
    }
}

/* The whole run, pipelined; returns the steps run, -1 if cancelled. */
static int run_pipelined(snn_engine *e, run_ctx *r, int steps, int chunk)
{
    const int cut = cut_now(e);
    const int nchunks = (steps + chunk - 1) / chunk;
    lane front = e->main;
    back_job bj = {.e = e, .cut = cut};
    for (int c = 0; c <= nchunks; c++) {
        if (c > 0) { /* the back: chunk c-1 */
            bj.r = *r;
            bj.r.t0 = (c - 1) * chunk;
            bj.r.tc = chunk_at(bj.r.t0, chunk, steps);
            e->side.spk = e->pspk[(c - 1) & 1];
            kteam_side(e->team, back_run, &bj);
        }
        if (c < nchunks) { /* the front: chunk c */
            r->t0 = c * chunk;
            r->tc = chunk_at(r->t0, chunk, steps);
            front.spk = e->pspk[c & 1];
            for (int l = 1; r->early && l <= cut; l++) {
                e->applied0[l] = r->res->layers[l].syn_applied;
                if (e->v[l]) memcpy(e->fired0[l], e->fired[l], (size_t)e->net->layers[l].info.neurons);
            }
            for (int l = 1; l <= cut; l++) run_layer(e, &front, r, l, 0);
        }
        if (c > 0) {
            kteam_side_wait(e->team);
            r->alive = bj.r.alive;
            const snn_run_opts *o = r->o;
            if (o->cb && o->cb(o->cb_ud, r->res, bj.r.t0, bj.r.t0 + bj.r.tc)) return -1;
            if (!r->alive) {
                if (c < nchunks) front_undo(e, r, cut);
                return bj.r.t0 + bj.r.tc;
            }
        }
    }
    return steps;
}

snn_err snn_engine_run(snn_engine *e, const float *input, int batch, const snn_run_opts *o,
                       snn_result *res, snn_error *err)
{
    const snn_net *net = e->net;
    const int C = net->nclasses, S = net->nstages;
    if (batch < 1 || batch > e->max_batch || batch > res->max_batch)
        return snn_error_set(err, SNN_ELIMIT, "batch %d exceeds the engine's maximum %d", batch,
                             e->max_batch < res->max_batch ? e->max_batch : res->max_batch);
    if (o->steps < 1 || o->steps > e->max_steps || o->steps > res->max_steps)
        return snn_error_set(err, SNN_ELIMIT, "steps %d not in [1, %d]", o->steps,
                             e->max_steps < res->max_steps ? e->max_steps : res->max_steps);
    if (o->raster_layer >= net->nlayers ||
        (o->raster_layer >= 0 && net->layers[o->raster_layer].info.kind != SNN_LAYER_NEURONS))
        return snn_error_set(err, SNN_EINVALID, "raster layer %d is not a neuron layer",
                             o->raster_layer);
    const int steps = o->steps;
    const int early = o->early_exit.patience > 0;
    int chunk = o->chunk > 0 ? o->chunk : early ? DEFAULT_CHUNK_EARLY : DEFAULT_CHUNK;
    if (chunk > e->max_chunk) chunk = e->max_chunk;
    res->batch = batch;
    res->steps = steps;
    for (int l = 0; l < net->nlayers; l++) {
        snn_layer_stats *ls = &res->layers[l];
        ls->neurons = net->layers[l].info.neurons;
        ls->spikes = ls->fired_neurons = ls->syn_events = ls->syn_applied = 0;
        memset(ls->spikes_per_step, 0, sizeof(double) * (size_t)res->max_steps);
        memset(ls->spikes_by_image, 0, sizeof(double) * (size_t)res->max_batch);
        memset(ls->fired_by_image, 0, sizeof(double) * (size_t)res->max_batch);
    }
    snn_raster *ras = &res->raster;
    ras->layer = -1;
    int rn = 0;
    if (o->raster_layer >= 0 && ras->max_neurons > 0) {
        ras->layer = o->raster_layer;
        int64_t N = net->layers[o->raster_layer].info.neurons;
        rn = o->raster_neurons > 0 && o->raster_neurons < ras->max_neurons ? o->raster_neurons
                                                                          : ras->max_neurons;
        if (rn > N) rn = (int)N;
        raster_sample(N, net->layers[o->raster_layer].info.c, rn, ras->neuron_index);
        memset(ras->counts, 0, sizeof(uint16_t) * (size_t)ras->max_neurons * res->max_steps);
    }
    ras->nneurons = rn; /* this run's count; the capacity stays max_neurons */

    /* per-image initial state and the constant stages' outputs */
    const kshape *ish = &net->input_shape;
    for (int b = 0; b < batch; b++) {
        const float *in = input + (size_t)b * kshape_size(ish);
        if (net->input_nchw && ish->spatial) {
            for (int c = 0; c < ish->c; c++)
                for (int y = 0; y < ish->h; y++)
                    for (int x = 0; x < ish->w; x++)
                        e->x[((size_t)y * ish->w + x) * ish->c + c] = in[((size_t)c * ish->h + y) * ish->w + x];
        } else {
            memcpy(e->x, in, sizeof(float) * (size_t)kshape_size(ish));
        }
        for (int l = 1; l < net->nlayers; l++) {
            int64_t n = net->layers[l].info.neurons;
            const kstage *st = &net->stages[l - 1];
            double applied = 0; /* the image's dense pass, once */
            if (st->constant) {
                const float *srcs[KOP_MAX_IN] = {e->x};
                const float *u = run_stage(e, &e->main, st, srcs, 1, b, &applied);
                memcpy(e->u0[l] + (size_t)b * n, u, sizeof(float) * (size_t)n);
            } else if (st->mixed) { /* the image's part, neurons at zero, plus the bias */
                const float *srcs[KOP_MAX_IN];
                for (int k = 0; k < st->nsrc; k++) srcs[k] = st->src[k] ? e->zero : e->x;
                const float *u = run_stage(e, &e->main, st, srcs, 1, b, &applied);
                float *d = e->u0[l] + (size_t)b * n;
                for (int64_t i = 0; i < n; i++) d[i] = u[i] + st->bias[i];
            }
            res->layers[l].syn_applied += applied;
            if (e->v[l]) {
                memcpy(e->v[l] + (size_t)b * n, e->v0[l], sizeof(float) * (size_t)n);
                memset(e->fired[l] + (size_t)b * n, 0, (size_t)n);
            }
            if (e->y[l]) memset(e->y[l] + (size_t)b * n, 0, sizeof(float) * (size_t)n);
        }
        for (int i = 0; i < net->nstates; i++)
            memset(e->gate[i] + (size_t)b * (size_t)net->state_size[i], 0,
                   sizeof(float) * (size_t)net->state_size[i]);
        memset(e->acc + (size_t)b * C, 0, sizeof(float) * C);
        e->stopped[b] = 0;
        e->seen[b] = 0;
        e->streak[b] = 0;
        e->top[b] = -1;
        res->stop_step[b] = steps;
    }

    run_ctx r = {.o = o, .res = res, .batch = batch, .early = early, .alive = batch};
    int last_step = 0;
    if (pipelined(e, batch, chunk)) {
        last_step = run_pipelined(e, &r, steps, chunk);
        if (last_step < 0) return snn_error_set(err, SNN_ECANCELLED, "run cancelled");
    }
    const int probe = e->team && e->pipe_ok && e->forced_cut < 0 && e->probes < PIPE_PROBES;
    for (int t0 = last_step; t0 < steps && r.alive > 0; t0 += chunk) {
        r.t0 = t0;
        r.tc = chunk_at(t0, chunk, steps);
        for (int b = 0; b < batch; b++) {
            if (e->stopped[b]) continue;
            for (int l = 1; l <= S; l++) {
                double c0 = probe ? mono_now() : 0;
                run_layer(e, &e->main, &r, l, b);
                if (probe) e->lcost[l] += mono_now() - c0;
            }
        }
        last_step = t0 + r.tc;
        if (o->cb && o->cb(o->cb_ud, res, t0, t0 + r.tc)) return snn_error_set(err, SNN_ECANCELLED, "run cancelled");
    }
    if (probe && ++e->probes == PIPE_PROBES) e->cut = pipe_cut(e);

    /* steps actually simulated; hold stopped images' last probabilities */
    int maxstop = 0;
    for (int b = 0; b < batch; b++)
        if (res->stop_step[b] > maxstop) maxstop = res->stop_step[b];
    if (maxstop > last_step) maxstop = last_step;
    res->steps = maxstop;
    for (int b = 0; b < batch; b++) {
        int sb = res->stop_step[b];
        for (int t = sb; t < res->steps; t++)
            memcpy(res->probs + ((size_t)t * batch + b) * C,
                   res->probs + ((size_t)(sb - 1) * batch + b) * C, sizeof(float) * C);
        int k = o->mean_last_k > 1 ? o->mean_last_k : 1;
        if (k > sb) k = sb;
        for (int c = 0; c < C; c++) e->z[c] = 0;
        for (int t = sb - k; t < sb; t++) {
            const float *p = res->probs + ((size_t)t * batch + b) * C;
            for (int c = 0; c < C; c++) e->z[c] += p[c] / (float)k;
        }
        res->pred[b] = snn_argmax(e->z, C);
        res->pred_prob[b] = e->z[res->pred[b]];
    }
    if (o->stats) {
        for (int l = 1; l < net->nlayers; l++) {
            snn_layer_stats *ls = &res->layers[l];
            if (!e->fired[l]) continue;
            for (int t = 0; t < res->steps; t++) ls->spikes += ls->spikes_per_step[t];
            int64_t n = ls->neurons;
            for (int b = 0; b < batch; b++) {
                const uint8_t *f = e->fired[l] + (size_t)b * n;
                int64_t c = 0;
                for (int64_t i = 0; i < n; i++) c += f[i];
                ls->fired_neurons += (double)c;
                ls->fired_by_image[b] = (double)c;
            }
            ls->syn_events = n > 0 ? ls->spikes * (double)net->layers[l].info.fanout_total / (double)n : 0;
        }
    }
    return SNN_OK;
}
