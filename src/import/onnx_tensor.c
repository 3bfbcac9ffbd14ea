/* onnx_tensor.c: ONNX TensorProto decoding, one implementation for both
 * callers: the importer's initializers and Constant attributes
 * (graph_tensor_decode, private) and the public reader of serialized test
 * data tensors (snn_onnx_tensor_load, for `snnctl conform`).
 *
 * DESIGN: graph_tensor_decode() checks a proto against the import limits
 * and keeps floats as float and integers as int64 (shape arithmetic needs
 * exact integers). snn_onnx_tensor_load() narrows the accepted types to
 * those a float graph's test data uses and converts everything to float.
 */
#include "../graph/graph_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

#define FMT_ERR(...) snn_error_set(err, SNN_EFORMAT, __VA_ARGS__)

/* the public enum spells ONNX's numbers */
_Static_assert((int)SNN_ONNX_DTYPE_FLOAT == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT &&
               (int)SNN_ONNX_DTYPE_INT64 == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 &&
               (int)SNN_ONNX_DTYPE_BOOL == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL &&
               (int)SNN_ONNX_DTYPE_DOUBLE == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE &&
               (int)SNN_ONNX_DTYPE_BFLOAT16 == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16,
               "snn_onnx_dtype differs from onnx.proto");

/* ---- the importer's decoding --------------------------------------------- */

static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float f;
    if (e == 0) {
        f = ldexpf((float)m, -24);
        return s ? -f : f;
    }
    if (e == 31) return s ? (m ? -NAN : -INFINITY) : (m ? NAN : INFINITY);
    uint32_t bits = s | ((e + 112) << 23) | (m << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

const char *snn_onnx_dtype_name(int dtype)
{
    static const char *const names[] = {
        [SNN_ONNX_DTYPE_UNDEFINED] = "undefined", [SNN_ONNX_DTYPE_FLOAT] = "float",
        [SNN_ONNX_DTYPE_UINT8] = "uint8",         [SNN_ONNX_DTYPE_INT8] = "int8",
        [SNN_ONNX_DTYPE_UINT16] = "uint16",       [SNN_ONNX_DTYPE_INT16] = "int16",
        [SNN_ONNX_DTYPE_INT32] = "int32",         [SNN_ONNX_DTYPE_INT64] = "int64",
        [SNN_ONNX_DTYPE_STRING] = "string",       [SNN_ONNX_DTYPE_BOOL] = "bool",
        [SNN_ONNX_DTYPE_FLOAT16] = "float16",     [SNN_ONNX_DTYPE_DOUBLE] = "double",
        [SNN_ONNX_DTYPE_UINT32] = "uint32",       [SNN_ONNX_DTYPE_UINT64] = "uint64",
        [SNN_ONNX_DTYPE_COMPLEX64] = "complex64",
        [SNN_ONNX_DTYPE_COMPLEX128] = "complex128",
        [SNN_ONNX_DTYPE_BFLOAT16] = "bfloat16",
    };
    return dtype >= 0 && dtype < (int)(sizeof names / sizeof *names) ? names[dtype]
                                                                     : "unknown";
}

snn_err graph_tensor_decode(const Onnx__TensorProto *tp, int64_t max_elems,
                            itensor *t, snn_error *err)
{
    const char *nm = tp->name ? tp->name : "";
    int dt = tp->has_data_type ? tp->data_type : 0;
    size_t esz;
    int64_t n = 1;

    if (tp->has_data_location &&
        tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return snn_error_set(err, SNN_EUNSUPPORTED,
                             "tensor '%s': external data is not supported", nm);
    if (tp->segment)
        return snn_error_set(err, SNN_EUNSUPPORTED,
                             "tensor '%s': segmented tensors are not supported", nm);
    if (tp->n_dims > SNN_MAX_DIMS)
        return snn_error_set(err, SNN_EUNSUPPORTED, "tensor '%s': %zu dims (max %d)",
                             nm, tp->n_dims, SNN_MAX_DIMS);
    for (size_t i = 0; i < tp->n_dims; i++) {
        int64_t d = tp->dims[i];
        if (d < 0) return FMT_ERR("tensor '%s': negative dim %lld", nm, (long long)d);
        if (d > 0 && n > max_elems / d)
            return snn_error_set(err, SNN_ELIMIT, "tensor '%s': more than %lld "
                                 "elements", nm, (long long)max_elems);
        n *= d;
    }
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: esz = 4; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: esz = 8; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: esz = 4; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: esz = 2; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: esz = 1; break;
    default:
        return snn_error_set(err, SNN_EUNSUPPORTED, "tensor '%s': data type %s",
                             nm, snn_onnx_dtype_name(dt));
    }
    int isf = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
              dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
              dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ||
              dt == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
    /* where the values are: raw_data or the typed field ONNX assigns */
    size_t have;
    int from_raw = tp->has_raw_data && tp->raw_data.len > 0;
    if (from_raw) {
        have = tp->raw_data.len;
        if (have != (size_t)n * esz)
            return FMT_ERR("tensor '%s': raw_data has %zu bytes, dims want %lld",
                           nm, have, (long long)((size_t)n * esz));
    } else {
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            have = tp->n_float_data; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
            have = tp->n_double_data; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
            have = tp->n_int64_data; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
            have = tp->n_uint64_data; break;
        default:
            have = tp->n_int32_data; break;
        }
        if (have != (size_t)n)
            return FMT_ERR("tensor '%s': %zu values, dims want %lld", nm, have,
                           (long long)n);
    }
    void *data = malloc((size_t)(n ? n : 1) * (isf ? sizeof(float) : sizeof(int64_t)));
    if (!data) return snn_error_set(err, SNN_ENOMEM, "tensor '%s'", nm);
    float *f = data;
    int64_t *iv = data;
    const unsigned char *raw = from_raw ? tp->raw_data.data : NULL;
    for (int64_t k = 0; k < n; k++) {
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            if (raw) memcpy(&f[k], raw + 4 * k, 4);
            else f[k] = tp->float_data[k];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
            double d;
            if (raw) memcpy(&d, raw + 8 * k, 8);
            else d = tp->double_data[k];
            f[k] = (float)d;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: {
            uint16_t h;
            if (raw) memcpy(&h, raw + 2 * k, 2);
            else h = (uint16_t)tp->int32_data[k];
            f[k] = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ? half_to_float(h)
                                                               : bf16_to_float(h);
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
            if (raw) memcpy(&iv[k], raw + 8 * k, 8);
            else iv[k] = tp->int64_data[k];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: {
            uint64_t u;
            if (raw) memcpy(&u, raw + 8 * k, 8);
            else u = tp->uint64_data[k];
            iv[k] = u > INT64_MAX ? INT64_MAX : (int64_t)u;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: {
            uint32_t u;
            if (raw) memcpy(&u, raw + 4 * k, 4);
            else u = (uint32_t)tp->uint64_data[k];
            iv[k] = u;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: {
            int32_t v;
            if (raw) memcpy(&v, raw + 4 * k, 4);
            else v = tp->int32_data[k];
            iv[k] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: {
            int16_t v;
            if (raw) memcpy(&v, raw + 2 * k, 2);
            else v = (int16_t)tp->int32_data[k];
            iv[k] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: {
            uint16_t v;
            if (raw) memcpy(&v, raw + 2 * k, 2);
            else v = (uint16_t)tp->int32_data[k];
            iv[k] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
            iv[k] = raw ? (int8_t)raw[k] : (int8_t)tp->int32_data[k];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: /* any nonzero is true */
            iv[k] = raw ? raw[k] != 0 : tp->int32_data[k] != 0;
            break;
        default: /* UINT8 */
            iv[k] = raw ? raw[k] : (uint8_t)tp->int32_data[k];
            break;
        }
    }
    t->dtype = isf ? IT_F32 : IT_I64;
    t->is_const = 1;
    t->known = 1;
    t->shape.ndim = (int)tp->n_dims;
    for (size_t i = 0; i < tp->n_dims; i++) t->shape.d[i] = tp->dims[i];
    t->data = data;
    return SNN_OK;
}

/* ---- serialized test data ------------------------------------------------ */

/* The element types snn_onnx_tensor_load() converts to float. */
static int test_dtype(int dt)
{
    return dt == SNN_ONNX_DTYPE_FLOAT || dt == SNN_ONNX_DTYPE_DOUBLE ||
           dt == SNN_ONNX_DTYPE_INT32 || dt == SNN_ONNX_DTYPE_INT64 ||
           dt == SNN_ONNX_DTYPE_BOOL;
}

/* Decode tp into a new snn_onnx_tensor; NULL with err set. */
static snn_onnx_tensor *tensor_from_proto(const Onnx__TensorProto *tp,
                                          int64_t max_elems, snn_error *err)
{
    const char *nm = tp->name ? tp->name : "";
    int dt = tp->has_data_type ? tp->data_type : 0;
    itensor it = {0};

    if (!test_dtype(dt)) {
        snn_error_set(err, SNN_EUNSUPPORTED, "tensor '%s': data type %s", nm,
                      snn_onnx_dtype_name(dt));
        return NULL;
    }
    if (graph_tensor_decode(tp, max_elems, &it, err)) return NULL;
    int64_t n = gshape_elems(&it.shape);
    float *f = it.data;
    if (it.dtype == IT_I64) {          /* integers and bool: narrow to float */
        const int64_t *iv = it.data;
        f = malloc((size_t)(n ? n : 1) * sizeof *f);
        for (int64_t k = 0; f && k < n; k++) f[k] = (float)iv[k];
        free(it.data);
    }
    snn_onnx_tensor *t = calloc(1, sizeof *t);
    char *name = strdup(nm);
    if (!t || !name || !f) {
        free(f);
        free(name);
        free(t);
        snn_error_set(err, SNN_ENOMEM, "tensor '%s'", nm);
        return NULL;
    }
    t->name = name;
    t->dtype = (snn_onnx_dtype)dt;
    t->ndim = it.shape.ndim;
    memcpy(t->dims, it.shape.d, sizeof t->dims);
    t->n = n;
    t->data = f;
    return t;
}

snn_onnx_tensor *snn_onnx_tensor_load_mem(const void *buf, size_t len,
                                          const snn_import_limits *lim,
                                          snn_error *err)
{
    snn_import_limits l;

    if (graph_mem_begin(buf, len, lim, "tensor", &l, err)) return NULL;
    Onnx__TensorProto *tp =
        onnx__tensor_proto__unpack(NULL, len, (const uint8_t *)buf);
    if (!tp) {
        FMT_ERR("not an ONNX TensorProto (protobuf parse failed)");
        return NULL;
    }
    snn_onnx_tensor *t = tensor_from_proto(tp, l.max_tensor_elems, err);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return t;
}

static void *tensor_load_mem(const void *buf, size_t len,
                             const snn_import_limits *lim, snn_error *err)
{
    return snn_onnx_tensor_load_mem(buf, len, lim, err);
}

snn_onnx_tensor *snn_onnx_tensor_load(const char *path,
                                      const snn_import_limits *lim,
                                      snn_error *err)
{
    return graph_load_file(path, lim, tensor_load_mem, err);
}

void snn_onnx_tensor_free(snn_onnx_tensor *t)
{
    if (!t) return;
    free(t->name);
    free(t->data);
    free(t);
}
