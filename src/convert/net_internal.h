/* net_internal.h: PRIVATE to libsnn. The planned spiking network: a DAG of
 * neuron layers, each fed by a stage of linear ops, and the kernels.
 *
 * DESIGN: the converted network is planned from the graph IR that the ANN
 * interpreter runs (graph.h), with its shape rules (graph_infer_all):
 *  - layers: the graph input (layer 0), one neuron layer per ReLU/Clip node
 *    (in node order; an activation whose only reader is another one, as in
 *    torch's ReLU6 export Relu -> Clip(0, 6), is part of that layer), and
 *    the readout (the graph output, or the input of a final Softmax), whose
 *    classes are presented in the output tensor's ONNX order (out_perm);
 *    the layers a stage reads are named in snn_layer_info.inputs;
 *  - stages: stage i feeds layer i+1. It is the sub-DAG of linear nodes
 *    between that layer's input tensor and the neuron layers (its sources)
 *    it reads: Conv (any group), Gemm/MatMul, AveragePool,
 *    GlobalAveragePool, Pad, per-channel affine (BatchNormalization not
 *    folded into a Conv/Dense, Add/Mul by constants), joins (Add/Sum of
 *    activations: an n-ary sum; Concat: each input at its channel offset),
 *    and the max-pool gate; Flatten/Reshape/Transpose only change the
 *    layout bookkeeping. A value used by two stages is computed by each.
 *    All biases of a stage are folded into one offset vector `bias` =
 *    stage(0), computed at plan time; at run time a stage applies only the
 *    linear part U = L(sources); the neurons then take J = gain*(U' + bias),
 *    where U' is U itself (no synapse) or the lowpass-filtered U of the
 *    previous step. A stage that joins the image with neuron paths is run
 *    as two: the image's part once per image, added unfiltered (nengo
 *    filters only connections from neurons), and the neurons' part per
 *    step, filtered; the stage's ops are then all linear (no MaxPool).
 *    A chain network is the special case of one source per
 *    stage and a list of ops, and runs exactly as it did before the DAG. A
 *    layer read as is (neurons on another layer's spikes) has an Identity
 *    stage.
 *  - nengo mode (nengo_dl.Converter on the same Keras graph): every
 *    activation is an ensemble (a neuron layer here); Add/Concatenate and
 *    pooling/flatten layers are pass-through nodes with no synapse of their
 *    own; every connection whose source is neurons, including each input of
 *    an Add/Concat pass-through node that comes from neurons, carries the
 *    lowpass synapse (one-step delay). Since the filter is linear and the
 *    same on every such connection, filtering the stage output of a layer
 *    whose sources are all neurons equals nengo's per-connection filters:
 *    one synapse, one delay, per neuron-to-neuron path. A stage whose only
 *    source is the input image has no synapse and is computed once per
 *    image; in a stage that joins the image with neuron paths only the
 *    neurons' part is filtered.
 *  - MaxPool is the one nonlinear op a stage may hold. Spiking (default
 *    `maxpool=gated`): each window passes the input of its leader, the
 *    element with the highest input accumulated since the first step
 *    (Rueckauer et al. 2017: the most active neuron so far), which changes
 *    only when another one overtakes it, so the output counts exactly the
 *    spikes of the most active input; rate mode (neuron relu) takes the
 *    exact max. It commutes with the stage offsets when the offset at its
 *    input is constant per channel (max(x + o) = max(x) + o); otherwise (a
 *    Pad or a bordered pool before it) the op keeps the offsets at its
 *    input (w) and output (b) and passes x + w less b, so the stage stays
 *    exact. `maxpool=avg` plans an AveragePool instead (nengo_dl's
 *    max_to_avg_pool) and records that substitution in the net's notes
 *    (snn_net_note).
 *  - Clip(0, m) neurons clamp their input current to m / amplitude: their
 *    rate never exceeds the clipped activation.
 *
 * Tensors are per image and per timestep "frames": spatial frames are
 * height x width x channels (channels innermost, so one input event scatters
 * a contiguous row of weights), flat frames are vectors. Conv weights are
 * stored [kh][kw][cin/group][cout], Dense weights [in][out]: one layout
 * serves the im2col GEMM and the event-driven gather/scatter.
 */
#ifndef SNN_NET_INTERNAL_H
#define SNN_NET_INTERNAL_H

#include <stdint.h>

#include "snn/engine.h"

typedef enum {
    KOP_CONV,        /* 2-D convolution, any group (depthwise: cin/group = 1) */
    KOP_AVGPOOL,     /* average pooling (GlobalAveragePool, MaxPool with maxpool=avg) */
    KOP_MAXPOOL,     /* max pooling: the spiking gate, or the exact max (rate, constant input) */
    KOP_PAD,         /* zero padding of a spatial frame */
    KOP_DENSE,       /* fully connected; input flat (spatial frames read in HWC order) */
    KOP_CHAFFINE,    /* per-channel (or per-element for flat) scale; bias separate */
    KOP_ADD,         /* sum of nin operands of one shape */
    KOP_CONCAT       /* operands placed at channel offsets coff[k] (flat: element offsets) */
} kop_kind;

#define KOP_MAX_IN 8

typedef struct kshape {
    int c, h, w;     /* flat tensors: c = size, h = w = 1 */
    int spatial;     /* 1 when h, w are meaningful (HWC layout) */
} kshape;

static inline int64_t kshape_size(const kshape *s) { return (int64_t)s->c * s->h * s->w; }

typedef struct kop {
    kop_kind kind;
    kshape in, out;              /* in: shape of operand 0 */
    int nin;                     /* operands: >= 0 an earlier op's output, */
    int src[KOP_MAX_IN];         /* -1-k the stage's source k (a layer's frames) */
    int cin[KOP_MAX_IN];         /* concat: channels of each operand */
    int coff[KOP_MAX_IN];        /* concat: their offsets in the output */
    int slot;                    /* engine buffer holding the output frames */
    /* conv / pool geometry */
    int kh, kw, sh, sw, dh, dw;
    int pt, pl, pb, pr;          /* pads top, left, bottom, right */
    int group;                   /* conv groups (1: dense conv) */
    int count_include_pad;
    int gated;                   /* maxpool: spiking gate with state `state` */
    int state;                   /* index of the gate's per-image state, -1 none */
    int node;                    /* the graph node it comes from */
    float *w;                    /* conv [kh][kw][cin/g][cout], dense [in][out], chaffine [c];
                                  * maxpool: the stage offset at its input, or NULL */
    float *b;                    /* per-output bias of this op (conv/dense/affine) or NULL;
                                  * maxpool: the stage offset at its output */
    int64_t macs;                /* per frame */
    int64_t nweights;
    double fanout;               /* conv/dense: the mean multiply-adds one non-zero input
                                  * element costs (taps inside the frame x output channels
                                  * of its group; dense: the outputs); 0 for other ops */
} kop;

typedef struct kstage {
    int nops;
    kop *ops;                    /* topological order; the last op is the output */
    int nsrc;
    int src[KOP_MAX_IN];         /* the layers it reads */
    int constant;                /* reads only the input image: run once per image */
    int mixed;                   /* reads the image and neuron layers: the image's part
                                  * (stage with the neurons at zero) is run once per
                                  * image and joins the current unfiltered */
    int nslots;                  /* op output buffers it needs at once */
    kshape out;
    float *bias;                 /* [out size]: the stage applied to a zero input */
    int64_t macs;                /* per frame, sum of ops */
    int64_t params;
    char opnames[128];
} kstage;

/* One layer: the input, a neuron layer, or the readout. */
typedef struct klayer {
    snn_layer_info info;
    kshape shape;                /* storage shape of its frames */
    int logical_nhwc;            /* spatial: the ONNX tensor is NHWC */
    int64_t *perm;               /* flat: storage index of ONNX index i; NULL = identity */
    float gain;                  /* s: J = gain * (x + bias) */
    float amplitude;             /* spike height is amplitude / dt */
    float clip_max;              /* Clip's maximum activation; 0 = none */
    int synapse;                 /* input filtered (sources are spiking neurons) */
    int node;                    /* neurons: the graph's ReLU/Clip node; else -1 */
    int name_node;               /* the graph node its name comes from */
} klayer;

#define NET_MAX_NOTES 16

struct snn_net {
    const snn_model *model;
    snn_convert_params params;
    int nstages;                 /* = number of neuron layers + 1 */
    kstage *stages;              /* stage i feeds layers[i+1] */
    int nlayers;                 /* input + neuron layers + output */
    klayer *layers;              /* [0] input, [1..nstages-1] neurons, [nstages] output */
    int nstates;                 /* max-pool gates */
    int64_t *state_size;         /* [nstates] floats per image */
    int input_nchw;              /* input arrives NCHW and is transposed to HWC */
    kshape input_shape;
    int nclasses;
    int64_t *out_perm;           /* class i (ONNX order of the output) is readout element
                                  * out_perm[i]; NULL = the same order */
    int softmax;                 /* the graph ends in Softmax (else logits get one) */
    double filt_a, filt_b;       /* lowpass coefficients */
    size_t memory_bytes;
    int nnotes;                  /* what changes the network's function */
    char notes[NET_MAX_NOTES][192];
};

/* A team of threads for one engine's runs (team.c): kteam_run calls
 * fn(arg, part, nparts) once for each part = 0..nparts-1 (at most
 * KTEAM_PARTS), the parts shared out between the calling thread and the
 * team's helpers, and returns when all have returned. A NULL team runs the
 * parts in order on the caller's thread. Kernels cut their own output
 * rows, neurons or columns into parts, so the results do not depend on the
 * team. new, kteam_free. */
#define KTEAM_MAX 16
#define KTEAM_PARTS 64
typedef struct kteam kteam;
typedef void (*kteam_fn)(void *arg, int part, int nparts);
kteam *kteam_new(int nth);          /* nth in [2, KTEAM_MAX]; NULL on failure */
void kteam_free(kteam *t);
int kteam_size(const kteam *t);     /* 1 for NULL */
void kteam_run(kteam *t, kteam_fn fn, void *arg, int nparts);
/* A side task beside the caller's jobs (the engine's pipeline): a helper
 * runs fn(arg, 0, 1) once, then joins the caller's jobs again;
 * kteam_side_wait returns when it has run (on the caller's thread if no
 * helper had taken it). One side task at a time; the caller's jobs may
 * not wait for it. */
void kteam_side(kteam *t, kteam_fn fn, void *arg);
void kteam_side_wait(kteam *t);

/* Bias correction (net.c): add per-channel offsets, in activation units,
 * to neuron layer l's input, i.e. to its stage's offset vector (element i
 * of a frame is channel i mod C, C = layer->shape.c: channels of a spatial
 * frame, elements of a flat one). The engine reads that vector at run
 * time, so an engine of the net sees the change on its next run. */
void net_layer_add_offsets(snn_net *net, int l, const float *offset);

/* Kernels (kernels.c). All frames are contiguous floats; in[k] holds the
 * frames of operand k (stride: its frame size). */
/* Apply op to one frame with biases (reference, scalar, direct loops).
 * A gated max-pool is the exact max here. */
void kop_apply_ref(const kop *op, const float *const *in, float *out, int with_bias);
/* Apply the linear part to `nframes` frames (in/out strides = frame sizes).
 * Chooses dense BLAS or event-driven gather/scatter per frame by input
 * density. `scratch` holds kop_scratch_floats(op, nframes) floats.
 * Returns, for a conv or dense op, the non-zero elements of its input
 * frames (times op->fanout: the synaptic events it applied), else 0. */
int64_t kop_apply_fast(const kop *op, const float *const *in, float *out, int nframes,
                       float *scratch);
/* The same, the event-driven and direct conv loops and the dense scatter
 * split over a team (NULL: kop_apply_fast). */
int64_t kop_apply_team(const kop *op, const float *const *in, float *out, int nframes,
                       float *scratch, kteam *team);
/* Non-zero elements of x[0..n) (the kernels' count). */
int64_t kop_count_nonzero(const float *x, int64_t n);
int64_t kop_scratch_floats(const kop *op, int nframes);
/* A 2x2 stride-2 average pool whose output only conv op reads can be fused
 * with it: kop_apply_pool_conv lists the conv's events from the pool's
 * input frames, computing the pooled values on the fly (the floats of
 * kop_apply_fast on the pool's output; the pool's frames are written to
 * `pooled` only for frames dense enough for the GEMM). */
int kop_pool_fuses(const kop *pool, const kop *op);
int64_t kop_apply_pool_conv(const kop *pool, const kop *op, const float *in, float *pooled,
                            float *out, int nframes, float *scratch, kteam *team);
/* The spiking max-pool gate over nframes consecutive steps. acc holds the
 * op's input size (accumulated input) plus its output size (each window's
 * leader), zero at the first step; each window passes the input of the
 * element with the largest accumulated value, the leader keeping ties.
 * `ref` selects the scalar reference twin. */
void kop_maxpool_gate(const kop *op, const float *in, float *out, int nframes, float *acc,
                      int ref);

/* Neuron and synapse updates (engine.c), exposed for unit tests.
 * Spiking ReLU, n steps of one neuron vector: v += max(J,0)*dt; k = floor(v);
 * v -= k; out = k * amplitude / dt. Returns the number of spikes. */
/* Integrate-and-fire on the signed current (neuron "if"): v += J*dt; k =
 * floor(v) when v >= 1, else 0; v -= k; out = k * amplitude / dt. */
double snn_neuron_if(float *v, const float *J, float *out, int64_t n, float dt, float amplitude,
                     uint8_t *fired);
double snn_neuron_spiking_relu(float *v, const float *J, float *out, int64_t n, float dt,
                               float amplitude, uint8_t *fired);
/* The same with the current clamped to jmax (a Clip layer's maximum rate). */
double snn_neuron_spiking_relu_max(float *v, const float *J, float *out, int64_t n, float dt,
                                   float amplitude, float jmax, uint8_t *fired);
/* Zero-order-hold lowpass: out = y (previous state), y = a*y + b*u. */
void snn_lowpass_delay(float *y, const float *u, float *out, int64_t n, float a, float b);

/* Tests (engine.c): force the pipeline's cut of a team engine running one
 * image (-1: placed from its first runs' layer times, the default; 0: no
 * pipeline; k: layers 1..k in front of the cut). */
typedef struct snn_engine snn_engine;
void engine_pipe_cut(snn_engine *e, int cut);
#endif
