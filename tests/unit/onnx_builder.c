/* onnx_builder.c: build ONNX models in memory with protobuf-c for tests and
 * fixtures (see onnx_builder.h). Every struct is malloc'd the way
 * protobuf-c's unpacker would, so onnx__model_proto__free_unpacked()
 * releases the whole model. */
#include "onnx_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "onnx_builder: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t l = strlen(s ? s : "");
    char *d = xmalloc(l + 1);
    if (l) memcpy(d, s, l);
    return d;
}

/* Append item to a protobuf-c repeated field. */
#define PUSH(arr, n, item)                                                  \
    do {                                                                    \
        void *np_ = realloc((arr), ((n) + 1) * sizeof *(arr));              \
        if (!np_) abort();                                                  \
        (arr) = np_;                                                        \
        (arr)[(n)++] = (item);                                              \
    } while (0)

ob_model *ob_new(int64_t opset, const char *producer)
{
    ob_model *m = xmalloc(sizeof *m);
    m->m = xmalloc(sizeof *m->m);
    onnx__model_proto__init(m->m);
    m->m->has_ir_version = 1;
    m->m->ir_version = opset >= 13 ? 7 : 6;
    m->m->producer_name = xstrdup(producer ? producer : "onnx_builder");
    m->m->producer_version = xstrdup("1");
    Onnx__OperatorSetIdProto *o = xmalloc(sizeof *o);
    onnx__operator_set_id_proto__init(o);
    o->domain = xstrdup("");
    o->has_version = 1;
    o->version = opset;
    PUSH(m->m->opset_import, m->m->n_opset_import, o);
    m->g = xmalloc(sizeof *m->g);
    onnx__graph_proto__init(m->g);
    m->g->name = xstrdup("graph");
    m->m->graph = m->g;
    return m;
}

void ob_free(ob_model *m)
{
    if (!m) return;
    onnx__model_proto__free_unpacked(m->m, NULL);
    free(m);
}

static Onnx__TensorProto *tensor_new(const char *name, int dtype, int ndim,
                                     const int64_t *dims)
{
    Onnx__TensorProto *t = xmalloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = xstrdup(name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)ndim;
    t->dims = xmalloc((size_t)ndim * sizeof *t->dims);
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    return t;
}

static size_t count(int ndim, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    return n;
}

Onnx__TensorProto *ob_tensor_f(const char *name, int ndim, const int64_t *dims,
                               const float *data, int raw)
{
    Onnx__TensorProto *t = tensor_new(name, OB_FLOAT, ndim, dims);
    size_t n = count(ndim, dims);
    if (raw) {
        t->has_raw_data = 1;
        t->raw_data.len = n * sizeof(float);
        t->raw_data.data = xmalloc(t->raw_data.len);
        if (n) memcpy(t->raw_data.data, data, t->raw_data.len);
    } else {
        t->n_float_data = n;
        t->float_data = xmalloc(n * sizeof(float));
        if (n) memcpy(t->float_data, data, n * sizeof(float));
    }
    return t;
}

Onnx__TensorProto *ob_tensor_i64(const char *name, int ndim,
                                 const int64_t *dims, const int64_t *data)
{
    Onnx__TensorProto *t = tensor_new(name, OB_INT64, ndim, dims);
    size_t n = count(ndim, dims);
    t->n_int64_data = n;
    t->int64_data = xmalloc(n * sizeof(int64_t));
    if (n) memcpy(t->int64_data, data, n * sizeof(int64_t));
    return t;
}

Onnx__TensorProto *ob_tensor_raw(const char *name, int dtype, int ndim,
                                 const int64_t *dims, const void *bytes,
                                 size_t len)
{
    Onnx__TensorProto *t = tensor_new(name, dtype, ndim, dims);
    t->has_raw_data = 1;
    t->raw_data.len = len;
    t->raw_data.data = xmalloc(len);
    if (len) memcpy(t->raw_data.data, bytes, len);
    return t;
}

Onnx__TensorProto *ob_init(ob_model *m, Onnx__TensorProto *t)
{
    PUSH(m->g->initializer, m->g->n_initializer, t);
    return t;
}

Onnx__TensorProto *ob_init_f(ob_model *m, const char *name, int ndim,
                             const int64_t *dims, const float *data)
{
    return ob_init(m, ob_tensor_f(name, ndim, dims, data, 1));
}

Onnx__TensorProto *ob_init_i64(ob_model *m, const char *name, int ndim,
                               const int64_t *dims, const int64_t *data)
{
    return ob_init(m, ob_tensor_i64(name, ndim, dims, data));
}

static Onnx__ValueInfoProto *value_info(const char *name, int elem_type,
                                        int ndim, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = xmalloc(sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = xstrdup(name);
    v->type = xmalloc(sizeof *v->type);
    onnx__type_proto__init(v->type);
    v->type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    Onnx__TypeProto__Tensor *tt = xmalloc(sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = elem_type;
    v->type->tensor_type = tt;
    if (ndim >= 0) {
        tt->shape = xmalloc(sizeof *tt->shape);
        onnx__tensor_shape_proto__init(tt->shape);
        for (int i = 0; i < ndim; i++) {
            Onnx__TensorShapeProto__Dimension *d = xmalloc(sizeof *d);
            onnx__tensor_shape_proto__dimension__init(d);
            if (dims[i] < 0) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = xstrdup("N");
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[i];
            }
            PUSH(tt->shape->dim, tt->shape->n_dim, d);
        }
    }
    return v;
}

void ob_input(ob_model *m, const char *name, int elem_type, int ndim,
              const int64_t *dims)
{
    PUSH(m->g->input, m->g->n_input, value_info(name, elem_type, ndim, dims));
}

void ob_output(ob_model *m, const char *name, int ndim, const int64_t *dims)
{
    PUSH(m->g->output, m->g->n_output, value_info(name, OB_FLOAT, ndim, dims));
}

/* Split "a,,b" into a malloc'd string array. */
static void split(const char *s, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s || !*s) return;
    for (;;) {
        const char *c = strchr(s, ',');
        size_t l = c ? (size_t)(c - s) : strlen(s);
        char *item = xmalloc(l + 1);
        memcpy(item, s, l);
        PUSH(*out, *n, item);
        if (!c) break;
        s = c + 1;
    }
}

Onnx__NodeProto *ob_node(ob_model *m, const char *op, const char *name,
                         const char *inputs, const char *outputs)
{
    Onnx__NodeProto *n = xmalloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = xstrdup(op);
    n->name = xstrdup(name ? name : "");
    n->domain = xstrdup("");
    split(inputs, &n->input, &n->n_input);
    split(outputs, &n->output, &n->n_output);
    PUSH(m->g->node, m->g->n_node, n);
    return n;
}

static Onnx__AttributeProto *attr_new(Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = xmalloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = xstrdup(name);
    a->has_type = 1;
    a->type = type;
    PUSH(n->attribute, n->n_attribute, a);
    return a;
}

void ob_attr_i(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr_new(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

void ob_attr_f(Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr_new(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

void ob_attr_s(Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr_new(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)xstrdup(v);
}

void ob_attr_ints(Onnx__NodeProto *n, const char *name, int cnt, const int64_t *v)
{
    Onnx__AttributeProto *a = attr_new(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)cnt;
    a->ints = xmalloc((size_t)cnt * sizeof *a->ints);
    for (int i = 0; i < cnt; i++) a->ints[i] = v[i];
}

void ob_attr_t(Onnx__NodeProto *n, const char *name, Onnx__TensorProto *t)
{
    Onnx__AttributeProto *a = attr_new(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = t;
}

uint8_t *ob_pack(const ob_model *m, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(m->m);
    uint8_t *buf = xmalloc(*len);
    onnx__model_proto__pack(m->m, buf);
    return buf;
}

int ob_save(const ob_model *m, const char *path)
{
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        rc = fwrite(buf, 1, len, f) == len ? 0 : -1;
        if (fclose(f) != 0) rc = -1;
    }
    free(buf);
    return rc;
}
