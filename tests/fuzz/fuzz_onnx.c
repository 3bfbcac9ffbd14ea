/* fuzz_onnx.c: ONNX import (snn_graph_load_onnx_mem) with small limits;
 * when a graph loads and its tensors are small, finalize it if needed and
 * run the rate forward pass on one item (inputs after the first that are
 * not initializers stay unbound: finalize must refuse them cleanly). */
#include <stdint.h>

#include "fuzz_common.h"
#include "snn/graph.h"

#define MAX_ELEMS (1 << 16)        /* per activation tensor, batch 1 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snn_import_limits lim = {1 << 20, 1 << 18, 64};
    snn_error err;
    snn_graph *g = snn_graph_load_onnx_mem(data, size, &lim, &err);
    if (!g) return 0;
    if (!g->finalized && snn_graph_finalize(g, &err) != SNN_OK) goto out;
    if (g->input < 0 || g->input >= g->ntensors || g->output < 0 || g->output >= g->ntensors)
        abort();   /* a finalized graph names its input and output */
    /* every activation must be small at batch 1 before we run */
    int64_t in_n = 0, out_n = 0;
    for (int t = 0; t < g->ntensors; t++) {
        int nd;
        int64_t dims[SNN_MAX_DIMS], n = 1;
        snn_graph_tensor_shape(g, t, 1, &nd, dims);
        if (nd < 0) goto out;
        for (int i = 0; i < nd; i++) {
            if (dims[i] < 0 || dims[i] > MAX_ELEMS) goto out;
            n *= dims[i];
            if (n > MAX_ELEMS) goto out;
        }
        if (t == g->input) in_n = n;
        if (t == g->output) out_n = n;
    }
    if (in_n < 1 || out_n < 1) goto out;
    float *in = calloc((size_t)in_n, sizeof *in), *o = calloc((size_t)out_n, sizeof *o);
    if (!in || !o) abort();
    for (int64_t i = 0; i < in_n; i++) in[i] = (float)((i * 37) % 11) / 10.0f;
    snn_graph_run(g, in, 1, o, NULL, NULL, &err);
    free(in);
    free(o);
out:
    snn_graph_free(g);
    return 0;
}
