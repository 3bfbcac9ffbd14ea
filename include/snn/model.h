/* model.h: a model directory (model.onnx + config.json) loaded into memory.
 *
 * DESIGN: a model is the imported graph plus everything needed to feed it
 * and read it: the class names, the input shape and pixel preprocessing,
 * the default number of timesteps and the default conversion parameters.
 * MODEL arguments everywhere (snnctl, the daemon's repository) are either a
 * directory holding model.onnx and config.json, or a bare .onnx file, which
 * then gets defaults derived from the graph (classes "0".."N-1", input
 * shape from the graph, pixels scaled by 1).
 *
 * config.json (every key optional but "name"):
 *   {"name": "cifar10", "description": "...",
 *    "classes": ["airplane", ...],
 *    "input": {"channels": 3, "height": 32, "width": 32,
 *              "layout": "nchw" | "nhwc",      // of the ONNX input
 *              "scale": 0.00392157,            // raw 0..255 times scale,
 *              "mean": [..], "std": [..],      // then (x - mean) / std
 *              "resize": "bilinear" | "reject"},
 *    "steps": 30, "max_steps": 1000,
 *    "conversion": {"neuron": "spiking-relu", "synapse": 0.005,
 *                   "scale_firing_rates": 20 | "20,conv1=10",
 *                   "v0": "uniform:0", "dt": 0.001, "normalize": "none",
 *                   "readout": "filtered",
 *                   "thresholds": {"conv1": 3.2, ...},
 *                   "bias_correction": "on" | "off"},   // on when a table is stored
 *    "bias_correction": {"steps": 16, "images": 256,    // snnctl calibrate --bias-correct
 *                        "conversion": "neuron=if ...",
 *                        "layers": {"conv1": [per-channel offsets], ...}},
 *    "early_exit": {"patience": 5, "min_prob": 0.0, "min_margin": 0.0},
 *    "overridable": ["steps", "synapse", "scale_firing_rates", ...],
 *    "training": {...free-form provenance...},
 *    "calibration": {...free-form provenance of snnctl calibrate...}}
 *
 * A loaded snn_model is immutable and may be shared between threads.
 */
#ifndef SNN_MODEL_H
#define SNN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "snn/convert.h"
#include "snn/error.h"
#include "snn/graph.h"

#define SNN_MODEL_NAME_MAX 64

typedef enum { SNN_LAYOUT_NCHW, SNN_LAYOUT_NHWC } snn_layout;
typedef enum { SNN_RESIZE_BILINEAR, SNN_RESIZE_REJECT } snn_resize_policy;

typedef struct snn_early_exit {
    int patience;        /* stop when the top class held this many steps (0 = off) */
    float min_prob;      /* ... with probability at least this */
    float min_margin;    /* ... and a lead over the second class at least this */
    int min_steps;       /* never stop before this step count */
} snn_early_exit;

/* Bias correction (Li et al. 2021, "light calibration"): per neuron layer
 * and channel, an offset in activation units added to the layer's input
 * (J = gain * (x + bias + offset)) so that the layer's mean spiking output
 * over the calibration images matches the ANN's mean activation. Measured
 * at one conversion and step count, which it records. */
typedef struct snn_bias_layer {
    char layer[SNN_LAYER_NAME_MAX];
    int channels;                  /* spatial layers: channels; flat layers: elements */
    float *offset;                 /* [channels], owned by the table */
} snn_bias_layer;

typedef struct snn_bias_table {
    int steps;                     /* steps simulated when it was measured */
    int images;                    /* calibration images */
    char conversion[1024];         /* the conversion it was measured with
                                    * (snn_convert_params_format) */
    int nlayers;
    snn_bias_layer layers[SNN_MAX_LAYER_PARAMS];
} snn_bias_table;

/* new, caller frees with snn_bias_table_free (NULL is a no-op). */
snn_bias_table *snn_bias_table_new(void);
snn_bias_table *snn_bias_table_copy(const snn_bias_table *t);
void snn_bias_table_free(snn_bias_table *t);
/* Add a layer of `channels` offsets (copied). SNN_ELIMIT past
 * SNN_MAX_LAYER_PARAMS layers. */
snn_err snn_bias_table_add(snn_bias_table *t, const char *layer, const float *offset, int channels,
                           snn_error *err);
const snn_bias_layer *snn_bias_table_find(const snn_bias_table *t, const char *layer);

typedef struct snn_model_config {
    char name[SNN_MODEL_NAME_MAX];
    char *description;             /* may be NULL */
    int nclasses;
    char **classes;                /* nclasses names */
    int in_c, in_h, in_w;
    snn_layout layout;
    float input_scale;
    float mean[4], std[4];         /* per channel (in_c <= 4) */
    snn_resize_policy resize;
    int steps, max_steps;
    snn_convert_params convert;
    snn_early_exit early_exit;
    uint32_t overridable;          /* bitmask of SNN_OVR_* */
    snn_bias_table *bias;          /* NULL = none; owned (snn_model_config_deinit frees) */
    char *calibration;             /* "calibration" provenance (JSON object text of the last
                                    * snnctl calibrate), or NULL; owned */
} snn_model_config;

enum {
    SNN_OVR_STEPS = 1u << 0,
    SNN_OVR_SYNAPSE = 1u << 1,
    SNN_OVR_SCALE = 1u << 2,
    SNN_OVR_V0 = 1u << 3,
    SNN_OVR_NEURON = 1u << 4,
    SNN_OVR_READOUT = 1u << 5,
    SNN_OVR_NORMALIZE = 1u << 6,
    SNN_OVR_EARLY_EXIT = 1u << 7,
    SNN_OVR_DT = 1u << 8,
    SNN_OVR_MAXPOOL = 1u << 9,
    SNN_OVR_BIAS_CORRECTION = 1u << 10,
    SNN_OVR_ALL = 0x7ffu
};

typedef struct snn_model {
    snn_graph *graph;
    snn_model_config cfg;
    char *path;                    /* the directory or .onnx path it came from */
    size_t weight_bytes;           /* constant tensor bytes */
} snn_model;

/* Load a model directory or bare .onnx file. new, caller frees with
 * snn_model_free. */
snn_model *snn_model_load(const char *path, snn_error *err);
void snn_model_free(snn_model *m);

/* Parse config.json text into cfg, validated against graph g when g is not
 * NULL (class count, input shape). Used by snn_model_load and by tests. */
snn_err snn_model_config_parse(snn_model_config *cfg, const char *json,
                               size_t len, const snn_graph *g, snn_error *err);
void snn_model_config_deinit(snn_model_config *cfg);

/* Write the config (and calibrated thresholds) back as config.json text.
 * new, caller frees with free(). */
char *snn_model_config_dump(const snn_model_config *cfg);
/* Rewrite DIR/config.json atomically (temp file + rename). */
snn_err snn_model_config_save(const snn_model_config *cfg, const char *dir,
                              snn_error *err);

/* Number of floats of one preprocessed input item (in_c*in_h*in_w). */
size_t snn_model_input_size(const snn_model *m);

/* Raw 8-bit pixels (height x width x channels, interleaved, as decoded
 * images and datasets give them) to the model's input tensor item:
 * resized if the config allows, scaled, normalised, laid out as the ONNX
 * input expects. `scale_override` > 0 replaces the config's input scale.
 * `out` holds snn_model_input_size() floats. */
snn_err snn_model_preprocess(const snn_model *m, const uint8_t *pixels,
                             int width, int height, int channels,
                             float scale_override, float *out,
                             snn_error *err);

#endif
