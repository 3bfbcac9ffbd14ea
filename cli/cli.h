/* cli.h: private header of snnctl: one cmd_<name>() per subcommand, plus
 * the flag helpers they share. Each command parses its own argv (argv[0] is
 * the subcommand name) and returns the process exit status. */
#ifndef SNNCTL_CLI_H
#define SNNCTL_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "snn/convert.h"
#include "snn/engine.h"
#include "snn/image.h"
#include "snn/model.h"
#include "snn/params.h"
#include "snn/version.h"

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_conform(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* Print "snnctl: " + message to stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 if A asks for a command's usage (-h, --help). */
int cli_is_help(const char *a);

/* ---- shared flag handling (cli/common.c) ---- */
#define CLI_MAX_SET 64

/* Conversion and run flags common to run, eval, sweep, calibrate and plot:
 *   --steps N --dt S --neuron spiking-relu|relu --synapse S|none
 *   --scale-firing-rates X[,layer=X] --v0 zero|half|uniform:SEED
 *   --normalize none|max|percentile:P --readout filtered|mean
 *   --input-scale X --calibrate DATASET[:N] --early-exit K[:P[:M]]
 *   --bias-correct [--bias-images N] --threads N */
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
    int bias_correct;           /* compute a bias correction from --calibrate's images */
    int bias_images;            /* ... on the first this many of them */
} cli_opts;

void cli_opts_init(cli_opts *o);
/* Try to consume argv[*i] (and its value). 1 = consumed, 0 = not ours,
 * -1 = bad value (message printed). */
int cli_opts_flag(cli_opts *o, int argc, char **argv, int *i);
/* Load MODEL and apply the flags to a copy of its conversion parameters;
 * calibrates when --calibrate is given or normalize needs thresholds, and
 * with --bias-correct measures a bias correction at the effective steps
 * and conversion, installed in the returned model's config (cfg.bias) and
 * switched on in *p.
 * Prints the error and returns NULL on failure. */
snn_model *cli_model_load(const char *path, const cli_opts *o, snn_convert_params *p, int *steps);
/* The --calibrate images (train split, first N; default 1000), preprocessed
 * for m: new, caller frees; *n their count. Prints and returns NULL on error. */
float *cli_calibration_images(const snn_model *m, const cli_opts *o, int *n);
/* Measure a bias correction of p at `steps` on n images: *out is a new
 * table the caller owns (m is not changed). Prints the error. */
snn_err cli_bias_measure(const snn_model *m, const float *in, int n, const snn_convert_params *p,
                         int steps, int verbose, snn_bias_table **out);
/* IMAGE is a PNG/JPEG path or DATASET_SPEC#INDEX (test split). label is
 * set from the dataset, else -1. Returns 0 on success. */
int cli_image_load(const char *spec, snn_image *img, int *label);
/* "a,b,c" into out (each under 64 chars): the count, or -1 when empty
 * items, too long ones or more than max. */
int cli_split_list(const char *s, char out[][64], int max);
/* One listed value of conversion option KEY through the option table, into
 * *c (defaults otherwise): 0, or prints "WHO: why" and returns 2. Lists
 * are checked this way before any work. */
int cli_check_value(const char *who, const char *key, const char *val, snn_convert_params *c);
/* The run options of the library's table as flags, with syntax and help
 * (every command's usage ends with them). */
void cli_print_run_options(FILE *f);
/* Write a float32 .npy array of shape dims[0..nd-1]. */
int cli_write_npy(const char *path, const float *data, int nd, const int64_t *dims);
double cli_now(void);

/* ---- one image through the converted network (run, plot) ---- */

/* What to simulate. model and image as on the command line (IMAGE as for
 * cli_image_load); the rest optional (NULL / 0). */
typedef struct cli_sim_req {
    const char *model, *image;
    const char *label;          /* TRUE_CLASS replacing the dataset's: a class name or index */
    const char *raster_layer;   /* a neuron layer to record (spiking neurons only) */
    int raster_neurons;         /* sampled neurons of that layer */
    int stats;                  /* gather spike statistics (res.layers) */
} cli_sim_req;

/* Everything run and plot print. Caller's storage: filled by
 * cli_simulate_one, released with cli_sim_deinit. */
typedef struct cli_sim {
    snn_model *model;           /* owned */
    snn_net *net;               /* owned; needed for layer infos and energy */
    snn_convert_params params;  /* the effective conversion (model config + flags) */
    int label;                  /* true class, -1 = unknown or not a class of the model */
    int raster_layer;           /* layer index in net, -1 = none */
    snn_result res;             /* one image; res.steps ran (early exit may stop sooner) */
    int ann_pred;               /* the ANN's class for the same input (snn_graph_run) */
    float ann_prob;             /* its probability (softmax of the output unless it is one) */
} cli_sim;

/* Load the model with the flags of o (cli_model_load), the image, preprocess,
 * convert, run one image with o's steps and early exit. Returns 0, or prints
 * the error and returns the exit status (2 for flag values the model cannot
 * honour, 1 otherwise); out needs cli_sim_deinit either way. */
int cli_simulate_one(const cli_sim_req *rq, const cli_opts *o, cli_sim *out);
void cli_sim_deinit(cli_sim *s);

#endif
