/* cmd_info.c: `snnctl info MODEL`: the converted network's layers, shapes,
 * neuron counts, parameter bytes and MACs per layer. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "snn/engine.h"

static const char *INFO_USAGE = "usage: snnctl info MODEL [RUN OPTIONS]\n";

int cmd_info(int argc, char **argv)
{
    cli_opts o;
    cli_opts_init(&o);
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        int r = cli_opts_flag(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (cli_is_help(argv[i])) {
            fputs(INFO_USAGE, stdout);
            cli_print_run_options(stdout);
            return 0;
        }
        if (argv[i][0] != '-' && !model) model = argv[i];
        else {
            cli_errorf("info: unexpected argument '%s'", argv[i]);
            fputs(INFO_USAGE, stderr);
            return 2;
        }
    }
    if (!model) {
        fputs(INFO_USAGE, stderr);
        return 2;
    }
    snn_convert_params p;
    int steps;
    snn_model *m = cli_model_load(model, &o, &p, &steps);
    if (!m) return 1;
    snn_error err = {0};
    snn_net *net = snn_net_new(m, &p, &err);
    if (!net) {
        cli_errorf("%s", err.msg);
        snn_model_free(m);
        return 1;
    }
    char pbuf[1024];
    snn_convert_params_format(&p, pbuf, sizeof pbuf);
    const snn_graph *g = m->graph;
    printf("model        %s (%s)\n", m->cfg.name, m->path);
    if (m->cfg.description) printf("description  %s\n", m->cfg.description);
    printf("onnx         opset %lld, %d nodes, producer %s\n", (long long)g->opset, g->nnodes,
           g->producer && g->producer[0] ? g->producer : "unknown");
    printf("input        %dx%dx%d (%s), scale %g\n", m->cfg.in_c, m->cfg.in_h, m->cfg.in_w,
           m->cfg.layout == SNN_LAYOUT_NHWC ? "NHWC" : "NCHW", m->cfg.input_scale);
    printf("classes      %d:", m->cfg.nclasses);
    for (int i = 0; i < m->cfg.nclasses && i < 20; i++) printf(" %s", m->cfg.classes[i]);
    printf("%s\n", m->cfg.nclasses > 20 ? " ..." : "");
    printf("conversion   %s\n", pbuf);
    for (int i = 0; i < snn_net_nnotes(net); i++) printf("note         %s\n", snn_net_note(net, i));
    printf("steps        %d (max %d)\n\n", steps, m->cfg.max_steps);
    printf("%-3s %-16s %-8s %-26s %-14s %9s %10s %12s %7s  %s\n", "#", "layer", "kind", "stage ops",
           "shape CxHxW", "neurons", "params B", "MACs", "gain", "reads");
    int64_t tn = 0, tp = 0, tm = 0;
    for (int l = 0; l < snn_net_nlayers(net); l++) {
        const snn_layer_info *inf = snn_net_layer(net, l);
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", inf->c, inf->h, inf->w);
        const char *kind = inf->kind == SNN_LAYER_INPUT ? "input"
                           : inf->kind == SNN_LAYER_OUTPUT ? "readout" : "neurons";
        int64_t neurons = inf->kind == SNN_LAYER_NEURONS ? inf->neurons : 0;
        printf("%-3d %-16s %-8s %-26s %-14s %9lld %10lld %12lld %7.4g  %s\n", l, inf->name, kind,
               l ? inf->ops : "-", shape, (long long)neurons, (long long)inf->params * 4,
               (long long)inf->macs, inf->kind == SNN_LAYER_NEURONS ? inf->scale : 0.0,
               l ? inf->inputs : "-");
        tn += neurons;
        tp += inf->params * 4;
        tm += inf->macs;
    }
    printf("%-3s %-16s %-8s %-26s %-14s %9lld %10lld %12lld\n", "", "total", "", "", "",
           (long long)tn, (long long)tp, (long long)tm);
    printf("\nmemory       %zu bytes planned network, %zu bytes ONNX weights\n",
           snn_net_memory_bytes(net), m->weight_bytes);
    snn_net_free(net);
    snn_model_free(m);
    return 0;
}
