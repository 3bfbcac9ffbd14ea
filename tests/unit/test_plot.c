/* test_plot.c: spike rasters and probability plots on synthetic data: the
 * SVG structure (marks, polylines, escaping), PNG pixels decoded back with
 * snn_image_decode, determinism, the bitmap font table and bad input. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snn/image.h"
#include "snn/plot.h"

extern const uint8_t snn_plot_font_5x7[95][5];

static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* <rect elements inside <g id="spikes" ...> ... </g>. */
static int count_spike_marks(const char *svg)
{
    const char *g = strstr(svg, "<g id=\"spikes\"");
    if (!g) return -1;
    const char *end = strstr(g, "</g>");
    if (!end) return -1;
    int n = 0;
    for (const char *p = g; (p = strstr(p, "<rect")) && p < end; p += 5) n++;
    return n;
}

/* 10 steps x 4 neurons with spikes at a few cells (one cell with 3). */
static uint16_t raster_counts[10 * 4];

static snn_plot_raster_data raster_fixture(void)
{
    memset(raster_counts, 0, sizeof raster_counts);
    raster_counts[3 * 4 + 2] = 1;          /* step 3, neuron 2 */
    raster_counts[0 * 4 + 0] = 1;
    raster_counts[9 * 4 + 3] = 3;          /* 3 spikes in one step: 3 marks */
    raster_counts[5 * 4 + 1] = 1;
    raster_counts[5 * 4 + 2] = 1;
    snn_plot_raster_data d = {.steps = 10, .nneurons = 4, .counts = raster_counts,
                              .dt = 0.001, .title = "conv1 <spikes> & more",
                              .width = 400, .height = 300};
    return d;
}

TEST(plot_raster_svg_marks)
{
    snn_plot_raster_data d = raster_fixture();
    uint8_t *out;
    size_t len;
    snn_error e;
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_SVG, &out, &len, &e));
    const char *svg = (const char *)out;
    CHECK_EQ_INT(strlen(svg), len);
    CHECK(strncmp(svg, "<?xml", 5) == 0);
    CHECK(strstr(svg, "width=\"400\" height=\"300\""));
    CHECK(strstr(svg, "</svg>\n") == svg + len - 7);
    CHECK_EQ_INT(count_spike_marks(svg), 7);
    CHECK(strstr(svg, ">conv1 &lt;spikes&gt; &amp; more</text>"));
    CHECK(strstr(svg, ">time (ms)</text>"));
    CHECK(strstr(svg, "rotate(-90") && strstr(svg, ">neuron index</text>"));
    /* x ticks reach 10 ms (10 steps of 1 ms). */
    CHECK(strstr(svg, ">10</text>"));
    free(out);

    /* Determinism. */
    uint8_t *again;
    size_t len2;
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_SVG, &out, &len, &e));
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_SVG, &again, &len2, &e));
    CHECK(len == len2 && memcmp(out, again, len) == 0);
    free(out);
    free(again);

    /* Sampled neuron indices: the y axis shows them. */
    int64_t idx[4] = {0, 100, 200, 300};
    d.neuron_index = idx;
    d.ylabel = "conv1 neuron";
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_SVG, &out, &len, &e));
    CHECK_EQ_INT(count_spike_marks((const char *)out), 7);
    /* A hostile count draws at most SNN_PLOT_MAX_MARKS marks. */
    raster_counts[1 * 4 + 1] = 65535;
    free(out);
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_SVG, &out, &len, &e));
    CHECK_EQ_INT(count_spike_marks((const char *)out), 7 + SNN_PLOT_MAX_MARKS);
    raster_counts[1 * 4 + 1] = 0;
    CHECK(strstr((const char *)out, ">300</text>") && strstr((const char *)out, ">conv1 neuron<"));
    free(out);

    /* A title too long for the width is cut with "...", the same in both
     * formats (the PNG is checked for not drawing past the edges). */
    char longtitle[200];
    memset(longtitle, 'x', sizeof longtitle - 1);
    longtitle[sizeof longtitle - 1] = '\0';
    d.title = longtitle;
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_SVG, &out, &len, &e));
    CHECK(strstr((const char *)out, "xxx...</text>"));
    free(out);

    /* No neurons at all: an empty frame, still valid. */
    d.nneurons = 0;
    d.counts = NULL;
    d.neuron_index = NULL;
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_SVG, &out, &len, &e));
    CHECK_EQ_INT(count_spike_marks((const char *)out), 0);
    free(out);
}

TEST(plot_raster_png_pixels)
{
    snn_plot_raster_data d = raster_fixture();
    uint8_t *out;
    size_t len;
    snn_error e;
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_PNG, &out, &len, &e));
    snn_image im;
    snn_err rc = snn_image_decode(&im, out, len, 0, NULL, &e);
    free(out);
    CHECK_MSG(rc == SNN_OK, "%s", e.msg);
    CHECK(im.width == 400 && im.height == 300 && im.channels == 3);
    /* Layout at 400x300: plot area x 70..380, y 40..250. Step t, neuron i
     * sit at x = 70 + (t + 0.5) * 31, y = 250 - (i + 0.5) * 52.5. */
#define PX(x, y) (im.pixels + ((size_t)(y) * im.width + (x)) * 3)
    const uint8_t *p = PX(178, 118);            /* t 3, neuron 2: a spike */
    CHECK_MSG(p[0] < 80 && p[1] < 100 && p[2] > 80, "spike pixel %d,%d,%d", p[0], p[1], p[2]);
    p = PX(271, 223);                           /* t 6, neuron 0: none */
    CHECK(p[0] == 255 && p[1] == 255 && p[2] == 255);
    p = PX(0, 0);                               /* background */
    CHECK(p[0] == 255 && p[1] == 255 && p[2] == 255);
    p = PX(200, 250);                           /* bottom axis line */
    CHECK_MSG(p[0] < 128, "axis pixel %d", p[0]);
    /* The title (scale 2, centred at y 20) leaves dark pixels in its band. */
    int dark = 0;
    for (int y = 10; y < 30; y++)
        for (int x = 0; x < 400; x++) dark += PX(x, y)[0] < 128;
    CHECK_MSG(dark > 100, "title pixels %d", dark);
#undef PX
    snn_image_deinit(&im);

    uint8_t *a, *b;
    size_t la, lb;
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_PNG, &a, &la, &e));
    CHECK_OK(snn_plot_raster(&d, SNN_PLOT_PNG, &b, &lb, &e));
    CHECK(la == lb && memcmp(a, b, la) == 0);
    free(a);
    free(b);
}

/* 3 classes, constant probabilities 0.5, 0.25, 0.25 over 20 steps. */
static float probs3[20 * 3];
static const char *names3[3] = {"zero", "one", "two"};

static snn_plot_probs_data probs_fixture(void)
{
    for (int t = 0; t < 20; t++) {
        probs3[t * 3] = 0.5f;
        probs3[t * 3 + 1] = 0.25f;
        probs3[t * 3 + 2] = 0.25f;
    }
    snn_plot_probs_data d = {.steps = 20, .nclasses = 3, .probs = probs3,
                             .class_names = names3, .dt = 0.002,
                             .title = "true: zero, predicted: zero",
                             .width = 600, .height = 400};
    return d;
}

TEST(plot_probs_svg_polylines)
{
    snn_plot_probs_data d = probs_fixture();
    uint8_t *out;
    size_t len;
    snn_error e;
    CHECK_OK(snn_plot_probs(&d, SNN_PLOT_SVG, &out, &len, &e));
    const char *svg = (const char *)out;
    CHECK_EQ_INT(count_str(svg, "<polyline"), 3);
    /* Colours in tab10 order, each line with one point per step. */
    const char *p0 = strstr(svg, "<polyline fill=\"none\" stroke=\"#1f77b4\"");
    const char *p1 = strstr(svg, "<polyline fill=\"none\" stroke=\"#ff7f0e\"");
    const char *p2 = strstr(svg, "<polyline fill=\"none\" stroke=\"#2ca02c\"");
    CHECK(p0 && p1 && p2 && p0 < p1 && p1 < p2);
    const char *pts = strstr(p0, "points=\"");
    CHECK(pts);
    int commas = 0;
    for (const char *q = pts; *q != '/'; q++) commas += *q == ',';
    CHECK_EQ_INT(commas, 20);
    CHECK(strstr(svg, ">true: zero, predicted: zero</text>"));
    CHECK(strstr(svg, ">zero</text>") && strstr(svg, ">two</text>"));
    CHECK(strstr(svg, ">probability</text>"));
    CHECK(strstr(svg, ">40</text>"));           /* 20 steps of 2 ms */
    CHECK(strstr(svg, ">1.0</text>") && strstr(svg, ">0.0</text>"));
    free(out);

    /* Batch stride, NaN and out-of-range values, non-ASCII and missing names,
     * and more classes than the legend holds. */
    enum { K = 40, T = 5, STRIDE = 2 * K };
    float *pr = calloc(T * STRIDE, sizeof *pr);
    const char *nm[K] = {0};
    nm[0] = "caf\xc3\xa9";
    pr[0] = 0.0f / 0.0f;
    pr[1] = 7.0f;
    pr[2] = -1.0f;
    snn_plot_probs_data m = {.steps = T, .nclasses = K, .probs = pr, .stride = STRIDE,
                             .class_names = nm, .dt = 0.001, .width = 300, .height = 200};
    CHECK_OK(snn_plot_probs(&m, SNN_PLOT_SVG, &out, &len, &e));
    svg = (const char *)out;
    CHECK_EQ_INT(count_str(svg, "<polyline"), K);
    CHECK(!strstr(svg, "nan,") && !strstr(svg, ",nan") && !strstr(svg, ",-nan") &&
          !strstr(svg, "inf,") && !strstr(svg, ",inf"));
    CHECK(strstr(svg, ">caf?" "?</text>"));     /* two bytes of UTF-8 */
    CHECK(strstr(svg, " more)</text>"));
    free(out);
    CHECK_OK(snn_plot_probs(&m, SNN_PLOT_PNG, &out, &len, &e));
    free(out);
    free(pr);
}

TEST(plot_probs_png_lines)
{
    snn_plot_probs_data d = probs_fixture();
    uint8_t *out;
    size_t len;
    snn_error e;
    CHECK_OK(snn_plot_probs(&d, SNN_PLOT_PNG, &out, &len, &e));
    snn_image im;
    snn_err rc = snn_image_decode(&im, out, len, 0, NULL, &e);
    free(out);
    CHECK_MSG(rc == SNN_OK, "%s", e.msg);
    CHECK(im.width == 600 && im.height == 400 && im.channels == 3);
    /* Plot area at 600x400 with 4-character names: x 60..524, y 40..350.
     * Class 0 (0.5) is a horizontal line at y 195 in tab10 blue (1f77b4):
     * the bluest pixel of column 300 is within a pixel of it. */
    int best_y = -1, best = 1 << 30;
    for (int y = 40; y < 350; y++) {
        const uint8_t *p = im.pixels + ((size_t)y * 600 + 300) * 3;
        int dist = abs(p[0] - 0x1f) + abs(p[1] - 0x77) + abs(p[2] - 0xb4);
        if (dist < best) {
            best = dist;
            best_y = y;
        }
    }
    CHECK_MSG(best < 60, "closest to blue: %d", best);
    CHECK_MSG(best_y >= 194 && best_y <= 195, "blue line at y %d", best_y);
    /* Classes 1 and 2 overlap at 0.25 (y 272.5): the later one (green) is on top. */
    const uint8_t *g = im.pixels + ((size_t)272 * 600 + 300) * 3;
    CHECK_MSG(g[1] > g[0] + 40 && g[1] > g[2] + 40, "green %d,%d,%d", g[0], g[1], g[2]);
    /* Empty plot area stays white. */
    const uint8_t *w = im.pixels + ((size_t)100 * 600 + 300) * 3;
    CHECK(w[0] == 255 && w[1] == 255 && w[2] == 255);
    snn_image_deinit(&im);
}

TEST(plot_font_table)
{
    for (int i = 0; i < 95; i++) {
        int bits = 0;
        for (int c = 0; c < 5; c++) {
            CHECK_MSG(!(snn_plot_font_5x7[i][c] & 0x80), "glyph '%c' uses row 7", 32 + i);
            bits |= snn_plot_font_5x7[i][c];
        }
        CHECK_MSG(i == 0 ? bits == 0 : bits != 0, "glyph '%c' blank or not", 32 + i);
        for (int j = 0; j < i; j++)
            CHECK_MSG(memcmp(snn_plot_font_5x7[i], snn_plot_font_5x7[j], 5) != 0,
                      "glyphs '%c' and '%c' are equal", 32 + i, 32 + j);
    }
    /* 'T' has a full top row and a full middle column. */
    const uint8_t *t = snn_plot_font_5x7['T' - 32];
    CHECK(t[2] == 0x7f && (t[0] & t[1] & t[3] & t[4] & 1));
}

TEST(plot_bad_input)
{
    snn_plot_raster_data r = raster_fixture();
    snn_plot_probs_data p = probs_fixture();
    uint8_t *out = NULL;
    size_t len;
    snn_error e;
    r.steps = 0;
    CHECK_EQ_INT(snn_plot_raster(&r, SNN_PLOT_SVG, &out, &len, &e), SNN_EINVALID);
    r = raster_fixture();
    r.dt = 0;
    CHECK_EQ_INT(snn_plot_raster(&r, SNN_PLOT_SVG, &out, &len, &e), SNN_EINVALID);
    r.dt = 0.0 / 0.0;
    CHECK_EQ_INT(snn_plot_raster(&r, SNN_PLOT_SVG, &out, &len, &e), SNN_EINVALID);
    r = raster_fixture();
    r.counts = NULL;
    CHECK_EQ_INT(snn_plot_raster(&r, SNN_PLOT_PNG, &out, &len, &e), SNN_EINVALID);
    r = raster_fixture();
    r.width = 50;
    CHECK_EQ_INT(snn_plot_raster(&r, SNN_PLOT_PNG, &out, &len, &e), SNN_EINVALID);
    r.width = 100000;
    CHECK_EQ_INT(snn_plot_raster(&r, SNN_PLOT_PNG, &out, &len, &e), SNN_EINVALID);
    r = raster_fixture();
    CHECK_EQ_INT(snn_plot_raster(&r, (snn_plot_format)7, &out, &len, &e), SNN_EINVALID);
    CHECK_EQ_INT(snn_plot_raster(NULL, SNN_PLOT_SVG, &out, &len, &e), SNN_EINVALID);
    p.nclasses = 0;
    CHECK_EQ_INT(snn_plot_probs(&p, SNN_PLOT_SVG, &out, &len, &e), SNN_EINVALID);
    p = probs_fixture();
    p.stride = 2;
    CHECK_EQ_INT(snn_plot_probs(&p, SNN_PLOT_SVG, &out, &len, &e), SNN_EINVALID);
    p = probs_fixture();
    p.probs = NULL;
    CHECK_EQ_INT(snn_plot_probs(&p, SNN_PLOT_SVG, &out, &len, &e), SNN_EINVALID);
    CHECK(out == NULL);

    snn_plot_format f;
    CHECK_OK(snn_plot_format_from_path("out/x.SVG", &f, &e));
    CHECK(f == SNN_PLOT_SVG);
    CHECK_OK(snn_plot_format_from_path("x.png", &f, &e));
    CHECK(f == SNN_PLOT_PNG);
    CHECK_EQ_INT(snn_plot_format_from_path("x.jpg", &f, &e), SNN_EINVALID);
    CHECK_EQ_INT(snn_plot_format_from_path("png", &f, &e), SNN_EINVALID);
}
