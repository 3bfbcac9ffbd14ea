/* plot.h: spike rasters and class-probability curves as SVG or PNG.
 *
 * DESIGN: each plot is laid out once, in pixels, and drawn through a small
 * canvas with two back ends: an SVG writer (text) and a rasteriser
 * (anti-aliased lines and rectangles, text in an embedded 5x7 bitmap font
 * for ASCII 32..126) whose RGB pixels are PNG-encoded with
 * snn_image_encode_png(). Both formats therefore show the same plot, and
 * the output depends only on the input (no fonts, no locale, no clock).
 *
 * SVG structure, which callers and tests may rely on:
 *   - a raster draws one <rect> per spike (k spikes of one neuron in one
 *     step: k marks spread over the step, at most SNN_PLOT_MAX_MARKS), all
 *     inside <g id="spikes" ...>; nothing else in that group;
 *   - a probability plot draws one <polyline> per class (in class order,
 *     colours of matplotlib's tab10 cycle) and no other <polyline>;
 *   - text is ASCII: other bytes are shown as '?'.
 */
#ifndef SNN_PLOT_H
#define SNN_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "snn/error.h"

typedef enum { SNN_PLOT_SVG, SNN_PLOT_PNG } snn_plot_format;

#define SNN_PLOT_DEFAULT_WIDTH 800
#define SNN_PLOT_DEFAULT_HEIGHT 500
#define SNN_PLOT_MIN_SIDE 160
#define SNN_PLOT_MAX_SIDE 4096
#define SNN_PLOT_MAX_MARKS 8       /* raster marks per neuron and step */

/* A spike raster: x = time in ms (step s covers [s, s+1) * dt * 1000),
 * y = neuron index (0 at the bottom). All pointers are borrowed. */
typedef struct snn_plot_raster_data {
    int steps;                    /* rows of counts, >= 1 */
    int nneurons;                 /* columns of counts, >= 0 */
    const uint16_t *counts;       /* [steps x nneurons] spikes per step and neuron */
    const int64_t *neuron_index;  /* [nneurons] y of each column; NULL = 0..n-1 */
    double dt;                    /* seconds per step, > 0 */
    const char *title;            /* NULL = none */
    const char *ylabel;           /* NULL = "neuron index" */
    int width, height;            /* pixels; 0 = the defaults */
} snn_plot_raster_data;

/* Class probabilities over time: x = time in ms at the end of each step
 * ((s + 1) * dt * 1000), y = probability in [0, 1] (values are clamped,
 * NaN drawn as 0), legend with the class names. */
typedef struct snn_plot_probs_data {
    int steps;                    /* >= 1 */
    int nclasses;                 /* 1..1000 */
    const float *probs;           /* probs[s * stride + k] */
    int stride;                   /* floats from one step to the next; 0 = nclasses */
    const char *const *class_names;   /* [nclasses]; NULL (or a NULL entry) = the index */
    double dt;                    /* seconds per step, > 0 */
    const char *title;            /* e.g. "true: cat, predicted: dog"; NULL = none */
    int width, height;            /* pixels; 0 = the defaults */
} snn_plot_probs_data;

/* Draw. On success *out is a new buffer of *len bytes (SVG text, also
 * NUL-terminated, or a PNG file), caller frees with free(). */
snn_err snn_plot_raster(const snn_plot_raster_data *d, snn_plot_format fmt,
                        uint8_t **out, size_t *len, snn_error *err);
snn_err snn_plot_probs(const snn_plot_probs_data *d, snn_plot_format fmt,
                       uint8_t **out, size_t *len, snn_error *err);

/* The format named by a file name's extension (".svg", ".png", any case).
 * Returns SNN_EINVALID for anything else. */
snn_err snn_plot_format_from_path(const char *path, snn_plot_format *fmt,
                                  snn_error *err);

#endif
