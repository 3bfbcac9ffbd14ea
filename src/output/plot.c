/* plot.c: spike rasters and probability curves drawn as SVG or PNG (see
 * snn/plot.h).
 *
 * DESIGN: a plot function lays out its frame, ticks, marks and labels in
 * pixel coordinates and draws them through `canvas`, which either appends
 * SVG elements to a text buffer or rasterises into an RGB buffer:
 *   - rectangles with fractional edges get partial coverage (anti-aliased);
 *   - lines and polylines are stroked by distance to the segment, written
 *     into a coverage mask as the maximum over segments and composited
 *     once, so joints of a polyline are not darkened twice;
 *   - text uses the 5x7 bitmap font of plot_font.c at an integer scale,
 *     horizontal or rotated a quarter turn (y-axis labels).
 * Text is vertically centred on its y coordinate in both back ends (SVG
 * dominant-baseline="central"). Numbers are printed with fixed decimals so
 * the output is byte-for-byte reproducible.
 */
#include "snn/plot.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "snn/image.h"

extern const uint8_t snn_plot_font_5x7[95][5];   /* plot_font.c */

#define COL_BG 0xffffffu
#define COL_FG 0x222222u
#define COL_GRID 0xe6e6e6u
#define COL_SPIKE 0x1f3b73u

static const uint32_t tab10[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                   0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

enum { ANCHOR_START, ANCHOR_MIDDLE, ANCHOR_END };

/* ---------------------------------------------------------------- canvas */

typedef struct canvas {
    snn_plot_format fmt;
    int w, h;
    int fail;                   /* out of memory somewhere */
    char *s;                    /* SVG text */
    size_t len, cap;
    uint8_t *rgb;               /* PNG: w x h x 3 */
    float *cov;                 /* PNG: coverage mask of the stroke being drawn */
} canvas;

static void svg_printf(canvas *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void svg_printf(canvas *c, const char *fmt, ...)
{
    va_list ap;
    if (c->fail) return;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(c->s + c->len, c->cap - c->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            c->fail = 1;
            return;
        }
        if ((size_t)n < c->cap - c->len) {
            c->len += (size_t)n;
            return;
        }
        size_t cap = c->cap * 2;
        while (cap - c->len <= (size_t)n) cap *= 2;
        char *p = realloc(c->s, cap);
        if (!p) {
            c->fail = 1;
            return;
        }
        c->s = p;
        c->cap = cap;
    }
}

static int cv_init(canvas *c, snn_plot_format fmt, int w, int h)
{
    memset(c, 0, sizeof *c);
    c->fmt = fmt;
    c->w = w;
    c->h = h;
    if (fmt == SNN_PLOT_SVG) {
        c->cap = 1 << 16;
        if (!(c->s = malloc(c->cap))) return -1;
        c->s[0] = '\0';
        svg_printf(c,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans Mono, monospace\">\n"
                   "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#%06x\"/>\n",
                   w, h, w, h, w, h, COL_BG);
        return c->fail ? -1 : 0;
    }
    c->rgb = malloc((size_t)w * h * 3);
    c->cov = calloc((size_t)w * h, sizeof *c->cov);
    if (!c->rgb || !c->cov) return -1;
    memset(c->rgb, 0xff, (size_t)w * h * 3);
    return 0;
}

static void cv_deinit(canvas *c)
{
    free(c->s);
    free(c->rgb);
    free(c->cov);
    memset(c, 0, sizeof *c);
}

static void blend(canvas *c, int x, int y, uint32_t col, float a)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || a <= 0) return;
    if (a > 1) a = 1;
    uint8_t *p = c->rgb + ((size_t)y * c->w + x) * 3;
    const int rgb[3] = {(int)(col >> 16) & 255, (int)(col >> 8) & 255, (int)col & 255};
    for (int k = 0; k < 3; k++) p[k] = (uint8_t)lrintf(p[k] + (rgb[k] - p[k]) * a);
}

static float overlap(float a0, float a1, float b0, float b1)
{
    float lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

/* A filled rectangle; in SVG, inherit_fill leaves the fill to the group
 * (cv_group_begin), which keeps thousands of spike marks short. */
static void cv_rect(canvas *c, float x, float y, float w, float h, uint32_t col,
                    int inherit_fill)
{
    if (w <= 0 || h <= 0) return;
    if (c->fmt == SNN_PLOT_SVG) {
        if (inherit_fill)
            svg_printf(c, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>\n",
                       x, y, w, h);
        else
            svg_printf(c, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                          "fill=\"#%06x\"/>\n", x, y, w, h, col);
        return;
    }
    int x0 = (int)floorf(x), x1 = (int)ceilf(x + w), y0 = (int)floorf(y), y1 = (int)ceilf(y + h);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > c->w) x1 = c->w;
    if (y1 > c->h) y1 = c->h;
    for (int py = y0; py < y1; py++) {
        float cy = overlap((float)py, (float)py + 1, y, y + h);
        for (int px = x0; px < x1; px++)
            blend(c, px, py, col, cy * overlap((float)px, (float)px + 1, x, x + w));
    }
}

static float seg_dist(float px, float py, float ax, float ay, float bx, float by)
{
    float dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    float t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    float ex = ax + t * dx - px, ey = ay + t * dy - py;
    return sqrtf(ex * ex + ey * ey);
}

/* Rasterise a polyline of width lw into the coverage mask and composite. */
static void raster_polyline(canvas *c, const float *xy, int n, uint32_t col, float lw)
{
    int bx0 = c->w, by0 = c->h, bx1 = -1, by1 = -1;
    float r = lw * 0.5f;
    int nseg = n > 1 ? n - 1 : 1;          /* one point: a dot */
    for (int i = 0; i < nseg; i++) {
        float ax = xy[2 * i], ay = xy[2 * i + 1];
        float bx = n == 1 ? ax : xy[2 * i + 2], by = n == 1 ? ay : xy[2 * i + 3];
        int x0 = (int)floorf(fminf(ax, bx) - r - 1), x1 = (int)ceilf(fmaxf(ax, bx) + r + 1);
        int y0 = (int)floorf(fminf(ay, by) - r - 1), y1 = (int)ceilf(fmaxf(ay, by) + r + 1);
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > c->w - 1) x1 = c->w - 1;
        if (y1 > c->h - 1) y1 = c->h - 1;
        for (int py = y0; py <= y1; py++)
            for (int px = x0; px <= x1; px++) {
                float d = seg_dist(px + 0.5f, py + 0.5f, ax, ay, bx, by);
                float a = r + 0.5f - d;
                if (a <= 0) continue;
                if (a > 1) a = 1;
                float *m = &c->cov[(size_t)py * c->w + px];
                if (a > *m) *m = a;
            }
        if (x0 < bx0) bx0 = x0;
        if (y0 < by0) by0 = y0;
        if (x1 > bx1) bx1 = x1;
        if (y1 > by1) by1 = y1;
    }
    for (int py = by0; py <= by1; py++)
        for (int px = bx0; px <= bx1; px++) {
            float *m = &c->cov[(size_t)py * c->w + px];
            if (*m > 0) blend(c, px, py, col, *m);
            *m = 0;
        }
}

static void cv_line(canvas *c, float x0, float y0, float x1, float y1, uint32_t col, float lw)
{
    if (c->fmt == SNN_PLOT_SVG) {
        svg_printf(c, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#%06x\" "
                      "stroke-width=\"%.2f\"/>\n", x0, y0, x1, y1, col, lw);
        return;
    }
    const float xy[4] = {x0, y0, x1, y1};
    raster_polyline(c, xy, 2, col, lw);
}

static void cv_polyline(canvas *c, const float *xy, int n, uint32_t col, float lw)
{
    if (n < 1) return;
    if (c->fmt == SNN_PLOT_SVG) {
        svg_printf(c, "<polyline fill=\"none\" stroke=\"#%06x\" stroke-width=\"%.2f\" "
                      "stroke-linejoin=\"round\" points=\"", col, lw);
        for (int i = 0; i < n; i++)
            svg_printf(c, "%s%.2f,%.2f", i ? " " : "", xy[2 * i], xy[2 * i + 1]);
        svg_printf(c, "\"/>\n");
        return;
    }
    raster_polyline(c, xy, n, col, lw);
}

/* Glyph advance in font pixels. */
#define GLYPH_W 6
#define GLYPH_H 7

static int text_width(const char *s, int scale)
{
    size_t n = strlen(s);
    return n ? (int)(n * GLYPH_W - 1) * scale : 0;
}

/* Text centred vertically on y; anchored at x by `anchor`; `vertical`
 * turns it a quarter to read bottom to top (anchor then applies along y). */
static void cv_text(canvas *c, float x, float y, const char *s, int scale, uint32_t col,
                    int anchor, int vertical)
{
    if (!s || !*s) return;
    if (c->fmt == SNN_PLOT_SVG) {
        static const char *const anchors[3] = {"start", "middle", "end"};
        svg_printf(c, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%d\" fill=\"#%06x\" "
                      "text-anchor=\"%s\" dominant-baseline=\"central\"", x, y,
                   10 * scale, col, anchors[anchor]);
        if (vertical) svg_printf(c, " transform=\"rotate(-90 %.2f %.2f)\"", x, y);
        svg_printf(c, ">");
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
            switch (*p) {
            case '&': svg_printf(c, "&amp;"); break;
            case '<': svg_printf(c, "&lt;"); break;
            case '>': svg_printf(c, "&gt;"); break;
            case '"': svg_printf(c, "&quot;"); break;
            default: svg_printf(c, "%c", *p >= 32 && *p < 127 ? *p : '?'); break;
            }
        }
        svg_printf(c, "</text>\n");
        return;
    }
    int tw = text_width(s, scale), th = GLYPH_H * scale;
    /* Origin of the text box in text space (u along, v down the glyph). */
    float u0 = anchor == ANCHOR_START ? 0 : anchor == ANCHOR_MIDDLE ? -tw / 2.0f : (float)-tw;
    int ox = (int)lrintf(vertical ? x - th / 2.0f : x + u0);
    int oy = (int)lrintf(vertical ? y - u0 : y - th / 2.0f);
    int pen = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, pen += GLYPH_W) {
        int ch = *p >= 32 && *p < 127 ? *p : '?';
        const uint8_t *g = snn_plot_font_5x7[ch - 32];
        for (int col5 = 0; col5 < 5; col5++)
            for (int row = 0; row < GLYPH_H; row++) {
                if (!(g[col5] >> row & 1)) continue;
                for (int sy = 0; sy < scale; sy++)
                    for (int sx = 0; sx < scale; sx++) {
                        int u = (pen + col5) * scale + sx, v = row * scale + sy;
                        if (vertical) blend(c, ox + v, oy - 1 - u, col, 1);
                        else blend(c, ox + u, oy + v, col, 1);
                    }
            }
    }
}

static void cv_group_begin(canvas *c, const char *id, uint32_t fill)
{
    if (c->fmt == SNN_PLOT_SVG) svg_printf(c, "<g id=\"%s\" fill=\"#%06x\">\n", id, fill);
}

static void cv_group_end(canvas *c)
{
    if (c->fmt == SNN_PLOT_SVG) svg_printf(c, "</g>\n");
}

/* Hand the drawing over as a file: SVG text or encoded PNG. */
static snn_err cv_finish(canvas *c, uint8_t **out, size_t *len, snn_error *err)
{
    if (c->fmt == SNN_PLOT_SVG) {
        svg_printf(c, "</svg>\n");
        if (c->fail) return snn_error_set(err, SNN_ENOMEM, "plot: out of memory");
        *out = (uint8_t *)c->s;
        *len = c->len;
        c->s = NULL;
        return SNN_OK;
    }
    return snn_image_encode_png(c->rgb, c->w, c->h, 3, out, len, err);
}

/* ------------------------------------------------------------------ axes */

typedef struct axis {
    double lo, hi;              /* data range */
    float p0, p1;               /* pixel positions of lo and hi */
} axis;

static float ax_map(const axis *a, double v)
{
    return (float)(a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0));
}

/* Round tick spacing (1, 2, 5 x 10^k) giving about `target` ticks. */
static double tick_step(double span, int target, int *decimals)
{
    double raw = span / target, mag = pow(10, floor(log10(raw))), n = raw / mag;
    double step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
    int d = (int)-floor(log10(step) + 1e-9);
    *decimals = d > 0 ? d : 0;
    return step;
}

typedef struct frame {
    float left, top, right, bottom;     /* plot area in pixels */
    int scale;                          /* text scale */
} frame;

/* Pixel centre of coordinate v: 1-pixel axis-aligned lines drawn there
 * cover one row or column fully instead of two by half. */
static float snap(float v) { return floorf(v) + 0.5f; }

/* Axes box, ticks, tick labels, labels and title. */
static void draw_frame(canvas *c, const frame *f, const axis *xa, const axis *ya,
                       int ytarget, int yint, int ygrid, const char *title, const char *xlabel,
                       const char *ylabel)
{
    int s = f->scale, dec;
    char buf[64];
    float tick = 4.0f * s, lw = 1.0f;
    double step = tick_step(xa->hi - xa->lo, 8, &dec);
    for (double v = ceil(xa->lo / step - 1e-9) * step; v <= xa->hi + step * 1e-9; v += step) {
        float x = snap(ax_map(xa, v));
        cv_line(c, x, snap(f->bottom), x, snap(f->bottom) + tick, COL_FG, lw);
        snprintf(buf, sizeof buf, "%.*f", dec, fabs(v) < step * 1e-9 ? 0.0 : v);
        cv_text(c, x, f->bottom + tick + 7.0f * s, buf, s, COL_FG, ANCHOR_MIDDLE, 0);
    }
    step = tick_step(ya->hi - ya->lo, ytarget, &dec);
    if (yint && step < 1) {
        step = 1;
        dec = 0;
    }
    for (double v = ceil(ya->lo / step - 1e-9) * step; v <= ya->hi + step * 1e-9; v += step) {
        float y = snap(ax_map(ya, v));
        if (ygrid && v > ya->lo + step * 1e-9 && v < ya->hi - step * 1e-9)
            cv_line(c, snap(f->left), y, snap(f->right), y, COL_GRID, lw);
        cv_line(c, snap(f->left) - tick, y, snap(f->left), y, COL_FG, lw);
        snprintf(buf, sizeof buf, "%.*f", dec, fabs(v) < step * 1e-9 ? 0.0 : v);
        cv_text(c, f->left - tick - 3.0f * s, y, buf, s, COL_FG, ANCHOR_END, 0);
    }
    float l = snap(f->left), r = snap(f->right), t = snap(f->top), b = snap(f->bottom);
    cv_line(c, l, t, r, t, COL_FG, lw);
    cv_line(c, l, b, r, b, COL_FG, lw);
    cv_line(c, l, t, l, b, COL_FG, lw);
    cv_line(c, r, t, r, b, COL_FG, lw);
    float cx = (f->left + f->right) / 2;
    cv_text(c, cx, f->bottom + tick + 22.0f * s, xlabel, s, COL_FG, ANCHOR_MIDDLE, 0);
    cv_text(c, 12.0f * s, (f->top + f->bottom) / 2, ylabel, s, COL_FG, ANCHOR_MIDDLE, 1);
    if (title) {
        /* Double size when it fits, else single size, else cut with "...". */
        char tt[256];
        int ts = 2 * s, maxw = c->w - 16 * s;
        snprintf(tt, sizeof tt, "%s", title);
        if (text_width(tt, ts) > maxw) ts = s;
        if (text_width(tt, ts) > maxw) {
            size_t n = (size_t)(maxw / (GLYPH_W * ts));
            if (n > 3 && n < sizeof tt) memcpy(tt + n - 3, "...", 4);
        }
        cv_text(c, c->w / 2.0f, f->top / 2, tt, ts, COL_FG, ANCHOR_MIDDLE, 0);
    }
}

static snn_err check_size(int *w, int *h, snn_error *err)
{
    if (*w == 0) *w = SNN_PLOT_DEFAULT_WIDTH;
    if (*h == 0) *h = SNN_PLOT_DEFAULT_HEIGHT;
    if (*w < SNN_PLOT_MIN_SIDE || *h < SNN_PLOT_MIN_SIDE || *w > SNN_PLOT_MAX_SIDE ||
        *h > SNN_PLOT_MAX_SIDE)
        return snn_error_set(err, SNN_EINVALID, "plot: size %dx%d outside %d..%d pixels",
                             *w, *h, SNN_PLOT_MIN_SIDE, SNN_PLOT_MAX_SIDE);
    return SNN_OK;
}

static snn_err check_common(snn_plot_format fmt, uint8_t **out, size_t *len, int steps,
                            double dt, snn_error *err)
{
    if (!out || !len) return snn_error_set(err, SNN_EINVALID, "plot: NULL output");
    if (fmt != SNN_PLOT_SVG && fmt != SNN_PLOT_PNG)
        return snn_error_set(err, SNN_EINVALID, "plot: unknown format %d", (int)fmt);
    if (steps < 1 || steps > 1000000)
        return snn_error_set(err, SNN_EINVALID, "plot: %d steps (1..1000000)", steps);
    if (!(dt > 0) || !isfinite(dt) || dt > 10)
        return snn_error_set(err, SNN_EINVALID, "plot: dt %g is not in (0, 10] seconds", dt);
    return SNN_OK;
}

/* Text scale: 1 up to 1000 pixels wide, then 2. */
static int text_scale(int w, int h) { return w >= 1000 && h >= 600 ? 2 : 1; }

/* --------------------------------------------------------------- raster */

snn_err snn_plot_raster(const snn_plot_raster_data *d, snn_plot_format fmt, uint8_t **out,
                        size_t *len, snn_error *err)
{
    if (!d) return snn_error_set(err, SNN_EINVALID, "plot: NULL data");
    snn_err rc = check_common(fmt, out, len, d->steps, d->dt, err);
    if (rc != SNN_OK) return rc;
    if (d->nneurons < 0 || d->nneurons > 1000000 || (d->nneurons > 0 && !d->counts))
        return snn_error_set(err, SNN_EINVALID, "plot: %d neurons without counts", d->nneurons);
    int w = d->width, h = d->height;
    if ((rc = check_size(&w, &h, err)) != SNN_OK) return rc;

    /* y range: the neuron indices shown; each sampled neuron owns a row
     * as high as the spacing between sampled indices. */
    double lo = 0, hi = d->nneurons > 0 ? d->nneurons : 1, sp = 1;
    if (d->neuron_index && d->nneurons > 0) {
        int64_t mn = d->neuron_index[0], mx = mn;
        for (int i = 1; i < d->nneurons; i++) {
            if (d->neuron_index[i] < mn) mn = d->neuron_index[i];
            if (d->neuron_index[i] > mx) mx = d->neuron_index[i];
        }
        if (d->nneurons > 1 && mx > mn) sp = (double)(mx - mn) / (d->nneurons - 1);
        if (sp < 1) sp = 1;
        lo = mn < 0 ? (double)mn : 0;
        hi = (double)mx + sp;
    }
    int s = text_scale(w, h);
    frame f = {.left = 70.0f * s, .top = 40.0f * s, .right = w - 20.0f * s,
               .bottom = h - 50.0f * s, .scale = s};
    axis xa = {0, d->steps * d->dt * 1000.0, f.left, f.right};
    axis ya = {lo, hi, f.bottom, f.top};
    canvas c;
    if (cv_init(&c, fmt, w, h) != 0) {
        cv_deinit(&c);
        return snn_error_set(err, SNN_ENOMEM, "plot: out of memory");
    }
    draw_frame(&c, &f, &xa, &ya, 6, 1, 0, d->title, "time (ms)",
               d->ylabel ? d->ylabel : "neuron index");

    float step_w = (f.right - f.left) / d->steps;
    float mark_w = step_w * 0.8f;
    if (mark_w > 3) mark_w = 3;
    if (mark_w < 1) mark_w = 1;
    float row_h = (float)(sp * (f.bottom - f.top) / (hi - lo));
    float mark_h = row_h * 0.8f;
    if (mark_h < 2) mark_h = 2;
    cv_group_begin(&c, "spikes", COL_SPIKE);
    for (int t = 0; t < d->steps; t++) {
        const uint16_t *row = d->counts + (size_t)t * d->nneurons;
        for (int i = 0; i < d->nneurons; i++) {
            if (!row[i]) continue;
            double idx = d->neuron_index ? (double)d->neuron_index[i] : i;
            float yc = ax_map(&ya, idx + sp / 2);
            /* k spikes in one step: k marks spread evenly over the step. */
            int k = row[i] < SNN_PLOT_MAX_MARKS ? row[i] : SNN_PLOT_MAX_MARKS;
            for (int j = 0; j < k; j++) {
                float x = f.left + (t + (j + 0.5f) / k) * step_w - mark_w / 2;
                cv_rect(&c, x, yc - mark_h / 2, mark_w, mark_h, COL_SPIKE, 1);
            }
        }
    }
    cv_group_end(&c);
    rc = cv_finish(&c, out, len, err);
    cv_deinit(&c);
    return rc;
}

/* ---------------------------------------------------------------- probs */

snn_err snn_plot_probs(const snn_plot_probs_data *d, snn_plot_format fmt, uint8_t **out,
                       size_t *len, snn_error *err)
{
    if (!d) return snn_error_set(err, SNN_EINVALID, "plot: NULL data");
    snn_err rc = check_common(fmt, out, len, d->steps, d->dt, err);
    if (rc != SNN_OK) return rc;
    int stride = d->stride ? d->stride : d->nclasses;
    if (d->nclasses < 1 || d->nclasses > 1000 || stride < d->nclasses || !d->probs)
        return snn_error_set(err, SNN_EINVALID,
                             "plot: %d classes with stride %d (1..1000 classes, "
                             "stride >= classes, probabilities given)", d->nclasses, stride);
    int w = d->width, h = d->height;
    if ((rc = check_size(&w, &h, err)) != SNN_OK) return rc;

    int s = text_scale(w, h);
    /* Legend column: as wide as the longest name (capped at 24 characters). */
    int maxchars = 1;
    for (int k = 0; k < d->nclasses; k++) {
        const char *nm = d->class_names ? d->class_names[k] : NULL;
        int l = nm ? (int)strlen(nm) : 4;
        if (l > maxchars) maxchars = l;
    }
    if (maxchars > 24) maxchars = 24;
    float legend_w = (30.0f + GLYPH_W * maxchars + 12.0f) * s;
    if (legend_w > w * 0.4f) legend_w = w * 0.4f;
    frame f = {.left = 60.0f * s, .top = 40.0f * s, .right = w - legend_w - 10.0f * s,
               .bottom = h - 50.0f * s, .scale = s};
    axis xa = {0, d->steps * d->dt * 1000.0, f.left, f.right};
    axis ya = {0, 1, f.bottom, f.top};
    canvas c;
    float *xy = malloc(sizeof *xy * 2 * (size_t)d->steps);
    if (!xy || cv_init(&c, fmt, w, h) != 0) {
        free(xy);
        if (xy) cv_deinit(&c);
        return snn_error_set(err, SNN_ENOMEM, "plot: out of memory");
    }
    draw_frame(&c, &f, &xa, &ya, 5, 0, 1, d->title, "time (ms)", "probability");

    float lw = 1.8f * s;
    for (int k = 0; k < d->nclasses; k++) {
        for (int t = 0; t < d->steps; t++) {
            float p = d->probs[(size_t)t * stride + k];
            if (!(p >= 0)) p = 0;             /* NaN too */
            if (p > 1) p = 1;
            xy[2 * t] = ax_map(&xa, (t + 1) * d->dt * 1000.0);
            xy[2 * t + 1] = ax_map(&ya, p);
        }
        cv_polyline(&c, xy, d->steps, tab10[k % 10], lw);
    }
    free(xy);

    /* Legend: a swatch and the name per class, as many as fit. */
    float row = 14.0f * s, lx = f.right + 14.0f * s, ly = f.top + 8.0f * s;
    int fit = (int)((f.bottom - ly) / row);
    char name[32];
    for (int k = 0; k < d->nclasses; k++) {
        float y = ly + k * row;
        if (k == fit - 1 && d->nclasses > fit) {
            snprintf(name, sizeof name, "(+%d more)", d->nclasses - k);
            cv_text(&c, lx, y, name, s, COL_FG, ANCHOR_START, 0);
            break;
        }
        const char *nm = d->class_names ? d->class_names[k] : NULL;
        if (nm) snprintf(name, sizeof name, "%.24s", nm);
        else snprintf(name, sizeof name, "%d", k);
        cv_line(&c, lx, y, lx + 20.0f * s, y, tab10[k % 10], 3.0f * s);
        cv_text(&c, lx + 26.0f * s, y, name, s, COL_FG, ANCHOR_START, 0);
    }
    rc = cv_finish(&c, out, len, err);
    cv_deinit(&c);
    return rc;
}

snn_err snn_plot_format_from_path(const char *path, snn_plot_format *fmt, snn_error *err)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && !strcasecmp(dot, ".svg")) {
        *fmt = SNN_PLOT_SVG;
        return SNN_OK;
    }
    if (dot && !strcasecmp(dot, ".png")) {
        *fmt = SNN_PLOT_PNG;
        return SNN_OK;
    }
    return snn_error_set(err, SNN_EINVALID, "plot: '%s' does not end in .svg or .png",
                         path ? path : "(null)");
}
