/* snnctl.c: the command-line tool's entry point: dispatches subcommands
 * (cli.h). Everything it does goes through libsnn's public headers. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    {"info", cmd_info, "layers, shapes, neurons, parameters and MACs of a converted model"},
    {"run", cmd_run, "per-step class probabilities of one image"},
    {"eval", cmd_eval, "ANN and SNN accuracy, spikes, energy and speed over a dataset"},
    {"sweep", cmd_sweep, "accuracy/latency/energy over steps, scales, synapses, early exit"},
    {"calibrate", cmd_calibrate, "store data-based firing thresholds in a model's config.json"},
    {"plot", cmd_plot, "spike raster or probabilities over time, as SVG or PNG"},
    {"conform", cmd_conform, "run ONNX backend test folders through the rate path"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: snnctl COMMAND [ARGS]   (snnctl COMMAND --help for details)\n\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\nMODEL is a model directory (model.onnx + config.json) or a bare .onnx file.\n\n");
    cli_print_run_options(f);
}

int main(int argc, char **argv)
{
    snn_blas_core_fix(argv); /* first: it may re-run the program */
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("snnctl %s\n", SNN_VERSION);
        return 0;
    }
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    cli_errorf("unknown command '%s'", argv[1]);
    usage(stderr);
    return 2;
}
