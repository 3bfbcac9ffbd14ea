/* cmd_conform.c: `snnctl conform DIR...`, run ONNX backend test folders
 * (model.onnx + test_data_set_N/{input,output}_K.pb) through the rate
 * evaluator snn_graph_run() and compare with the expected outputs.
 *
 * The spiking path too: every data set whose graph the converter accepts
 * (snn_net_new) is run for one step in rate mode (neuron relu, no synapse)
 * through the converted network, with the fast and with the reference
 * engine, whose readout is a softmax over each
 * item's outputs; the probabilities must equal the expected output's
 * softmax (the expected output itself when the graph ends in Softmax).
 * Such tests are counted on a line of their own before the summary.
 *
 * The data files and the model's declared inputs/outputs are read through
 * the library (snn_onnx_tensor_load, snn_onnx_io_load). Every input after
 * the first is bound as a constant (the importer folds it), so the graph is
 * re-imported for each data set. A test whose op, data type or shape is out
 * of scope (the library answers SNN_EUNSUPPORTED) is skipped with the
 * reason; a wrong value, a shape mismatch or any other error fails.
 * Tolerances are ONNX's: |got - want| <= atol + rtol * |want| with rtol
 * 1e-3, atol 1e-5.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "snn/engine.h"
#include "snn/graph.h"
#include "snn/model.h"

#define CONFORM_RTOL 1e-3
#define CONFORM_ATOL 1e-5
#define CONFORM_MAX_INPUTS 16

typedef enum { R_PASS, R_FAIL, R_SKIP } result;

/* why = err's message without its leading `prefix` (a path the test name
 * already says). SKIP when the library found the test out of scope
 * (SNN_EUNSUPPORTED), FAIL on anything else. */
static result why_err(const snn_error *err, const char *prefix, char *why,
                      size_t wl)
{
    size_t pl = strlen(prefix);
    snprintf(why, wl, "%s", strncmp(err->msg, prefix, pl) ? err->msg
                                                         : err->msg + pl);
    return err->code == SNN_EUNSUPPORTED ? R_SKIP : R_FAIL;
}

/* Decode the TensorProto file dir/rel into *t (NULL on failure). */
static result load_tensor(const char *dir, const char *rel, snn_onnx_tensor **t,
                          char *why, size_t wl)
{
    char path[4096], prefix[4096];
    snn_error err;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    *t = snn_onnx_tensor_load(path, NULL, &err);
    if (*t) return R_PASS;
    snprintf(prefix, sizeof prefix, "%s/", dir);
    return why_err(&err, prefix, why, wl);
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

static int near(double a, double b)
{
    if (isnan(a) && isnan(b)) return 1;
    if (isinf(b) && a == b) return 1;
    return fabs(a - b) <= CONFORM_ATOL + CONFORM_RTOL * fabs(b);
}

/* The graph converted to a spiking net in rate mode: *converted = 1 when
 * the converter accepts it; then its softmax readout must equal the
 * expected output's softmax. FAIL on a mismatch or a run error. */
static result run_spiking(const snn_graph *g, const snn_onnx_tensor *in,
                          const snn_onnx_tensor *want, int64_t batch,
                          int *converted, char *why, size_t wl)
{
    const snn_tensor *gi = &g->tensors[g->input];
    int64_t isz = snn_tensor_item_elems(gi), C = batch ? want->n / batch : 0;
    *converted = 0;
    if (batch < 1 || batch > 4096 || C < 1 || C > (1 << 20) || isz < 1 || isz > INT32_MAX)
        return R_PASS;
    snn_model m = {0};
    m.graph = (snn_graph *)g;
    snn_model_config *cfg = &m.cfg;
    cfg->nclasses = (int)C;
    cfg->layout = SNN_LAYOUT_NCHW;
    if (gi->ndim == 4) {
        cfg->in_c = (int)gi->dims[1];
        cfg->in_h = (int)gi->dims[2];
        cfg->in_w = (int)gi->dims[3];
    } else {
        cfg->in_c = cfg->in_h = 1;
        cfg->in_w = (int)isz;
    }
    snn_convert_params_init(&cfg->convert);
    cfg->convert.neuron = SNN_NEURON_RELU;
    cfg->convert.synapse = 0;
    snn_error err = {0};
    snn_net *net = snn_net_new(&m, &cfg->convert, &err);
    if (!net) return R_PASS; /* not a network the converter takes */
    *converted = 1;
    result r = R_PASS;
    snn_result res = {0};
    snn_engine *e = NULL;
    int is_softmax = 0;
    for (int i = 0; i < g->nnodes; i++)
        is_softmax |= g->nodes[i].out == g->output && g->nodes[i].op == SNN_OP_SOFTMAX;
    /* the fast engine, then the scalar reference one */
    for (int mode = 0; mode < 2 && r == R_PASS; mode++) {
        snn_run_opts o;
        snn_run_opts_init(&o);
        o.steps = 1;
        snn_result_deinit(&res);
        snn_engine_free(e);
        e = snn_engine_new(net, (int)batch, 1, mode ? SNN_ENGINE_REFERENCE : SNN_ENGINE_FAST, &err);
        if (!e || snn_result_init(&res, net, (int)batch, 1, 0) ||
            snn_engine_run(e, in->data, (int)batch, &o, &res, &err)) {
            snprintf(why, wl, "rate-mode net: %s", e ? err.msg : "engine");
            r = R_FAIL;
            goto out;
        }
        for (int64_t b = 0; b < batch && r == R_PASS; b++) {
            const float *y = want->data + b * C;
            const float *p = snn_result_probs(&res, 0, (int)b);
            double mx = y[0], sum = 0;
            for (int64_t c = 1; c < C; c++) mx = y[c] > mx ? y[c] : mx;
            for (int64_t c = 0; c < C; c++) sum += exp((double)y[c] - mx);
            for (int64_t c = 0; c < C; c++) {
                double w = is_softmax ? y[c] : exp((double)y[c] - mx) / sum;
                if (!near(p[c], w)) {
                    snprintf(why, wl, "rate-mode net (%s engine): item %lld class %lld is %.9g, "
                             "expected %.9g", mode ? "reference" : "fast", (long long)b,
                             (long long)c, p[c], w);
                    r = R_FAIL;
                    break;
                }
            }
        }
    }
out:
    snn_result_deinit(&res);
    snn_engine_free(e);
    snn_net_free(net);
    return r;
}

/* Run one data set. */
static result run_set(const char *dir, const char *set, int verbose, int *converted,
                      char *why, size_t wl)
{
    char path[4096], rel[512];
    snn_onnx_tensor *in[CONFORM_MAX_INPUTS], *want = NULL;
    int nin = 0;
    result r = R_PASS;
    snn_graph *g = NULL;
    float *got = NULL;
    snn_error err = {0};

    for (;;) {
        snprintf(rel, sizeof rel, "%s/input_%d.pb", set, nin);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        if (!exists(path)) break;
        if (nin == CONFORM_MAX_INPUTS) {
            snprintf(why, wl, "more than %d inputs", CONFORM_MAX_INPUTS);
            r = R_SKIP;
            goto out;
        }
        r = load_tensor(dir, rel, &in[nin], why, wl);
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
    snprintf(rel, sizeof rel, "%s/output_0.pb", set);
    if ((r = load_tensor(dir, rel, &want, why, wl)) != R_PASS) goto out;
    if (in[0]->dtype != SNN_ONNX_DTYPE_FLOAT || want->dtype != SNN_ONNX_DTYPE_FLOAT) {
        snprintf(why, wl, "data type %s -> %s (float only)",
                 snn_onnx_dtype_name(in[0]->dtype), snn_onnx_dtype_name(want->dtype));
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
            const snn_onnx_tensor *c = in[k + 1];
            if (snn_graph_bind_const(g, names[k], c->ndim, c->dims, c->data, &err))
                goto import_failed;
        }
        if (nub && snn_graph_finalize(g, &err)) goto import_failed;
    }
    /* the input: batch is dim 0, the rest must match the model */
    {
        const snn_tensor *gi = &g->tensors[g->input];
        int64_t batch = in[0]->ndim ? in[0]->dims[0] : 1;
        int ok = gi->ndim == in[0]->ndim;
        for (int i = 1; ok && i < gi->ndim; i++) ok = gi->dims[i] == in[0]->dims[i];
        if (!ok) {
            snprintf(why, wl, "input shape does not match the model");
            r = R_FAIL;
            goto out;
        }
        int ond;
        int64_t od[SNN_MAX_DIMS];
        snn_graph_tensor_shape(g, g->output, batch, &ond, od);
        ok = ond == want->ndim;
        for (int i = 0; ok && i < ond; i++) ok = od[i] == want->dims[i];
        if (!ok) {
            snprintf(why, wl, "output shape differs from the expected one");
            r = R_FAIL;
            goto out;
        }
        got = malloc((size_t)(want->n ? want->n : 1) * sizeof *got);
        if (!got) {
            snprintf(why, wl, "out of memory");
            r = R_FAIL;
            goto out;
        }
        if (snn_graph_run(g, in[0]->data, batch, got, NULL, NULL, &err)) {
            snprintf(why, wl, "run: %s", err.msg);
            r = R_FAIL;
            goto out;
        }
    }
    for (int64_t i = 0; i < want->n; i++) {
        double a = got[i], b = want->data[i];
        if (!near(a, b)) {
            snprintf(why, wl, "%s: element %lld is %.9g, expected %.9g", set,
                     (long long)i, a, b);
            r = R_FAIL;
            goto out;
        }
    }
    if (verbose) fprintf(stderr, "  %s: %lld values match\n", set, (long long)want->n);
    {
        int conv = 0;
        r = run_spiking(g, in[0], want, in[0]->ndim ? in[0]->dims[0] : 1, &conv, why, wl);
        *converted |= conv;
        if (verbose && conv && r == R_PASS)
            fprintf(stderr, "  %s: the rate-mode spiking net agrees\n", set);
    }
    goto out;

import_failed:
    /* the loader prefixes the model path; the test name already says it */
    snprintf(path, sizeof path, "%s/model.onnx: ", dir);
    r = why_err(&err, path, why, wl);
out:
    snn_graph_free(g);
    free(got);
    for (int k = 0; k < nin; k++) snn_onnx_tensor_free(in[k]);
    snn_onnx_tensor_free(want);
    return r;
}

/* Inputs and outputs that are sequences, maps or optionals are out of
 * scope; their data files are not TensorProto. */
static result check_types(const char *dir, char *why, size_t wl)
{
    char path[4096];
    snn_error err;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    snn_onnx_io *io = snn_onnx_io_load(path, NULL, &err);
    if (!io) {
        snprintf(path, sizeof path, "%s/", dir);
        return why_err(&err, path, why, wl);
    }
    result r = R_PASS;
    for (int o = 0; o < 2 && r == R_PASS; o++) {
        int n = o ? io->noutputs : io->ninputs;
        const snn_onnx_value *v = o ? io->outputs : io->inputs;
        for (int i = 0; i < n; i++) {
            if (v[i].kind != SNN_ONNX_KIND_TENSOR && v[i].kind != SNN_ONNX_KIND_UNTYPED) {
                snprintf(why, wl, "%s '%s' is not a tensor (sequence, map or "
                         "optional)", o ? "output" : "input", v[i].name);
                r = R_SKIP;
                break;
            }
        }
    }
    snn_onnx_io_free(io);
    return r;
}

static result run_dir(const char *dir, int verbose, int *converted, char *why, size_t wl)
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
    if ((r = check_types(dir, why, wl)) != R_PASS) {
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
        r = run_set(dir, sets[i], verbose, converted, why, wl);
    for (int i = 0; i < nsets; i++) free(sets[i]);
    return r;
}

int cmd_conform(int argc, char **argv)
{
    int verbose = 0, npass = 0, nfail = 0, nskip = 0, ndirs = 0, nconv = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            verbose = 1;
        } else if (cli_is_help(argv[i])) {
            printf("usage: snnctl conform [-v] DIR...\n"
                   "  Run ONNX backend test folders (model.onnx + test_data_set_*)\n"
                   "  through the rate evaluator, and the spiking net in rate mode where\n"
                   "  the graph converts; prints PASS/FAIL/SKIP per test.\n");
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
        int conv = 0;
        switch (run_dir(dir, verbose, &conv, why, sizeof why)) {
        case R_PASS:
            printf("PASS %.*s\n", nl, name);
            npass++;
            nconv += conv;
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
    printf("%d of the passed also converted to spiking nets (rate mode equals the expected output)\n",
           nconv);
    printf("%d passed, %d failed, %d skipped\n", npass, nfail, nskip);
    return nfail ? 1 : 0;
}
