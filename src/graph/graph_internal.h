/* graph_internal.h: PRIVATE header of the graph module (importer, shape
 * inference, kernels, evaluator). Not installed; only src/graph/, src/convert/net.c,
 * src/import/onnx_import.c, src/import/onnx_tensor.c and the graph unit tests include it.
 *
 * DESIGN: one shape-inference function and one kernel dispatcher serve
 * three callers: the importer's constant folding (a runtime op whose inputs
 * are all constants is evaluated once at import), snn_graph_finalize()
 * (shapes of every tensor at the imported batch) and snn_graph_run() (shapes
 * at the run-time batch, then the kernels). Conv and Gemm have a BLAS
 * version and a scalar reference twin; the unit tests compare them.
 */
#ifndef SNN_GRAPH_INTERNAL_H
#define SNN_GRAPH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "snn/graph.h"

struct Onnx__TensorProto;
struct Onnx__NodeProto;
struct Onnx__ModelProto;

typedef struct gshape {
    int ndim;
    int64_t d[SNN_MAX_DIMS];
} gshape;

/* Default limits, also used when a field of snn_import_limits is zero. */
#define GRAPH_DEF_MAX_FILE_BYTES ((size_t)512 << 20)
#define GRAPH_DEF_MAX_ELEMS ((int64_t)64 << 20)
#define GRAPH_DEF_MAX_NODES 4096

int64_t gshape_elems(const gshape *s);
int gshape_eq(const gshape *a, const gshape *b);
/* Format "[1,3,8,8]" into buf (for messages). */
const char *gshape_str(const gshape *s, char *buf, size_t len);

/* Output shape of node n from its input shapes (in[i] NULL for an omitted
 * input); checks that the inputs fit the op. `max_elems` bounds the output. */
snn_err graph_node_infer(const snn_node *n, const gshape *const *in,
                         gshape *out, int64_t max_elems, snn_error *err);

/* Scratch floats node n needs for these shapes (0 for most ops). */
size_t graph_node_scratch(const snn_node *n, const gshape *const *in,
                          const gshape *out);

/* Evaluate node n. x[i] are the input data (NULL when omitted), y the
 * output (gshape_elems(out) floats), scratch graph_node_scratch() floats.
 * ref = 1 uses the scalar reference kernels for Conv/Gemm/MatMul. */
void graph_node_exec(const snn_node *n, const gshape *const *in,
                     const float *const *x, const gshape *out, float *y,
                     float *scratch, int ref);

/* The kernels the tests compare directly. Conv: x [N,C,H,W], w [M,C/g,kh,kw],
 * b [M] or NULL, y [N,M,OH,OW]. */
void graph_conv_blas(const snn_conv_attr *a, const gshape *xs, const float *x,
                     const gshape *ws, const float *w, const float *b,
                     const gshape *ys, float *y, float *col);
void graph_conv_ref(const snn_conv_attr *a, const gshape *xs, const float *x,
                    const gshape *ws, const float *w, const float *b,
                    const gshape *ys, float *y);
/* Y[M,N] = alpha * op(A) op(B) + beta * C (C broadcast to [M,N], may be NULL). */
void graph_gemm_blas(const snn_gemm_attr *a, int64_t M, int64_t N, int64_t K,
                     const float *A, const float *B, const gshape *cs,
                     const float *C, float *Y);
void graph_gemm_ref(const snn_gemm_attr *a, int64_t M, int64_t N, int64_t K,
                    const float *A, const float *B, const gshape *cs,
                    const float *C, float *Y);

/* Tests: fill a workspace's arena with NaN, so that a run reading memory
 * its nodes did not write shows it. */
void snn_graph_ws_poison(snn_graph_ws *ws);

/* Shapes of every tensor when g runs with `batch` items (shapes has
 * g->ntensors entries; constants keep theirs). */
snn_err graph_infer_all(const snn_graph *g, int64_t batch, gshape *shapes,
                        snn_error *err);

/* ---- Import state (src/import/onnx_import.c parses, src/graph/graph_fold.c lowers) -- */

enum { IT_NONE = 0, IT_F32 = 1, IT_I64 = 2 };

typedef struct itensor {
    int dtype;          /* of constant data; IT_NONE for activations */
    int is_const;       /* data holds the value */
    int known;          /* shape is known */
    int unavailable;    /* an output we cannot produce (Dropout mask...) */
    int alias;          /* >= 0: this tensor is another one (Identity) */
    int bax;            /* activations: dim holding the batch, -1 none */
    int used;           /* compaction */
    gshape shape;
    void *data;         /* float[] or int64_t[] (owned) */
    const char *why;    /* unavailable: reason */
} itensor;

typedef struct inode {
    const struct Onnx__NodeProto *p;
    const char *op, *name;       /* name: never empty */
    char *owned_name;
    int nin, nout;
    int *in, *out;               /* tensor indices, -1 for "" */
} inode;

struct snn_graph_import {
    struct Onnx__ModelProto *model;
    snn_import_limits lim;
    int cap;
    itensor *t;                  /* parallel to g->tensors */
    int *slots;                  /* name hash: tensor index + 1, 0 empty */
    int nslots;
    int nnodes;
    inode *nodes;
    int *order;                  /* topological order of nodes */
    int ninputs, *inputs;        /* declared inputs that are not initializers */
    int noutputs, *outputs;
    int failed;                  /* a finalize failed: state is half lowered */
};

/* lim with its zero fields set to the defaults (lim may be NULL). */
snn_import_limits graph_limits(const snn_import_limits *lim);
/* The start of every ONNX reader's _mem entry point: clears err, sets *l to
 * graph_limits(lim), refuses a NULL buffer with len > 0 and a buffer larger
 * than l->max_file_bytes (`what` names it: "model", "tensor"). */
snn_err graph_mem_begin(const void *buf, size_t len, const snn_import_limits *lim,
                        const char *what, snn_import_limits *l, snn_error *err);
/* Read the regular file `path` (at most lim's max_file_bytes) and return
 * load(bytes, len, lim, err); a failure's message is prefixed with the
 * path. Every file variant of the ONNX readers is this call. */
typedef void *(*graph_mem_loader)(const void *buf, size_t len,
                                  const snn_import_limits *lim, snn_error *err);
void *graph_load_file(const char *path, const snn_import_limits *lim,
                      graph_mem_loader load, snn_error *err);

int graph_imp_find(const snn_graph *g, const char *name);
int graph_imp_add(snn_graph *g, const char *name, snn_error *err);
/* Decode an ONNX TensorProto into t (dtype, shape, owned data). Floats
 * (float, double, float16, bfloat16) become IT_F32, integers and bool (0/1)
 * IT_I64. In src/import/onnx_tensor.c, with the public snn_onnx_tensor_load(). */
snn_err graph_tensor_decode(const struct Onnx__TensorProto *tp,
                            int64_t max_elems, itensor *t, snn_error *err);
void graph_imp_free(struct snn_graph_import *imp, int ntensors);
snn_err graph_fold(snn_graph *g, snn_error *err);   /* the finalize step */

#endif
