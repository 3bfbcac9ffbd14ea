/* cmd_conform.c: `snnctl conform DIR...`, run ONNX backend test folders
 * (model.onnx + test_data_set_N/{input,output}_K.pb) through the rate
 * evaluator snn_graph_run() and compare with the expected outputs.
 *
 * Every input after the first is bound as a constant (the importer folds
 * it), so the graph is re-imported for each data set. A test whose op,
 * data type or shape is out of scope (the importer answers
 * SNN_EUNSUPPORTED) is skipped with the reason; a wrong value, a shape
 * mismatch or any other error fails. Tolerances are ONNX's: |got - want| <=
 * atol + rtol * |want| with rtol 1e-3, atol 1e-5.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "onnx.pb-c.h"
#include "snn/graph.h"

#define CONFORM_RTOL 1e-3
#define CONFORM_ATOL 1e-5
#define CONFORM_MAX_INPUTS 16
#define CONFORM_MAX_BYTES ((size_t)256 << 20)

typedef enum { R_PASS, R_FAIL, R_SKIP } result;

/* One decoded test tensor (values converted to float). */
typedef struct ctensor {
    char name[128];
    int dtype;           /* ONNX data type */
    int ndim;
    int64_t dims[SNN_MAX_DIMS];
    int64_t n;
    float *data;
} ctensor;

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    unsigned char *buf = NULL;
    if (!f) return NULL;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
        (size_t)st.st_size <= CONFORM_MAX_BYTES) {
        *len = (size_t)st.st_size;
        buf = malloc(*len ? *len : 1);
        if (buf && fread(buf, 1, *len, f) != *len) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

static const char *dtype_str(int dt)
{
    static const char *names[] = {"undefined", "float", "uint8", "int8", "uint16",
                                  "int16", "int32", "int64", "string", "bool",
                                  "float16", "double", "uint32", "uint64",
                                  "complex64", "complex128", "bfloat16"};
    return dt >= 0 && dt < (int)(sizeof names / sizeof *names) ? names[dt] : "?";
}

/* Decode a TensorProto file. Returns R_PASS, R_SKIP (type out of scope,
 * why set) or R_FAIL (unreadable, why set). */
static result load_tensor(const char *path, ctensor *t, char *why, size_t wl)
{
    size_t len;
    unsigned char *buf = read_all(path, &len);
    memset(t, 0, sizeof *t);
    if (!buf) {
        snprintf(why, wl, "cannot read %s", path);
        return R_FAIL;
    }
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp) {
        snprintf(why, wl, "%s: not a TensorProto", path);
        return R_FAIL;
    }
    result r = R_PASS;
    t->dtype = tp->has_data_type ? tp->data_type : 0;
    snprintf(t->name, sizeof t->name, "%s", tp->name ? tp->name : "");
    if (tp->n_dims > SNN_MAX_DIMS) {
        snprintf(why, wl, "%zu-D tensor", tp->n_dims);
        r = R_SKIP;
        goto out;
    }
    t->ndim = (int)tp->n_dims;
    t->n = 1;
    for (int i = 0; i < t->ndim; i++) {
        t->dims[i] = tp->dims[i];
        if (t->dims[i] < 0 || (t->dims[i] && t->n > (INT64_C(1) << 32) / t->dims[i])) {
            snprintf(why, wl, "%s: bad dims", path);
            r = R_FAIL;
            goto out;
        }
        t->n *= t->dims[i];
    }
    size_t esz;
    switch (t->dtype) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: esz = 4; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: esz = 8; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: esz = 1; break;
    default:
        snprintf(why, wl, "data type %s", dtype_str(t->dtype));
        r = R_SKIP;
        goto out;
    }
    int raw = tp->has_raw_data && tp->raw_data.len > 0;
    size_t have = raw ? tp->raw_data.len / esz
                : t->dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? tp->n_float_data
                : t->dtype == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? tp->n_double_data
                : t->dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? tp->n_int64_data
                                                                   : tp->n_int32_data;
    if ((raw && tp->raw_data.len != (size_t)t->n * esz) || have != (size_t)t->n) {
        snprintf(why, wl, "%s: %zu values for %lld elements", path, have,
                 (long long)t->n);
        r = R_FAIL;
        goto out;
    }
    t->data = malloc((size_t)(t->n ? t->n : 1) * sizeof *t->data);
    if (!t->data) {
        snprintf(why, wl, "out of memory");
        r = R_FAIL;
        goto out;
    }
    for (int64_t i = 0; i < t->n; i++) {
        const unsigned char *p = raw ? tp->raw_data.data + (size_t)i * esz : NULL;
        switch (t->dtype) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            if (p) memcpy(&t->data[i], p, 4);
            else t->data[i] = tp->float_data[i];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
            double d;
            if (p) memcpy(&d, p, 8);
            else d = tp->double_data[i];
            t->data[i] = (float)d;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: {
            int64_t v;
            if (p) memcpy(&v, p, 8);
            else v = tp->int64_data[i];
            t->data[i] = (float)v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: {
            int32_t v;
            if (p) memcpy(&v, p, 4);
            else v = tp->int32_data[i];
            t->data[i] = (float)v;
            break;
        }
        default:
            t->data[i] = p ? (float)(*p != 0) : (float)(tp->int32_data[i] != 0);
            break;
        }
    }
out:
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return r;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run one data set. */
static result run_set(const char *dir, const char *set, int verbose, char *why,
                      size_t wl)
{
    char path[4096];
    ctensor in[CONFORM_MAX_INPUTS], want;
    int nin = 0;
    result r = R_PASS;
    snn_graph *g = NULL;
    float *got = NULL;
    snn_error err = {0};

    memset(&want, 0, sizeof want);
    for (;;) {
        snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, set, nin);
        if (!exists(path)) break;
        if (nin == CONFORM_MAX_INPUTS) {
            snprintf(why, wl, "more than %d inputs", CONFORM_MAX_INPUTS);
            r = R_SKIP;
            goto out;
        }
        r = load_tensor(path, &in[nin], why, wl);
        nin++;
        if (r != R_PASS) goto out;
    }
    if (nin == 0) {
        snprintf(why, wl, "%s: no inputs", set);
        r = R_SKIP;
        goto out;
    }
    snprintf(path, sizeof path, "%s/%s/output_1.pb", dir, set);
    if (exists(path)) {
        snprintf(why, wl, "several outputs");
        r = R_SKIP;
        goto out;
    }
    snprintf(path, sizeof path, "%s/%s/output_0.pb", dir, set);
    if ((r = load_tensor(path, &want, why, wl)) != R_PASS) goto out;
    if (in[0].dtype != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        want.dtype != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        snprintf(why, wl, "data type %s -> %s (float only)", dtype_str(in[0].dtype),
                 dtype_str(want.dtype));
        r = R_SKIP;
        goto out;
    }

    snprintf(path, sizeof path, "%s/model.onnx", dir);
    g = snn_graph_load_onnx(path, NULL, &err);
    if (!g) goto import_failed;
    /* bind inputs 1.. in declaration order (bind_const reorders unbound) */
    {
        int nub = g->nunbound;
        char *names[CONFORM_MAX_INPUTS];
        if (nub != nin - 1) {
            snprintf(why, wl, "model has %d extra inputs, data set %d", nub, nin - 1);
            r = R_FAIL;
            goto out;
        }
        for (int k = 0; k < nub; k++) names[k] = g->tensors[g->unbound[k]].name;
        for (int k = 0; k < nub; k++) {
            const char *nm = names[k];
            if (snn_graph_bind_const(g, nm, in[k + 1].ndim, in[k + 1].dims,
                                     in[k + 1].data, &err))
                goto import_failed;
        }
        if (nub && snn_graph_finalize(g, &err)) goto import_failed;
    }
    /* the input: batch is dim 0, the rest must match the model */
    {
        const snn_tensor *gi = &g->tensors[g->input];
        int64_t batch = in[0].ndim ? in[0].dims[0] : 1;
        int ok = gi->ndim == in[0].ndim;
        for (int i = 1; ok && i < gi->ndim; i++) ok = gi->dims[i] == in[0].dims[i];
        if (!ok) {
            snprintf(why, wl, "input shape does not match the model");
            r = R_FAIL;
            goto out;
        }
        int ond;
        int64_t od[SNN_MAX_DIMS];
        snn_graph_tensor_shape(g, g->output, batch, &ond, od);
        ok = ond == want.ndim;
        for (int i = 0; ok && i < ond; i++) ok = od[i] == want.dims[i];
        if (!ok) {
            snprintf(why, wl, "output shape differs from the expected one");
            r = R_FAIL;
            goto out;
        }
        got = malloc((size_t)(want.n ? want.n : 1) * sizeof *got);
        if (!got) {
            snprintf(why, wl, "out of memory");
            r = R_FAIL;
            goto out;
        }
        if (snn_graph_run(g, in[0].data, batch, got, NULL, NULL, &err)) {
            snprintf(why, wl, "run: %s", err.msg);
            r = R_FAIL;
            goto out;
        }
    }
    for (int64_t i = 0; i < want.n; i++) {
        double a = got[i], b = want.data[i];
        if (isnan(a) && isnan(b)) continue;
        if (isinf(b) && a == b) continue;
        if (!(fabs(a - b) <= CONFORM_ATOL + CONFORM_RTOL * fabs(b))) {
            snprintf(why, wl, "%s: element %lld is %.9g, expected %.9g", set,
                     (long long)i, a, b);
            r = R_FAIL;
            goto out;
        }
    }
    if (verbose) fprintf(stderr, "  %s: %lld values match\n", set, (long long)want.n);
    goto out;

import_failed:
    /* the loader prefixes the model path; the test name already says it */
    snprintf(path, sizeof path, "%s/model.onnx: ", dir);
    snprintf(why, wl, "%s", strncmp(err.msg, path, strlen(path)) ? err.msg
                                                                : err.msg + strlen(path));
    r = err.code == SNN_EUNSUPPORTED ? R_SKIP : R_FAIL;
out:
    snn_graph_free(g);
    free(got);
    for (int k = 0; k < nin; k++) free(in[k].data);
    free(want.data);
    return r;
}

/* Inputs and outputs that are sequences, maps or optionals are out of
 * scope; their data files are not TensorProto. */
static result check_types(const char *path, char *why, size_t wl)
{
    size_t len;
    unsigned char *buf = read_all(path, &len);
    if (!buf) {
        snprintf(why, wl, "cannot read %s", path);
        return R_FAIL;
    }
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!m || !m->graph) {
        if (m) onnx__model_proto__free_unpacked(m, NULL);
        snprintf(why, wl, "%s: not an ONNX model", path);
        return R_FAIL;
    }
    result r = R_PASS;
    for (int io = 0; io < 2 && r == R_PASS; io++) {
        size_t n = io ? m->graph->n_output : m->graph->n_input;
        Onnx__ValueInfoProto **v = io ? m->graph->output : m->graph->input;
        for (size_t i = 0; i < n; i++) {
            const Onnx__TypeProto *tp = v[i]->type;
            if (tp && tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
                snprintf(why, wl, "%s '%s' is not a tensor (sequence, map or "
                         "optional)", io ? "output" : "input", v[i]->name);
                r = R_SKIP;
                break;
            }
        }
    }
    onnx__model_proto__free_unpacked(m, NULL);
    return r;
}

static result run_dir(const char *dir, int verbose, char *why, size_t wl)
{
    char path[4096];
    DIR *d = opendir(dir);
    char *sets[256];
    int nsets = 0;
    result r = R_PASS;

    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (!d || !exists(path)) {
        if (d) closedir(d);
        snprintf(why, wl, "no model.onnx");
        return R_FAIL;
    }
    if ((r = check_types(path, why, wl)) != R_PASS) {
        closedir(d);
        return r;
    }
    struct dirent *e;
    while ((e = readdir(d)) && nsets < 256)
        if (!strncmp(e->d_name, "test_data_set_", 14)) {
            sets[nsets] = strdup(e->d_name);
            if (sets[nsets]) nsets++;
        }
    closedir(d);
    qsort(sets, (size_t)nsets, sizeof *sets, cmp_str);
    if (nsets == 0) {
        snprintf(why, wl, "no test_data_set_*");
        r = R_SKIP;
    }
    for (int i = 0; i < nsets && r == R_PASS; i++)
        r = run_set(dir, sets[i], verbose, why, wl);
    for (int i = 0; i < nsets; i++) free(sets[i]);
    return r;
}

int cmd_conform(int argc, char **argv)
{
    int verbose = 0, npass = 0, nfail = 0, nskip = 0, ndirs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            verbose = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: snnctl conform [-v] DIR...\n"
                   "  Run ONNX backend test folders (model.onnx + test_data_set_*)\n"
                   "  through the rate evaluator; prints PASS/FAIL/SKIP per test.\n");
            return 0;
        } else if (argv[i][0] == '-') {
            cli_errorf("conform: unknown option '%s'", argv[i]);
            return 2;
        } else {
            ndirs++;
        }
    }
    if (!ndirs) {
        cli_errorf("conform: no test folder given (usage: snnctl conform DIR...)");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        char why[512] = "";
        const char *dir = argv[i];
        size_t l = strlen(dir);
        while (l > 1 && dir[l - 1] == '/') l--;
        const char *name = dir;
        for (size_t k = 0; k < l; k++)
            if (dir[k] == '/' && k + 1 < l) name = dir + k + 1;
        int nl = (int)(l - (size_t)(name - dir));
        switch (run_dir(dir, verbose, why, sizeof why)) {
        case R_PASS:
            printf("PASS %.*s\n", nl, name);
            npass++;
            break;
        case R_FAIL:
            printf("FAIL %.*s: %s\n", nl, name, why);
            nfail++;
            break;
        default:
            printf("SKIP %.*s: %s\n", nl, name, why);
            nskip++;
            break;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d skipped\n", npass, nfail, nskip);
    return nfail ? 1 : 0;
}
