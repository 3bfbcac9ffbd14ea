/* cmd_run.c: `snnctl run MODEL IMAGE`: per-step class probabilities of one
 * image, optional spike statistics, energy and a .npy dump. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snn/energy.h"
#include "snn/engine.h"

static const char *RUN_USAGE =
    "usage: snnctl run MODEL IMAGE [--steps N] [conversion flags] [--top K] [--dump FILE.npy]\n"
    "  IMAGE: a PNG/JPEG file or DATASET_SPEC#INDEX, e.g. cifar10:../shared/datasets/cifar10#19\n";

/* The step table, the prediction, spikes and energy of a finished run. */
static void print_run(const cli_sim *sim, int topk)
{
    const snn_model *m = sim->model;
    const snn_result *res = &sim->res;
    const int C = res->nclasses;
    if (topk < 1) topk = 1;
    if (topk > C) topk = C;
    printf("%5s %8s  %s\n", "step", "t (ms)", "top classes");
    for (int t = 0; t < res->steps; t++) {
        const float *pr = snn_result_probs(res, t, 0);
        int used[64] = {0};
        printf("%5d %8.1f ", t + 1, (t + 1) * sim->params.dt * 1000);
        for (int k = 0; k < topk && k < 64; k++) {
            int best = -1;
            for (int c = 0; c < C; c++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= used[j] == c;
                if (!taken && (best < 0 || pr[c] > pr[best])) best = c;
            }
            used[k] = best;
            printf(" %s %.3f", m->cfg.classes[best], pr[best]);
        }
        printf("\n");
    }
    printf("prediction: %s (p=%.3f) after %d steps", m->cfg.classes[res->pred[0]],
           res->pred_prob[0], res->stop_step[0]);
    if (sim->label >= 0) printf("; true class: %s", m->cfg.classes[sim->label]);
    printf("\nANN prediction: %s (p=%.3f)\n", m->cfg.classes[sim->ann_pred], sim->ann_prob);
    double spikes = 0;
    for (int l = 0; l < res->nlayers; l++) spikes += res->layers[l].spikes;
    const snn_device *loihi = snn_energy_device_find("loihi");
    snn_energy es, ea;
    snn_energy_snn(sim->net, res, 1, loihi, &es);
    snn_energy_ann(sim->net, loihi, &ea);
    printf("spikes: %.0f; estimated energy on loihi: %.3g J (the ANN: %.3g J)\n", spikes, es.joules,
           ea.joules);
}

int cmd_run(int argc, char **argv)
{
    cli_opts o;
    cli_opts_init(&o);
    const char *model = NULL, *image = NULL, *dump = NULL;
    int topk = 3;
    for (int i = 1; i < argc; i++) {
        int r = cli_opts_flag(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(RUN_USAGE, stdout);
            return 0;
        } else if (i + 1 < argc && !strcmp(a, "--dump")) dump = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--top")) topk = atoi(argv[++i]);
        else if (a[0] != '-' && !model) model = a;
        else if (a[0] != '-' && !image) image = a;
        else {
            cli_errorf("run: unexpected argument '%s'", a);
            fputs(RUN_USAGE, stderr);
            return 2;
        }
    }
    if (!model || !image) {
        fputs(RUN_USAGE, stderr);
        return 2;
    }
    cli_sim sim;
    cli_sim_req rq = {.model = model, .image = image, .stats = 1};
    int rc = cli_simulate_one(&rq, &o, &sim);
    if (!rc) {
        print_run(&sim, topk);
        if (dump) {
            int64_t dims[3] = {sim.res.steps, 1, sim.res.nclasses};
            if (cli_write_npy(dump, sim.res.probs, 3, dims)) rc = 1;
        }
    }
    cli_sim_deinit(&sim);
    return rc;
}
