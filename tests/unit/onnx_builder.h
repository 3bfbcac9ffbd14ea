/* onnx_builder.h: test helper that builds an ONNX ModelProto in memory with
 * protobuf-c (initializers, nodes with attributes, typed inputs/outputs)
 * and packs it, so tests and tools/mktiny.c need no Python.
 *
 *   ob_model *m = ob_new(13, "test");
 *   ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, 1, 4, 4});   // -1: "N"
 *   ob_init_f(m, "w", 4, dims, w);
 *   Onnx__NodeProto *n = ob_node(m, "Conv", "conv", "x,w", "y");
 *   ob_attr_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
 *   ob_output(m, "y", 0, NULL);
 *   size_t len; uint8_t *buf = ob_pack(m, &len);   // free(buf)
 *   ob_free(m);
 *
 * Everything is allocated with malloc and released by ob_free (the model
 * owns every node, tensor and string). Out of memory aborts: test code.
 * The returned protobuf structs may be edited directly to make a model
 * hostile (wrong dims, truncated raw_data, ...).
 */
#ifndef SNN_ONNX_BUILDER_H
#define SNN_ONNX_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "onnx.pb-c.h"

enum {
    OB_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
    OB_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
    OB_INT32 = ONNX__TENSOR_PROTO__DATA_TYPE__INT32,
    OB_DOUBLE = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE,
    OB_FLOAT16 = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16
};

typedef struct ob_model {
    Onnx__ModelProto *m;
    Onnx__GraphProto *g;
} ob_model;

ob_model *ob_new(int64_t opset, const char *producer);
void ob_free(ob_model *m);

/* A detached tensor (for Constant attributes); raw=1 stores raw_data. */
Onnx__TensorProto *ob_tensor_f(const char *name, int ndim, const int64_t *dims,
                               const float *data, int raw);
Onnx__TensorProto *ob_tensor_i64(const char *name, int ndim,
                                 const int64_t *dims, const int64_t *data);
/* Raw bytes of any data type, for conversion and hostile tests. */
Onnx__TensorProto *ob_tensor_raw(const char *name, int dtype, int ndim,
                                 const int64_t *dims, const void *bytes,
                                 size_t len);

/* Initializers (owned by the model); return the tensor for tampering. */
Onnx__TensorProto *ob_init_f(ob_model *m, const char *name, int ndim,
                             const int64_t *dims, const float *data);
Onnx__TensorProto *ob_init_i64(ob_model *m, const char *name, int ndim,
                               const int64_t *dims, const int64_t *data);
Onnx__TensorProto *ob_init(ob_model *m, Onnx__TensorProto *t);   /* steals t */

/* Graph input/output. dims[i] < 0 is the symbolic dim "N"; ndim < 0 leaves
 * the shape out. */
void ob_input(ob_model *m, const char *name, int elem_type, int ndim,
              const int64_t *dims);
void ob_output(ob_model *m, const char *name, int ndim, const int64_t *dims);

/* A node. inputs/outputs are comma-separated names; an empty entry is an
 * omitted optional input ("x,,b"). name may be NULL or "". */
Onnx__NodeProto *ob_node(ob_model *m, const char *op, const char *name,
                         const char *inputs, const char *outputs);
void ob_attr_i(Onnx__NodeProto *n, const char *name, int64_t v);
void ob_attr_f(Onnx__NodeProto *n, const char *name, float v);
void ob_attr_s(Onnx__NodeProto *n, const char *name, const char *v);
void ob_attr_ints(Onnx__NodeProto *n, const char *name, int cnt,
                  const int64_t *v);
void ob_attr_t(Onnx__NodeProto *n, const char *name, Onnx__TensorProto *t); /* steals */

/* Serialize; caller frees the buffer. */
uint8_t *ob_pack(const ob_model *m, size_t *len);
/* Write to path; 0 on success. */
int ob_save(const ob_model *m, const char *path);

#endif
