/* graph_run.c: snn_graph_run(), the rate (ANN) forward pass.
 *
 * DESIGN: the graph is read-only; every call infers the shapes for its
 * batch, lays out one arena for all activations plus the largest scratch
 * (im2col) any node needs, and runs the nodes in order. The arena and the
 * per-tensor tables live in a workspace (snn_graph_ws) that grows to the
 * largest run and is reused, so a loop of runs touches no new memory after
 * its first (a fresh arena for each batch of 64 had the ANN pass of
 * `snnctl eval` spend a third of its time in page faults and zeroing);
 * snn_graph_run uses a workspace of its own, so concurrent calls on one
 * graph stay safe. Reshape and Flatten write nothing: their output shares
 * the input's buffer.
 */
#include "graph_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct snn_graph_ws {
    size_t ntab;                /* entries of the tables below */
    gshape *s;
    float **buf;
    size_t *off;
    int *view;
    size_t nfloats;             /* floats of the arena */
    float *arena;
};

snn_graph_ws *snn_graph_ws_new(void) { return calloc(1, sizeof(snn_graph_ws)); }

void snn_graph_ws_free(snn_graph_ws *ws)
{
    if (!ws) return;
    free(ws->s);
    free(ws->buf);
    free(ws->off);
    free(ws->view);
    free(ws->arena);
    free(ws);
}

void snn_graph_ws_poison(snn_graph_ws *ws)
{
    for (size_t i = 0; i < ws->nfloats; i++) ws->arena[i] = NAN;
}

/* Tables for n tensors; keeps the old ones when it cannot grow. */
static int ws_tables(snn_graph_ws *ws, size_t n)
{
    if (n <= ws->ntab) return 0;
    gshape *s = realloc(ws->s, n * sizeof *s);
    if (s) ws->s = s;
    float **buf = realloc(ws->buf, n * sizeof *buf);
    if (buf) ws->buf = buf;
    size_t *off = realloc(ws->off, n * sizeof *off);
    if (off) ws->off = off;
    int *view = realloc(ws->view, n * sizeof *view);
    if (view) ws->view = view;
    if (!s || !buf || !off || !view) return -1;
    ws->ntab = n;
    return 0;
}

snn_err snn_graph_run_ws(const snn_graph *g, snn_graph_ws *ws, const float *in, int64_t batch,
                         float *out, snn_graph_act_cb cb, void *ud, snn_error *err)
{
    snn_err rc;
    if (!g || !ws || !in || !out)
        return snn_error_set(err, SNN_EINVALID, "graph_run: NULL argument");
    if (!g->finalized)
        return snn_error_set(err, SNN_EINVALID, "graph_run: graph not finalized");
    if (ws_tables(ws, (size_t)g->ntensors + 1))
        return snn_error_set(err, SNN_ENOMEM, "graph_run");
    gshape *s = ws->s;
    float **buf = ws->buf;
    size_t *off = ws->off;
    int *view = ws->view;
    memset(buf, 0, ((size_t)g->ntensors + 1) * sizeof *buf);
    memset(off, 0, ((size_t)g->ntensors + 1) * sizeof *off);
    memset(view, 0, ((size_t)g->ntensors + 1) * sizeof *view);
    if ((rc = graph_infer_all(g, batch, s, err))) return rc;

    /* arena layout: every node output that is not a view, then scratch */
    size_t total = 0, scratch = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const snn_node *n = &g->nodes[i];
        const gshape *ins[SNN_NODE_MAX_IN] = {0};
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0) ins[k] = &s[n->in[k]];
        size_t sc = graph_node_scratch(n, ins, &s[n->out]);
        if (sc > scratch) scratch = sc;
        if (n->op == SNN_OP_RESHAPE || n->op == SNN_OP_FLATTEN) {
            view[n->out] = 1;
            continue;
        }
        off[n->out] = total;
        total += (size_t)gshape_elems(&s[n->out]);
    }
    if (total + scratch + 1 > ws->nfloats) {
        float *arena = malloc((total + scratch + 1) * sizeof *arena);
        if (!arena) return snn_error_set(err, SNN_ENOMEM, "graph_run: %zu floats", total + scratch);
        free(ws->arena);
        ws->arena = arena;
        ws->nfloats = total + scratch + 1;
    }
    float *arena = ws->arena;
    for (int t = 0; t < g->ntensors; t++) buf[t] = g->tensors[t].data;
    buf[g->input] = (float *)in;
    for (int i = 0; i < g->nnodes; i++) {
        const snn_node *n = &g->nodes[i];
        const gshape *ins[SNN_NODE_MAX_IN] = {0};
        const float *xs[SNN_NODE_MAX_IN] = {0};
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0) {
                ins[k] = &s[n->in[k]];
                xs[k] = buf[n->in[k]];
            }
        if (view[n->out]) {
            buf[n->out] = (float *)xs[0];
        } else {
            buf[n->out] = arena + off[n->out];
            graph_node_exec(n, ins, xs, &s[n->out], buf[n->out], arena + total, 0);
        }
        if (cb) cb(ud, g, i, buf[n->out], gshape_elems(&s[n->out]));
    }
    memcpy(out, buf[g->output], (size_t)gshape_elems(&s[g->output]) * sizeof *out);
    return SNN_OK;
}

snn_err snn_graph_run(const snn_graph *g, const float *in, int64_t batch, float *out,
                      snn_graph_act_cb cb, void *ud, snn_error *err)
{
    snn_graph_ws *ws = snn_graph_ws_new();
    if (!ws) return snn_error_set(err, SNN_ENOMEM, "graph_run");
    snn_err rc = snn_graph_run_ws(g, ws, in, batch, out, cb, ud, err);
    snn_graph_ws_free(ws);
    return rc;
}
