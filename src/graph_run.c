/* graph_run.c: snn_graph_run(), the rate (ANN) forward pass.
 *
 * DESIGN: the graph is read-only; every call infers the shapes for its
 * batch, allocates one arena for all activations plus the largest scratch
 * (im2col) any node needs, runs the nodes in order and frees the arena.
 * So concurrent calls on one graph are safe. Reshape and Flatten write
 * nothing: their output shares the input's buffer.
 */
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

snn_err snn_graph_run(const snn_graph *g, const float *in, int64_t batch,
                      float *out, snn_graph_act_cb cb, void *ud, snn_error *err)
{
    snn_err rc;
    if (!g || !in || !out)
        return snn_error_set(err, SNN_EINVALID, "graph_run: NULL argument");
    if (!g->finalized)
        return snn_error_set(err, SNN_EINVALID, "graph_run: graph not finalized");
    gshape *s = malloc(((size_t)g->ntensors + 1) * sizeof *s);
    float **buf = calloc((size_t)g->ntensors + 1, sizeof *buf);
    size_t *off = calloc((size_t)g->ntensors + 1, sizeof *off);
    if (!s || !buf || !off) {
        rc = snn_error_set(err, SNN_ENOMEM, "graph_run");
        goto done;
    }
    if ((rc = graph_infer_all(g, batch, s, err))) goto done;

    /* arena layout: every node output that is not a view, then scratch */
    size_t total = 0, scratch = 0;
    int *view = calloc((size_t)g->ntensors + 1, sizeof *view);
    if (!view) {
        rc = snn_error_set(err, SNN_ENOMEM, "graph_run");
        goto done;
    }
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
    float *arena = malloc((total + scratch + 1) * sizeof *arena);
    if (!arena) {
        free(view);
        rc = snn_error_set(err, SNN_ENOMEM, "graph_run: %zu floats", total + scratch);
        goto done;
    }
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
    free(arena);
    free(view);
done:
    free(s);
    free(buf);
    free(off);
    return rc;
}
