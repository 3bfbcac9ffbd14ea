/* graph.h: an imported network as a typed operator graph (the ANN).
 *
 * DESIGN: the ONNX importer turns a model file into an snn_graph: tensors
 * (constants folded to float data) and nodes in topological order, with
 * every attribute parsed and checked. Shape arithmetic of real exports
 * (Constant, Shape, Gather, Unsqueeze, Squeeze, Concat, Cast feeding a
 * Reshape) is evaluated at import time and never appears here; neither do
 * Dropout/Identity (aliased away). Concat of activations (branch joins) is
 * an op; Sum of activations becomes a chain of Adds. BatchNormalization directly after a Conv
 * (its only consumer) is folded into the Conv's weights, MatMul + constant
 * Add becomes Gemm, Sub/Div by a constant become Add/Mul, Squeeze/Unsqueeze
 * of activations become Reshape, and a 1-D Conv or pool runs as the 2-D op
 * between two Reshapes ([N,C,L] <-> [N,C,1,L]). Any node whose inputs are
 * all constant is evaluated at import. What remains is the small op set
 * below; Conv and pools are always 2-D (4-D tensors).
 *
 * The graph is immutable after import and may be shared between threads.
 * snn_graph_run() is the rate (ANN) forward pass and the reference every
 * spiking run is compared with; the spiking engine (engine.h) plans its own
 * kernels from the same graph.
 *
 * Layout: tensors carry their ONNX (logical) shape. Dimension 0 of the
 * graph input is the batch: a model exported with a dynamic or fixed batch
 * runs with any batch size, and every tensor derived from the input keeps
 * the batch in dimension 0 (Reshape targets folded at import with batch 1
 * are rewritten to carry the run-time batch).
 */
#ifndef SNN_GRAPH_H
#define SNN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "snn/error.h"

#define SNN_MAX_DIMS 8
#define SNN_NODE_MAX_IN 5

typedef enum {
    SNN_OP_CONV,          /* in: X, W, [B]; attrs: conv */
    SNN_OP_GEMM,          /* in: A, B, [C]; attrs: gemm (MatMul+Add fused here too) */
    SNN_OP_MATMUL,        /* in: A, B (B constant 2-D) */
    SNN_OP_ADD,           /* in: A, B (broadcasting) */
    SNN_OP_MUL,           /* in: A, B (broadcasting; an unfused BN's scale) */
    SNN_OP_RELU,
    SNN_OP_CLIP,          /* attrs: clip */
    SNN_OP_AVGPOOL,       /* attrs: pool */
    SNN_OP_MAXPOOL,       /* attrs: pool */
    SNN_OP_GLOBALAVGPOOL,
    SNN_OP_FLATTEN,       /* attrs: axis */
    SNN_OP_RESHAPE,       /* attrs: reshape (target shape folded at import) */
    SNN_OP_TRANSPOSE,     /* attrs: transpose */
    SNN_OP_BATCHNORM,     /* in: X, scale, bias, mean, var; attrs: eps */
    SNN_OP_SOFTMAX,       /* attrs: axis */
    SNN_OP_PAD,           /* attrs: pad (constant mode only) */
    SNN_OP_CONCAT,        /* in: up to SNN_NODE_MAX_IN activations; attrs: axis (>= 0) */
    SNN_OP_COUNT_
} snn_op;

const char *snn_op_name(snn_op op);   /* ONNX spelling, e.g. "AveragePool" */

typedef struct snn_tensor {
    char *name;
    int ndim;
    int64_t dims[SNN_MAX_DIMS];  /* logical ONNX shape; dims[0] of activations = batch as imported */
    float *data;                 /* constant data (row-major), NULL for activations */
} snn_tensor;

typedef struct snn_conv_attr {
    int kernel[2];      /* kh, kw (from W when absent) */
    int strides[2];
    int pads[4];        /* top, left, bottom, right (auto_pad resolved at import) */
    int dilations[2];
    int group;
} snn_conv_attr;

typedef struct snn_pool_attr {
    int kernel[2];
    int strides[2];
    int pads[4];        /* top, left, bottom, right */
    int count_include_pad;
    int ceil_mode;
} snn_pool_attr;

typedef struct snn_gemm_attr {
    float alpha, beta;
    int trans_a, trans_b;
} snn_gemm_attr;

typedef struct snn_node {
    snn_op op;
    char *name;                  /* node name, or "<op>_<index>" when unnamed */
    int nin;
    int in[SNN_NODE_MAX_IN];     /* tensor indices; -1 for an omitted optional input */
    int out;                     /* the single output tensor index */
    union {
        snn_conv_attr conv;
        snn_pool_attr pool;
        snn_gemm_attr gemm;
        struct { float min, max; } clip;
        struct { int axis; int coerce2d; } axis; /* Flatten, Softmax, Concat; axis >= 0.
                                  * Softmax coerce2d = 1 (opset < 13): flatten
                                  * to 2-D at axis, normalise each row; 0:
                                  * normalise along axis only. */
        struct { int ndim; int64_t shape[SNN_MAX_DIMS]; } reshape;
                                  /* 0 copies the input dim (dim 0 = batch),
                                   * -1 is inferred; never both meanings of 0 */
        struct { int nperm; int perm[SNN_MAX_DIMS]; } transpose;
        struct { float eps; } bn;
        struct { int npads; int64_t pads[2 * SNN_MAX_DIMS]; float value; } pad;
                                  /* ONNX order: begins of every dim, then ends */
    } a;
} snn_node;

typedef struct snn_graph {
    int ntensors;
    snn_tensor *tensors;
    int nnodes;
    snn_node *nodes;             /* topological order */
    int input;                   /* tensor index of the graph input */
    int output;                  /* tensor index of the graph output */
    int64_t opset;
    char *producer;              /* "pytorch 1.13.1", "tf2onnx 1.9"..., may be "" */
    int nunbound;                /* graph inputs after the first still unbound */
    int *unbound;                /* their tensor indices */
    int finalized;               /* 1 once runnable */
    struct snn_graph_import *imp; /* private import state until finalized */
} snn_graph;

/* Import limits (untrusted files). Zero fields take the defaults. */
typedef struct snn_import_limits {
    size_t max_file_bytes;       /* default 512 MiB */
    int64_t max_tensor_elems;    /* default 64 Mi elements per tensor */
    int max_nodes;               /* default 4096 */
} snn_import_limits;

/* Parse an ONNX ModelProto. When every graph input after the first is an
 * initializer the graph comes back finalized (ready to run). Otherwise it
 * comes back with `nunbound` > 0: bind each with snn_graph_bind_const() and
 * call snn_graph_finalize() (the conformance runner does this).
 * new, caller frees with snn_graph_free. */
snn_graph *snn_graph_load_onnx(const char *path, const snn_import_limits *lim,
                               snn_error *err);
snn_graph *snn_graph_load_onnx_mem(const void *buf, size_t len,
                                   const snn_import_limits *lim, snn_error *err);

/* Bind graph input `name` (not the first input) to constant data of the given
 * shape, then re-fold. Used by `snnctl conform`. */
snn_err snn_graph_bind_const(snn_graph *g, const char *name, int ndim,
                             const int64_t *dims, const float *data,
                             snn_error *err);
/* Finish binding: fold constants, infer shapes, fuse, validate. */
snn_err snn_graph_finalize(snn_graph *g, snn_error *err);

void snn_graph_free(snn_graph *g);

/* ---- ONNX files read without building a graph -----------------------------
 * The ONNX backend tests (`snnctl conform`) ship a model.onnx plus serialized
 * TensorProto files (test_data_set_N/input_K.pb, output_K.pb). These read
 * them through the importer's own decoding, so callers never see protobuf.
 * Both take the same untrusted-input limits as the importer. */

/* ONNX TensorProto.DataType; the numbers are ONNX's. */
typedef enum snn_onnx_dtype {
    SNN_ONNX_DTYPE_UNDEFINED = 0,
    SNN_ONNX_DTYPE_FLOAT = 1,
    SNN_ONNX_DTYPE_UINT8 = 2,
    SNN_ONNX_DTYPE_INT8 = 3,
    SNN_ONNX_DTYPE_UINT16 = 4,
    SNN_ONNX_DTYPE_INT16 = 5,
    SNN_ONNX_DTYPE_INT32 = 6,
    SNN_ONNX_DTYPE_INT64 = 7,
    SNN_ONNX_DTYPE_STRING = 8,
    SNN_ONNX_DTYPE_BOOL = 9,
    SNN_ONNX_DTYPE_FLOAT16 = 10,
    SNN_ONNX_DTYPE_DOUBLE = 11,
    SNN_ONNX_DTYPE_UINT32 = 12,
    SNN_ONNX_DTYPE_UINT64 = 13,
    SNN_ONNX_DTYPE_COMPLEX64 = 14,
    SNN_ONNX_DTYPE_COMPLEX128 = 15,
    SNN_ONNX_DTYPE_BFLOAT16 = 16
} snn_onnx_dtype;

/* ONNX spelling of a data type ("float", "int64", "bool"...); "unknown"
 * outside the enum. Static string, never NULL. */
const char *snn_onnx_dtype_name(int dtype);

/* A serialized TensorProto decoded to float. */
typedef struct snn_onnx_tensor {
    char *name;                  /* the proto's name, "" when it has none */
    snn_onnx_dtype dtype;        /* element type in the file */
    int ndim;
    int64_t dims[SNN_MAX_DIMS];
    int64_t n;                   /* elements: product of dims, 1 when 0-d */
    float *data;                 /* n values, row-major; never NULL */
} snn_onnx_tensor;

/* Decode a TensorProto from a file or from memory. Values come from
 * raw_data (little-endian) or the typed field, and must match the dims
 * exactly. Element types float, double, int32, int64 and bool are converted
 * to float (bool as 0/1, int64 rounded); any other type answers
 * SNN_EUNSUPPORTED "tensor 'x': data type uint8", as do external data,
 * segments and more than SNN_MAX_DIMS dims. Bad bytes, negative dims or a
 * value count that does not fit the dims answer SNN_EFORMAT; more than
 * lim->max_tensor_elems elements SNN_ELIMIT. Errors of the file variant
 * start with the path. new, caller frees with snn_onnx_tensor_free. */
snn_onnx_tensor *snn_onnx_tensor_load(const char *path,
                                      const snn_import_limits *lim,
                                      snn_error *err);
snn_onnx_tensor *snn_onnx_tensor_load_mem(const void *buf, size_t len,
                                          const snn_import_limits *lim,
                                          snn_error *err);
void snn_onnx_tensor_free(snn_onnx_tensor *t);

/* What a declared graph input or output is. */
typedef enum snn_onnx_kind {
    SNN_ONNX_KIND_UNTYPED,       /* no type given */
    SNN_ONNX_KIND_TENSOR,
    SNN_ONNX_KIND_SPARSE_TENSOR,
    SNN_ONNX_KIND_SEQUENCE,
    SNN_ONNX_KIND_MAP,
    SNN_ONNX_KIND_OPTIONAL,
    SNN_ONNX_KIND_OTHER          /* a type this protobuf schema does not know */
} snn_onnx_kind;

typedef struct snn_onnx_value {
    char *name;                  /* "" when the proto has none */
    snn_onnx_kind kind;
    snn_onnx_dtype elem_type;    /* (sparse) tensors; UNDEFINED when not given */
} snn_onnx_value;

/* The graph inputs and outputs a ModelProto declares, in file order.
 * Initializers the model also lists as inputs are included. */
typedef struct snn_onnx_io {
    int ninputs;
    snn_onnx_value *inputs;
    int noutputs;
    snn_onnx_value *outputs;
} snn_onnx_io;

/* Read the declared inputs and outputs of an ONNX model without importing
 * it (no op or shape is checked). SNN_EFORMAT when the bytes are not a
 * ModelProto with a graph. Errors of the file variant start with the path.
 * new, caller frees with snn_onnx_io_free. */
snn_onnx_io *snn_onnx_io_load(const char *path, const snn_import_limits *lim,
                              snn_error *err);
snn_onnx_io *snn_onnx_io_load_mem(const void *buf, size_t len,
                                  const snn_import_limits *lim, snn_error *err);
void snn_onnx_io_free(snn_onnx_io *io);

/* Number of elements of one batch item of tensor t (dims[1..]); of a
 * 0-d tensor, 1. */
int64_t snn_tensor_item_elems(const snn_tensor *t);
int64_t snn_tensor_elems(const snn_tensor *t);

/* Shape of tensor t when the graph runs with `batch` items. Sets *ndim to
 * -1 when the graph cannot run with that batch (a Reshape target that does
 * not divide, say). */
void snn_graph_tensor_shape(const snn_graph *g, int t, int64_t batch,
                            int *ndim, int64_t dims[SNN_MAX_DIMS]);

/* Rate (ANN) forward pass of `batch` items. `in` has the input's item shape
 * times batch, `out` the output's. Thread-safe; allocates its scratch.
 * Optional `acts` callback sees every node's output (for calibration). */
typedef void (*snn_graph_act_cb)(void *ud, const snn_graph *g, int node,
                                 const float *data, int64_t n);
snn_err snn_graph_run(const snn_graph *g, const float *in, int64_t batch,
                      float *out, snn_graph_act_cb cb, void *ud,
                      snn_error *err);

/* The same with a workspace that keeps its memory from run to run (it
 * grows to the largest run it has seen): a loop of runs then allocates
 * and page-faults nothing after its first. A workspace serves one thread
 * at a time, for any graph. snn_graph_run is run_ws with a workspace of
 * its own. */
typedef struct snn_graph_ws snn_graph_ws;
snn_graph_ws *snn_graph_ws_new(void);   /* NULL when out of memory */
void snn_graph_ws_free(snn_graph_ws *ws);
snn_err snn_graph_run_ws(const snn_graph *g, snn_graph_ws *ws, const float *in,
                         int64_t batch, float *out, snn_graph_act_cb cb,
                         void *ud, snn_error *err);

#endif
