/* cli.h: private header of snnctl: one cmd_<name>() per subcommand, plus
 * the flag helpers they share. Each command parses its own argv (argv[0] is
 * the subcommand name) and returns the process exit status. */
#ifndef SNNCTL_CLI_H
#define SNNCTL_CLI_H

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_conform(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* Print "snnctl: " + message to stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

/* ---- shared flag handling (cli/common.c) ---- */
#include <stdint.h>

#include "snn/convert.h"
#include "snn/image.h"
#include "snn/model.h"

#define CLI_MAX_SET 64

/* Conversion and run flags common to run, eval, sweep, calibrate and plot:
 *   --steps N --dt S --neuron spiking-relu|relu --synapse S|none
 *   --scale-firing-rates X[,layer=X] --v0 zero|half|uniform:SEED
 *   --normalize none|max|percentile:P --readout filtered|mean
 *   --input-scale X --calibrate DATASET[:N] --early-exit K[:P[:M]]
 *   --threads N */
typedef struct cli_opts {
    int nset;
    struct {
        char key[32];
        char val[512];
    } set[CLI_MAX_SET];
    int steps;                  /* 0 = the model's */
    float input_scale;          /* 0 = the model's */
    char calibrate[1024];       /* dataset spec, optional ":N" suffix */
    snn_early_exit ee;
    int have_ee;
    int threads;
} cli_opts;

void cli_opts_init(cli_opts *o);
/* Try to consume argv[*i] (and its value). 1 = consumed, 0 = not ours,
 * -1 = bad value (message printed). */
int cli_opts_flag(cli_opts *o, int argc, char **argv, int *i);
/* Load MODEL and apply the flags to a copy of its conversion parameters;
 * calibrates when --calibrate is given or normalize needs thresholds.
 * Prints the error and returns NULL on failure. */
snn_model *cli_model_load(const char *path, const cli_opts *o, snn_convert_params *p, int *steps);
/* IMAGE is a PNG/JPEG path or DATASET_SPEC#INDEX (test split). label is
 * set from the dataset, else -1. Returns 0 on success. */
int cli_image_load(const char *spec, snn_image *img, int *label);
/* Early exit from "K[:P[:M]]". */
int cli_parse_early_exit(const char *s, snn_early_exit *ee);
/* Write a float32 .npy array of shape dims[0..nd-1]. */
int cli_write_npy(const char *path, const float *data, int nd, const int64_t *dims);
double cli_now(void);
