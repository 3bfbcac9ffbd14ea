/* net_internal.h: PRIVATE to libsnn. The planned spiking network: stages of
 * linear ops between neuron layers, and the kernels that apply them.
 *
 * DESIGN: a converted network is a chain
 *     input -> stage 0 -> neurons 1 -> stage 1 -> neurons 2 ... -> stage L -> readout
 * where every stage is a short list of linear ops (Conv, pooling, padding,
 * Dense, per-channel affine) whose biases are folded into one offset vector
 * `bias` = stage(0) computed at plan time. At run time a stage applies only
 * the linear part: U = L(x); the neurons then take J = gain * (U' + bias),
 * where U' is U itself (no synapse) or the lowpass-filtered U of the
 * previous step (synapse, the one-step delay of nengo).
 *
 * Tensors are per image and per timestep "frames": spatial frames are
 * height x width x channels (channels innermost, so one input event scatters
 * a contiguous row of weights), flat frames are vectors. Conv weights are
 * stored [kh][kw][cin][cout], Dense weights [in][out]: one layout serves the
 * im2col GEMM and the event-driven scatter.
 */
#ifndef SNN_NET_INTERNAL_H
#define SNN_NET_INTERNAL_H

#include <stdint.h>

#include "snn/engine.h"

typedef enum {
    KOP_CONV,        /* 2-D convolution, group 1 */
    KOP_AVGPOOL,     /* average pooling (MaxPool converted, GlobalAveragePool) */
    KOP_MAXPOOL,     /* only in rate mode with exact ANN semantics (never planned now) */
    KOP_PAD,         /* zero padding of a spatial frame */
    KOP_DENSE,       /* fully connected; input flat (spatial frames read in HWC order) */
    KOP_CHAFFINE     /* per-channel (or per-element for flat) scale; bias separate */
} kop_kind;

typedef struct kshape {
    int c, h, w;     /* flat tensors: c = size, h = w = 1 */
    int spatial;     /* 1 when h, w are meaningful (HWC layout) */
} kshape;

static inline int64_t kshape_size(const kshape *s) { return (int64_t)s->c * s->h * s->w; }

typedef struct kop {
    kop_kind kind;
    kshape in, out;
    /* conv / pool geometry */
    int kh, kw, sh, sw, dh, dw;
    int pt, pl, pb, pr;          /* pads top, left, bottom, right */
    int count_include_pad;
    float *w;                    /* conv [kh][kw][cin][cout], dense [in][out], chaffine [c] */
    float *b;                    /* per-output bias of this op (conv/dense/affine) or NULL */
    int64_t macs;                /* per frame */
    int64_t nweights;
} kop;

typedef struct kstage {
    int nops;
    kop *ops;
    kshape in, out;
    float *bias;                 /* [out size]: the stage applied to a zero input */
    int64_t macs;                /* per frame, sum of ops */
    int64_t params;
    char opnames[128];
} kstage;

/* One neuron layer (after stage i) or the readout (after the last stage). */
typedef struct klayer {
    snn_layer_info info;
    float gain;                  /* s: J = gain * (x + bias) */
    float amplitude;             /* spike height is amplitude / dt */
    float clip_max;              /* rate-mode clip (Clip op); 0 = none */
    int synapse;                 /* input filtered (source is spiking neurons) */
} klayer;

struct snn_net {
    const snn_model *model;
    snn_convert_params params;
    int nstages;                 /* = number of neuron layers + 1 */
    kstage *stages;              /* stage i feeds layers[i+1] */
    int nlayers;                 /* input + neuron layers + output */
    klayer *layers;              /* [0] input, [1..nstages-1] neurons, [nstages] output */
    int input_nchw;              /* input arrives NCHW and is transposed to HWC */
    kshape input_shape;
    int nclasses;
    int softmax;                 /* the graph ends in Softmax (else logits get one) */
    double filt_a, filt_b;       /* lowpass coefficients */
    size_t memory_bytes;
};

/* Kernels (kernels.c). All frames are contiguous floats. */
/* Apply op to one frame with biases (reference, scalar, direct loops). */
void kop_apply_ref(const kop *op, const float *in, float *out, int with_bias);
/* Apply the linear part to `nframes` frames (in/out strides = frame sizes).
 * Chooses dense BLAS or event-driven scatter per frame by input density.
 * `scratch` holds kop_scratch_floats(op, nframes) floats. */
void kop_apply_fast(const kop *op, const float *in, float *out, int nframes, float *scratch);
int64_t kop_scratch_floats(const kop *op, int nframes);



/* Neuron and synapse updates (engine.c), exposed for unit tests.
 * Spiking ReLU, n steps of one neuron vector: v += max(J,0)*dt; k = floor(v);
 * v -= k; out = k * amplitude / dt. Returns the number of spikes. */
double snn_neuron_spiking_relu(float *v, const float *J, float *out, int64_t n, float dt,
                               float amplitude, uint8_t *fired);
/* Zero-order-hold lowpass: out = y (previous state), y = a*y + b*u. */
void snn_lowpass_delay(float *y, const float *u, float *out, int64_t n, float a, float b);
#endif
