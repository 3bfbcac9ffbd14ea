/* engine.h: the converted spiking network and its simulation.
 *
 * DESIGN: three objects with clear lifetimes.
 *  - snn_net: the converted network (conversion parameters applied to a
 *    model's graph, kernels planned, weights re-laid out). Immutable after
 *    snn_net_new(); one per (model, conversion parameters); shared read-only
 *    by any number of threads.
 *  - snn_engine: per-thread run state for one net (neuron voltages, synapse
 *    state, scratch buffers) sized for a maximum batch and step count at
 *    creation. snn_engine_run() does not allocate.
 *  - snn_result: what a run produced (per-step probabilities, predictions,
 *    spike statistics). Caller's storage, sized by snn_result_init().
 *
 * A run simulates `steps` timesteps of dt seconds for a batch of images
 * (the input is constant over time). The network is a DAG planned from
 * the model's graph: neuron layers (its ReLU/Clip nodes) each fed by a
 * stage of linear ops (Conv of any group, Gemm, pooling, reshapes, joins by
 * Add/Sum and Concat, the max-pool gate) reading earlier layers; the last
 * stage feeds the softmax readout. Time is processed in chunks: each layer advances all
 * steps of a chunk before the next layer starts (one large matrix product
 * per layer instead of one per step), and input spikes that are sparse are
 * propagated event by event (work proportional to spikes, not neurons).
 * The result is the same for every chunk size; chunk 1 is the per-step
 * simulation used for streaming. SNN_ENGINE_REFERENCE selects the plain
 * scalar reference simulation that tests compare against.
 */
#ifndef SNN_ENGINE_H
#define SNN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "snn/convert.h"
#include "snn/error.h"
#include "snn/model.h"

typedef struct snn_net snn_net;
typedef struct snn_engine snn_engine;

typedef enum {
    SNN_LAYER_INPUT,       /* the input image */
    SNN_LAYER_NEURONS,     /* a spiking (or rate) neuron layer after a linear stage */
    SNN_LAYER_OUTPUT       /* the readout after the last linear stage */
} snn_layer_kind;

typedef struct snn_layer_info {
    char name[SNN_LAYER_NAME_MAX];  /* e.g. "conv1", from the producing node */
    snn_layer_kind kind;
    char ops[128];                  /* the stage's ops, e.g. "AveragePool+Conv" */
    char inputs[128];               /* the layers the stage reads, e.g. "conv1,b1c2" */
    int c, h, w;                    /* output shape (h = w = 1 for dense) */
    int64_t neurons;                /* c*h*w */
    int64_t params;                 /* weights + biases of the stage */
    int64_t macs;                   /* multiply-accumulates of the stage per image */
    int64_t fanout_total;           /* synaptic connections leaving this layer */
    float scale;                    /* effective scale_firing_rates (gain) */
    float threshold;                /* activation scale one spike carries (1 = nengo) */
    int synapse_in;                 /* 1 when the stage input is filtered */
} snn_layer_info;

/* Convert and plan. new, caller frees with snn_net_free. Errors name the
 * op and node that cannot be converted. */
snn_net *snn_net_new(const snn_model *m, const snn_convert_params *p,
                     snn_error *err);
void snn_net_free(snn_net *n);

int snn_net_nlayers(const snn_net *n);
const snn_layer_info *snn_net_layer(const snn_net *n, int i);
int snn_net_find_layer(const snn_net *n, const char *name);   /* -1 if none */
int snn_net_nclasses(const snn_net *n);
size_t snn_net_input_size(const snn_net *n);
const snn_convert_params *snn_net_params(const snn_net *n);
const snn_model *snn_net_model(const snn_net *n);
/* What the conversion changed in the network's function (e.g. a MaxPool
 * planned as AveragePool with maxpool=avg), one sentence each, to be shown
 * wherever the net is described. Borrowed, valid while n lives; NULL when
 * i is out of range. */
int snn_net_nnotes(const snn_net *n);
const char *snn_net_note(const snn_net *n, int i);
size_t snn_net_memory_bytes(const snn_net *n);   /* weights and plans */

typedef enum {
    SNN_ENGINE_FAST,       /* chunked, BLAS and event-driven (default) */
    SNN_ENGINE_REFERENCE   /* per step, per neuron, dense scalar code */
} snn_engine_mode;

/* new, caller frees with snn_engine_free. net is borrowed and must outlive
 * the engine. */
snn_engine *snn_engine_new(const snn_net *net, int max_batch, int max_steps,
                           snn_engine_mode mode, snn_error *err);
void snn_engine_free(snn_engine *e);
size_t snn_engine_memory_bytes(const snn_engine *e);
/* Threads one run of e uses (default 1: the caller's). With more, the
 * caller's thread and threads - 1 helpers owned by e share each layer's
 * neurons, each frame's event list and gather and each dense scatter, so
 * a batch of one image keeps several cores busy (the streaming case); the
 * results are the same bit for bit. Fast mode only (reference runs stay on
 * the caller's thread). Not while a run is in progress; threads in [1, 16]. */
snn_err snn_engine_set_threads(snn_engine *e, int threads, snn_error *err);

/* Per-layer spike statistics, summed over the images of a run. */
typedef struct snn_layer_stats {
    int64_t neurons;            /* per image */
    double spikes;              /* total spikes, all images and steps */
    double *spikes_per_step;    /* [steps], all images */
    double fired_neurons;       /* neurons that spiked at least once, summed over images */
    double syn_events;          /* spikes x fan-out: synaptic events caused (the energy
                                 * model's count: through a pool, a spike's share of the
                                 * pooled input's fan-out) */
    double syn_applied;         /* synaptic events the kernels applied computing this
                                 * layer's input: each non-zero input element of a conv or
                                 * dense op (after a pool: of the pool's output) x its
                                 * fan-out (taps inside the frame x output channels), the
                                 * image's dense pass included; all images */
    double *spikes_by_image;    /* [batch] spikes of each image, all its steps */
    double *fired_by_image;     /* [batch] neurons of each image that spiked at least once */
} snn_layer_stats;

typedef struct snn_raster {
    int layer;                  /* layer index, -1 = none */
    int max_neurons;            /* capacity (snn_result_init); a run never changes it */
    int nneurons;               /* sampled by the last run: spread over positions and channels */
    int64_t *neuron_index;      /* [nneurons] ascending channels-last (HWC) frame indices */
    uint16_t *counts;           /* [steps x nneurons] spikes of image 0 (capacity max_neurons) */
} snn_raster;

typedef struct snn_result {
    int max_steps, max_batch, nclasses, nlayers;
    int steps;                  /* steps simulated (<= requested with early exit) */
    int batch;
    float *probs;               /* [steps x batch x nclasses] */
    int *pred;                  /* [batch] argmax at the stop step (or mean of last K) */
    float *pred_prob;           /* [batch] its probability */
    int *stop_step;             /* [batch] step count after which each image stopped */
    snn_layer_stats *layers;    /* [nlayers]; SNN_LAYER_NEURONS entries filled */
    snn_raster raster;
} snn_result;

/* Called after each chunk of steps for streaming: steps [first, last) are
 * final in res->probs. Return nonzero to cancel the run (SNN_ECANCELLED). */
typedef int (*snn_step_cb)(void *ud, const snn_result *res, int first,
                           int last);

typedef struct snn_run_opts {
    int steps;                  /* timesteps to simulate */
    int chunk;                  /* steps per chunk; 0 = the engine's (8, 4 with early exit) */
    int mean_last_k;            /* prediction from the mean of the last K steps (0/1 = last) */
    snn_early_exit early_exit;  /* patience 0 = off */
    int stats;                  /* gather spike statistics */
    int raster_layer;           /* -1 = none */
    int raster_neurons;
    snn_step_cb cb;
    void *cb_ud;
} snn_run_opts;

void snn_run_opts_init(snn_run_opts *o);   /* steps 30, chunk 0, stats 1, no raster */

/* Sized for an engine's max batch and steps. _init/_deinit: caller's storage. */
snn_err snn_result_init(snn_result *r, const snn_net *net, int max_batch,
                        int max_steps, int raster_neurons);
void snn_result_deinit(snn_result *r);

/* Simulate `batch` preprocessed inputs (batch x snn_net_input_size floats). */
snn_err snn_engine_run(snn_engine *e, const float *input, int batch,
                       const snn_run_opts *o, snn_result *res,
                       snn_error *err);

/* Kernel choice for benchmarks and tests (process-wide): adaptive picks
 * BLAS, the event-driven gather or the event-driven scatter per frame by
 * input density; dense always BLAS; scatter always the scatter; gather:
 * convolutions always by the gather (dense layers adaptive). */
typedef enum {
    SNN_KERNELS_ADAPTIVE,
    SNN_KERNELS_DENSE,
    SNN_KERNELS_SCATTER,
    SNN_KERNELS_GATHER
} snn_kernel_mode;
void snn_kernels_set(snn_kernel_mode mode);

/* Threads OpenBLAS may use inside one call (1 inside worker pools, so the
 * pool and BLAS do not oversubscribe the cores). */
void snn_blas_threads(int n);

/* The kernels this process computes with, for logs and reports, e.g.
 * "simd avx512, openblas SkylakeX" (src/sim/blas_core.c: how OpenBLAS's core
 * is chosen). */
const char *snn_kernels_describe(void);

/* OpenBLAS may not know this CPU's model and fall back to generic SSE3
 * kernels (0.3.21 on Emerald Rapids). snn_blas_core_wanted() names the
 * core it should use instead (NULL: its choice is fine);
 * snn_blas_core_fix(argv), called first in a program's main(), re-runs
 * the program once with OPENBLAS_CORETYPE set to that core (it returns
 * when there is nothing to fix, or SNN_BLAS_CORE=keep). */
const char *snn_blas_core_wanted(void);
void snn_blas_core_fix(char **argv);

/* Helpers on results. */
const float *snn_result_probs(const snn_result *r, int step, int image);
int snn_argmax(const float *v, int n);

#endif
