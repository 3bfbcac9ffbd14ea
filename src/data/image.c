/* image.c: PNG and JPEG decoding from memory, channel conversion, bilinear
 * resize and PNG encoding (see snn/image.h).
 *
 * DESIGN: the bytes are untrusted. For PNG the IHDR dimensions are read
 * from the fixed header position and checked against the limits before
 * libpng is even started; libpng then gets the same limits as a second
 * fence, a cap on ancillary chunk sizes (zTXt/iCCP bombs) and a reader that
 * refuses to run past the buffer. For JPEG the dimensions come from
 * jpeg_read_header(), which allocates nothing proportional to the image;
 * they are checked before jpeg_start_decompress(). Both libraries report
 * errors through handlers installed here that record the library's message
 * and longjmp back (nothing is ever written to stderr); libjpeg warnings
 * about corrupt or truncated data are treated as errors too, otherwise a
 * truncated file would decode "successfully" into grey. Every function that
 * calls setjmp() keeps what it must free after the longjmp in a context
 * struct owned by its caller, so no local variable changes between setjmp
 * and longjmp (C11 7.13.2.1).
 *
 * Decoded images are 8-bit, 1 (gray) or 3 (RGB) channels: palettes are
 * expanded, 16-bit samples keep their high byte (as PIL and OpenCV do),
 * alpha is dropped (as PIL's convert("RGB")), interlaced PNGs are
 * de-interlaced, CMYK/YCCK JPEGs are converted to RGB.
 */
#include "snn/image.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>            /* needs stdio.h first */
#include <jerror.h>
#include <png.h>

#define IMG_DEFAULT_MAX_SIDE 4096
#define IMG_DEFAULT_MAX_PIXELS (16LL << 20)
#define IMG_MAX_FILE_BYTES (64u << 20)     /* snn_image_load refuses bigger files */
#define PNG_MAX_CHUNK_BYTES (8u << 20)      /* ancillary chunk (decompressed) cap */
#define PNG_MAX_CACHED_CHUNKS 1000
#define IMG_DEFAULT_MAX_SCANS 64            /* JPEG scans per file */
#define IMG_DECODER_SLACK (8LL << 20)       /* libjpeg's own tables and buffers */
#define JPEG_COEF_BLOCK_BYTES 128           /* 64 JCOEF of 2 bytes */

/* ---------------------------------------------------------------- limits */

static void limits_resolve(const snn_image_limits *in, snn_image_limits *out)
{
    out->max_width = in && in->max_width > 0 ? in->max_width : IMG_DEFAULT_MAX_SIDE;
    out->max_height = in && in->max_height > 0 ? in->max_height : IMG_DEFAULT_MAX_SIDE;
    out->max_pixels = in && in->max_pixels > 0 ? in->max_pixels : IMG_DEFAULT_MAX_PIXELS;
    out->max_scans = in && in->max_scans > 0 ? in->max_scans : IMG_DEFAULT_MAX_SCANS;
    out->max_memory = in && in->max_memory > 0 ? in->max_memory
                                               : 6 * out->max_pixels + IMG_DECODER_SLACK;
    out->check = in ? in->check : NULL;
    out->check_ud = in ? in->check_ud : NULL;
}

size_t snn_image_decode_peak_bytes(const snn_image_limits *lim)
{
    snn_image_limits l;
    limits_resolve(lim, &l);
    return (size_t)(4 * l.max_pixels + l.max_memory) + (1u << 20);
}

/* The stop message of a check callback's code. */
static const char *check_msg(snn_err rc)
{
    return rc == SNN_ETIMEOUT     ? "decoding stopped: deadline exceeded"
           : rc == SNN_ECANCELLED ? "decoding stopped: cancelled"
                                  : "decoding stopped";
}

static snn_err check_dims(const char *what, uint64_t w, uint64_t h,
                          const snn_image_limits *lim, snn_error *err)
{
    if (w == 0 || h == 0)
        return snn_error_set(err, SNN_EFORMAT, "%s: image has zero size (%llux%llu)",
                             what, (unsigned long long)w, (unsigned long long)h);
    if (w > (uint64_t)lim->max_width || h > (uint64_t)lim->max_height ||
        w * h > (uint64_t)lim->max_pixels)
        return snn_error_set(err, SNN_ETOOLARGE,
                             "%s: image of %llux%llu pixels exceeds the limits "
                             "(%dx%d, %lld pixels)",
                             what, (unsigned long long)w, (unsigned long long)h,
                             lim->max_width, lim->max_height,
                             (long long)lim->max_pixels);
    return SNN_OK;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

snn_image_format snn_image_sniff(const void *buf, size_t len)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *p = buf;
    if (!buf) return SNN_IMAGE_UNKNOWN;
    if (len >= 8 && memcmp(p, png_sig, 8) == 0) return SNN_IMAGE_PNG;
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return SNN_IMAGE_JPEG;
    return SNN_IMAGE_UNKNOWN;
}

/* Rewrite n pixels of cin channels as cout channels (1 or 3). Works in
 * place when cout <= cin (reads run ahead of writes). Alpha (channel 2 of
 * gray+alpha, channel 4 of RGBA) is dropped. */
static void convert_channels(const uint8_t *src, int cin, uint8_t *dst,
                             int cout, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = src + i * (size_t)cin;
        uint8_t *d = dst + i * (size_t)cout;
        if (cout == 1) {
            if (cin <= 2) {
                d[0] = s[0];
            } else {
                double y = 0.299 * s[0] + 0.587 * s[1] + 0.114 * s[2];
                d[0] = (uint8_t)(y + 0.5);
            }
        } else {
            uint8_t r, g, b;
            if (cin <= 2) {
                r = g = b = s[0];
            } else {
                r = s[0];
                g = s[1];
                b = s[2];
            }
            d[0] = r;
            d[1] = g;
            d[2] = b;
        }
    }
}

/* Bring img to want (0 = 1 stays 1, anything else becomes 3). */
static snn_err image_set_channels(snn_image *img, int want, snn_error *err)
{
    int cin = img->channels;
    int cout = want ? want : (cin <= 2 ? 1 : 3);
    size_t n = (size_t)img->width * (size_t)img->height;
    if (cin == cout) return SNN_OK;
    if (cout <= cin) {
        convert_channels(img->pixels, cin, img->pixels, cout, n);
        uint8_t *p = realloc(img->pixels, n * (size_t)cout);
        if (p) img->pixels = p;
    } else {
        uint8_t *p = malloc(n * (size_t)cout);
        if (!p) return snn_error_set(err, SNN_ENOMEM, "image: out of memory");
        convert_channels(img->pixels, cin, p, cout, n);
        free(img->pixels);
        img->pixels = p;
    }
    img->channels = cout;
    return SNN_OK;
}

/* ------------------------------------------------------------------ PNG */

typedef struct png_rctx {
    const uint8_t *buf;
    size_t len, pos;
    const snn_image_limits *lim;
    snn_error *err;
    snn_err code;               /* set when a check (not libpng) failed */
    char msg[256];              /* libpng's error message */
    png_structp png;
    png_infop info;
    uint8_t *pixels;
    png_bytep *rows;
    int width, height, channels;
} png_rctx;

static void png_error_fn(png_structp png, png_const_charp msg)
{
    png_rctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;              /* ancillary-chunk and benign trouble: never printed */
}

/* After every row (every pass of interlaced files): the caller's check. */
static void png_row_fn(png_structp png, png_uint_32 row, int pass)
{
    png_rctx *c = png_get_io_ptr(png);
    (void)row;
    (void)pass;
    snn_err rc = c->lim->check ? c->lim->check(c->lim->check_ud) : SNN_OK;
    if (rc != SNN_OK) {
        c->code = snn_error_set(c->err, rc, "PNG: %s", check_msg(rc));
        png_longjmp(png, 1);
    }
}

static void png_read_fn(png_structp png, png_bytep out, size_t n)
{
    png_rctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos) png_error(png, "unexpected end of data (truncated file)");
    memcpy(out, c->buf + c->pos, n);
    c->pos += n;
}

/* Runs libpng under setjmp; everything that must survive a longjmp lives
 * in *c. Returns with c->code set (and c->msg after a libpng error).
 * Frees nothing: png_decode does. */
static void png_decode_run(png_rctx *c)
{
    if (setjmp(png_jmpbuf(c->png))) {
        if (c->code == SNN_OK) c->code = SNN_EFORMAT;
        return;
    }
    png_set_read_fn(c->png, c, png_read_fn);
    png_set_read_status_fn(c->png, png_row_fn);
    png_set_user_limits(c->png, (png_uint_32)c->lim->max_width,
                        (png_uint_32)c->lim->max_height);
    png_set_chunk_malloc_max(c->png, PNG_MAX_CHUNK_BYTES);
    png_set_chunk_cache_max(c->png, PNG_MAX_CACHED_CHUNKS);
    png_read_info(c->png, c->info);

    png_uint_32 w = png_get_image_width(c->png, c->info);
    png_uint_32 h = png_get_image_height(c->png, c->info);
    if ((c->code = check_dims("PNG", w, h, c->lim, c->err)) != SNN_OK) return;
    int depth = png_get_bit_depth(c->png, c->info);

    png_set_expand(c->png);               /* palette -> RGB, gray<8 -> 8, tRNS -> alpha */
    if (depth == 16) png_set_strip_16(c->png);
    png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);

    int ch = png_get_channels(c->png, c->info);
    size_t rowbytes = png_get_rowbytes(c->png, c->info);
    if (ch < 1 || ch > 4 || rowbytes != (size_t)w * (size_t)ch) {
        c->code = snn_error_set(c->err, SNN_EFORMAT,
                                "PNG: unexpected layout after conversion "
                                "(%d channels, %zu bytes per row)", ch, rowbytes);
        return;
    }
    c->pixels = malloc(rowbytes * h);
    c->rows = malloc(sizeof *c->rows * h);
    if (!c->pixels || !c->rows) {
        c->code = snn_error_set(c->err, SNN_ENOMEM, "PNG: out of memory for %ux%u pixels", w, h);
        return;
    }
    for (png_uint_32 y = 0; y < h; y++) c->rows[y] = c->pixels + rowbytes * y;
    png_read_image(c->png, c->rows);
    c->width = (int)w;
    c->height = (int)h;
    c->channels = ch;
}

static snn_err png_decode(snn_image *img, const uint8_t *buf, size_t len,
                          const snn_image_limits *lim, snn_error *err)
{
    /* Signature (8), then the IHDR chunk: length (4), "IHDR", width, height. */
    if (len < 33 || memcmp(buf + 12, "IHDR", 4) != 0)
        return snn_error_set(err, SNN_EFORMAT, "PNG: missing or truncated IHDR header");
    snn_err rc = check_dims("PNG", be32(buf + 16), be32(buf + 20), lim, err);
    if (rc != SNN_OK) return rc;

    png_rctx c = {.buf = buf, .len = len, .lim = lim, .err = err};
    c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_error_fn, png_warning_fn);
    if (!c.png) return snn_error_set(err, SNN_ENOMEM, "PNG: out of memory");
    c.info = png_create_info_struct(c.png);
    if (!c.info) {
        png_destroy_read_struct(&c.png, NULL, NULL);
        return snn_error_set(err, SNN_ENOMEM, "PNG: out of memory");
    }
    png_decode_run(&c);
    png_destroy_read_struct(&c.png, &c.info, NULL);
    free(c.rows);
    if (c.code != SNN_OK) {
        free(c.pixels);
        if (c.msg[0]) return snn_error_set(err, c.code, "PNG: %s", c.msg);
        return c.code;              /* message already set by the check */
    }
    img->width = c.width;
    img->height = c.height;
    img->channels = c.channels;
    img->pixels = c.pixels;
    return SNN_OK;
}

/* ----------------------------------------------------------------- JPEG */

typedef struct jpeg_rctx {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    const snn_image_limits *lim;
    snn_error *err;
    snn_err code;
    char msg[JMSG_LENGTH_MAX];
    uint8_t *pixels;
    uint8_t *cmyk_row;
    int width, height, channels;
} jpeg_rctx;

static void jpeg_error_exit_fn(j_common_ptr cinfo)
{
    jpeg_rctx *c = cinfo->client_data;
    (*cinfo->err->format_message)(cinfo, c->msg);
    longjmp(c->jb, 1);
}

/* Warnings (msg_level -1) about corrupt or truncated data abort the decode;
 * trace messages (>= 0) and harmless metadata warnings are dropped. */
static void jpeg_emit_message_fn(j_common_ptr cinfo, int msg_level)
{
    jpeg_rctx *c = cinfo->client_data;
    if (msg_level >= 0) return;
    int code = cinfo->err->msg_code;
    if (code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC || code == JWRN_JFIF_MAJOR)
        return;
    (*cinfo->err->format_message)(cinfo, c->msg);
    longjmp(c->jb, 1);
}

static void jpeg_output_message_fn(j_common_ptr cinfo)
{
    (void)cinfo;                /* never print */
}

/* Called by libjpeg for every iMCU row it reads and every output row:
 * the scan count cap (each progressive scan costs a pass over the whole
 * coefficient buffer) and the caller's check (deadline, cancel). */
static void jpeg_progress_fn(j_common_ptr cinfo)
{
    jpeg_rctx *c = cinfo->client_data;
    if (cinfo->is_decompressor &&
        ((j_decompress_ptr)cinfo)->input_scan_number > c->lim->max_scans) {
        c->code = SNN_ELIMIT;
        snprintf(c->msg, sizeof c->msg, "more than %d scans (the limit)", c->lim->max_scans);
        longjmp(c->jb, 1);
    }
    snn_err rc = c->lim->check ? c->lim->check(c->lim->check_ud) : SNN_OK;
    if (rc != SNN_OK) {
        c->code = rc;
        snprintf(c->msg, sizeof c->msg, "%s", check_msg(rc));
        longjmp(c->jb, 1);
    }
}

/* Bytes of the whole-image coefficient buffers libjpeg allocates for a
 * progressive or multi-scan file (none for a single-scan one). Valid
 * after jpeg_read_header. */
static int64_t jpeg_coef_bytes(struct jpeg_decompress_struct *ci)
{
    if (!jpeg_has_multiple_scans(ci)) return 0;
    int64_t n = 0;
    for (int i = 0; i < ci->num_components; i++) {
        const jpeg_component_info *cp = &ci->comp_info[i];
        int64_t hb = ((int64_t)cp->height_in_blocks + cp->v_samp_factor - 1) /
                     cp->v_samp_factor * cp->v_samp_factor;
        int64_t wb = ((int64_t)cp->width_in_blocks + cp->h_samp_factor - 1) /
                     cp->h_samp_factor * cp->h_samp_factor;
        n += wb * hb * JPEG_COEF_BLOCK_BYTES;
    }
    return n;
}

/* CMYK row (Adobe files store it inverted) to RGB. */
static void cmyk_to_rgb(const uint8_t *src, uint8_t *dst, int n, int inverted)
{
    for (int i = 0; i < n; i++) {
        int cc = src[4 * i], m = src[4 * i + 1], y = src[4 * i + 2], k = src[4 * i + 3];
        if (!inverted) {
            cc = 255 - cc;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        dst[3 * i] = (uint8_t)((cc * k + 127) / 255);
        dst[3 * i + 1] = (uint8_t)((m * k + 127) / 255);
        dst[3 * i + 2] = (uint8_t)((y * k + 127) / 255);
    }
}

static void jpeg_decode_run(jpeg_rctx *c, const uint8_t *buf, size_t len)
{
    struct jpeg_decompress_struct *ci = &c->cinfo;
    if (setjmp(c->jb)) {
        if (c->code == SNN_OK) c->code = SNN_EFORMAT;
        return;
    }
    jpeg_mem_src(ci, buf, (unsigned long)len);
    jpeg_read_header(ci, TRUE);
    if ((c->code = check_dims("JPEG", ci->image_width, ci->image_height, c->lim,
                              c->err)) != SNN_OK)
        return;
    int64_t coef = jpeg_coef_bytes(ci);
    if (coef > c->lim->max_memory - IMG_DECODER_SLACK) {
        c->code = snn_error_set(c->err, SNN_ETOOLARGE,
                                "JPEG: a progressive/multi-scan %ux%u image needs %lld bytes of "
                                "coefficient buffers, over the decoder memory limit %lld",
                                ci->image_width, ci->image_height, (long long)coef,
                                (long long)c->lim->max_memory);
        return;
    }
    int cmyk = 0;
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE:
        ci->out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        ci->out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    case JCS_UNKNOWN:
        /* 2 or 5+ components, no known color space: the client's data is
         * not an image we can read (400), not a missing feature (501). */
        c->code = snn_error_set(c->err, SNN_EFORMAT,
                                "JPEG: unsupported color layout (%d components)",
                                ci->num_components);
        return;
    default:
        ci->out_color_space = JCS_RGB;
        break;
    }
    jpeg_start_decompress(ci);
    int w = (int)ci->output_width, h = (int)ci->output_height;
    int outc = ci->output_components;
    if ((cmyk && outc != 4) || (!cmyk && outc != 1 && outc != 3)) {
        c->code = snn_error_set(c->err, SNN_EFORMAT,
                                "JPEG: unsupported color layout (%d components)", outc);
        return;
    }
    int ch = cmyk ? 3 : outc;
    c->pixels = malloc((size_t)w * h * ch);
    if (cmyk) c->cmyk_row = malloc((size_t)w * 4);
    if (!c->pixels || (cmyk && !c->cmyk_row)) {
        c->code = snn_error_set(c->err, SNN_ENOMEM, "JPEG: out of memory for %dx%d pixels", w, h);
        return;
    }
    while (ci->output_scanline < ci->output_height) {
        int y = (int)ci->output_scanline;
        uint8_t *row = c->pixels + (size_t)y * w * ch;
        JSAMPROW rp = cmyk ? c->cmyk_row : row;
        if (jpeg_read_scanlines(ci, &rp, 1) != 1) {
            snprintf(c->msg, sizeof c->msg, "no progress reading scanline %d", y);
            longjmp(c->jb, 1);
        }
        if (cmyk) cmyk_to_rgb(c->cmyk_row, row, w, ci->saw_Adobe_marker);
    }
    jpeg_finish_decompress(ci);
    c->width = w;
    c->height = h;
    c->channels = ch;
}

static snn_err jpeg_decode(snn_image *img, const uint8_t *buf, size_t len,
                           const snn_image_limits *lim, snn_error *err)
{
    jpeg_rctx *c = calloc(1, sizeof *c);      /* jmp_buf + cinfo: keep off the stack */
    if (!c) return snn_error_set(err, SNN_ENOMEM, "JPEG: out of memory");
    c->lim = lim;
    c->err = err;
    c->cinfo.err = jpeg_std_error(&c->jerr);
    c->jerr.error_exit = jpeg_error_exit_fn;
    c->jerr.emit_message = jpeg_emit_message_fn;
    c->jerr.output_message = jpeg_output_message_fn;
    c->cinfo.client_data = c;
    if (setjmp(c->jb)) {        /* jpeg_create_decompress itself failed */
        jpeg_destroy_decompress(&c->cinfo);
        snn_err rc = snn_error_set(err, SNN_ENOMEM, "JPEG: %s", c->msg);
        free(c);
        return rc;
    }
    jpeg_create_decompress(&c->cinfo);
    c->cinfo.mem->max_memory_to_use = (long)lim->max_memory;   /* fence for libjpeg's allocations */
    c->progress.progress_monitor = jpeg_progress_fn;
    c->cinfo.progress = &c->progress;

    jpeg_decode_run(c, buf, len);
    jpeg_destroy_decompress(&c->cinfo);
    free(c->cmyk_row);
    snn_err rc = c->code;
    if (rc != SNN_OK) {
        free(c->pixels);
        if (c->msg[0]) snn_error_set(err, rc, "JPEG: %s", c->msg);
    } else {
        img->width = c->width;
        img->height = c->height;
        img->channels = c->channels;
        img->pixels = c->pixels;
    }
    free(c);
    return rc;
}

/* --------------------------------------------------------------- public */

snn_err snn_image_decode(snn_image *img, const void *buf, size_t len,
                         int want_channels, const snn_image_limits *lim,
                         snn_error *err)
{
    snn_image_limits l;
    snn_err rc;
    if (!img) return snn_error_set(err, SNN_EINVALID, "image: NULL image");
    memset(img, 0, sizeof *img);
    if (!buf && len) return snn_error_set(err, SNN_EINVALID, "image: NULL buffer");
    if (want_channels != 0 && want_channels != 1 && want_channels != 3)
        return snn_error_set(err, SNN_EINVALID,
                             "image: want_channels must be 0, 1 or 3 (got %d)",
                             want_channels);
    limits_resolve(lim, &l);
    switch (snn_image_sniff(buf, len)) {
    case SNN_IMAGE_PNG:
        rc = png_decode(img, buf, len, &l, err);
        break;
    case SNN_IMAGE_JPEG:
        rc = jpeg_decode(img, buf, len, &l, err);
        break;
    default:
        return snn_error_set(err, SNN_EFORMAT,
                             "image: not a PNG or JPEG file (%zu bytes)", len);
    }
    if (rc == SNN_OK) rc = image_set_channels(img, want_channels, err);
    if (rc != SNN_OK) snn_image_deinit(img);
    return rc;
}

/* Read a whole file of at most `max` bytes into a new buffer. */
static snn_err read_file(const char *path, size_t max, uint8_t **out,
                         size_t *len, snn_error *err)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f)
        return snn_error_set(err, errno == ENOENT ? SNN_ENOTFOUND : SNN_EIO,
                             "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return snn_error_set(err, SNN_EIO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        fclose(f);
        return snn_error_set(err, SNN_ETOOLARGE, "%s: file of %lld bytes exceeds %zu",
                             path, (long long)st.st_size, max);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return snn_error_set(err, SNN_ENOMEM, "%s: out of memory", path);
    }
    if (fread(b, 1, n, f) != n) {
        free(b);
        fclose(f);
        return snn_error_set(err, SNN_EIO, "%s: short read", path);
    }
    fclose(f);
    *out = b;
    *len = n;
    return SNN_OK;
}

snn_err snn_image_load(snn_image *img, const char *path, int want_channels,
                       const snn_image_limits *lim, snn_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!img || !path) return snn_error_set(err, SNN_EINVALID, "image: NULL argument");
    memset(img, 0, sizeof *img);
    snn_err rc = read_file(path, IMG_MAX_FILE_BYTES, &buf, &len, err);
    if (rc != SNN_OK) return rc;
    snn_error e;
    snn_error_clear(&e);
    rc = snn_image_decode(img, buf, len, want_channels, lim, &e);
    free(buf);
    if (rc != SNN_OK) snn_error_set(err, rc, "%s: %s", path, e.msg);
    return rc;
}

void snn_image_deinit(snn_image *img)
{
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* --------------------------------------------------------------- resize */

/* Source coordinate of destination index i with half-pixel centres
 * (OpenCV INTER_LINEAR): s = (i + 0.5) * in / out - 0.5, clamped. */
static void resize_axis(int in, int out, int *i0, int *i1, float *f)
{
    double scale = (double)in / out;
    for (int i = 0; i < out; i++) {
        double s = (i + 0.5) * scale - 0.5;
        if (s < 0) s = 0;
        int a = (int)s;
        if (a > in - 1) a = in - 1;
        int b = a + 1 < in ? a + 1 : in - 1;
        double t = s - a;
        if (t > 1) t = 1;
        i0[i] = a;
        i1[i] = b;
        f[i] = (float)t;
    }
}

snn_err snn_image_resize(const snn_image *src, int width, int height,
                         snn_image *dst, snn_error *err)
{
    if (!src || !dst || !src->pixels || src->width <= 0 || src->height <= 0 ||
        src->channels < 1 || src->channels > 4)
        return snn_error_set(err, SNN_EINVALID, "resize: invalid source image");
    if (width <= 0 || height <= 0 || width > 65536 || height > 65536 ||
        (int64_t)width * height > (int64_t)1 << 30)
        return snn_error_set(err, SNN_EINVALID, "resize: invalid target size %dx%d",
                             width, height);
    int c = src->channels, sw = src->width;
    size_t n = (size_t)width * height * c;
    uint8_t *out = malloc(n);
    int *xi = malloc(sizeof(int) * 2 * (size_t)width + sizeof(int) * 2 * (size_t)height);
    float *xf = malloc(sizeof(float) * ((size_t)width + height));
    if (!out || !xi || !xf) {
        free(out);
        free(xi);
        free(xf);
        return snn_error_set(err, SNN_ENOMEM, "resize: out of memory");
    }
    int *x0 = xi, *x1 = xi + width, *y0 = xi + 2 * width, *y1 = y0 + height;
    float *fx = xf, *fy = xf + width;
    resize_axis(src->width, width, x0, x1, fx);
    resize_axis(src->height, height, y0, y1, fy);
    for (int y = 0; y < height; y++) {
        const uint8_t *ra = src->pixels + (size_t)y0[y] * sw * c;
        const uint8_t *rb = src->pixels + (size_t)y1[y] * sw * c;
        float ty = fy[y];
        uint8_t *o = out + (size_t)y * width * c;
        for (int x = 0; x < width; x++) {
            const uint8_t *a0 = ra + (size_t)x0[x] * c, *a1 = ra + (size_t)x1[x] * c;
            const uint8_t *b0 = rb + (size_t)x0[x] * c, *b1 = rb + (size_t)x1[x] * c;
            float tx = fx[x];
            for (int k = 0; k < c; k++) {
                float top = a0[k] + (a1[k] - a0[k]) * tx;
                float bot = b0[k] + (b1[k] - b0[k]) * tx;
                float v = top + (bot - top) * ty;
                int iv = (int)lrintf(v);
                o[(size_t)x * c + k] = (uint8_t)(iv < 0 ? 0 : iv > 255 ? 255 : iv);
            }
        }
    }
    free(xi);
    free(xf);
    dst->width = width;
    dst->height = height;
    dst->channels = c;
    dst->pixels = out;
    return SNN_OK;
}

/* ----------------------------------------------------------- PNG encode */

typedef struct png_wctx {
    png_structp png;
    png_infop info;
    uint8_t *data;
    size_t len, cap;
    char msg[256];
} png_wctx;

static void png_write_fn(png_structp png, png_bytep data, size_t n)
{
    png_wctx *c = png_get_io_ptr(png);
    if (n > c->cap - c->len) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap - c->len < n) {
            if (cap > SIZE_MAX / 2) png_error(png, "output too large");
            cap *= 2;
        }
        uint8_t *p = realloc(c->data, cap);
        if (!p) png_error(png, "out of memory");
        c->data = p;
        c->cap = cap;
    }
    memcpy(c->data + c->len, data, n);
    c->len += n;
}

static void png_werror_fn(png_structp png, png_const_charp msg)
{
    png_wctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_flush_fn(png_structp png)
{
    (void)png;
}

static int png_encode_run(png_wctx *c, const uint8_t *pixels, int w, int h,
                          int channels)
{
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (setjmp(png_jmpbuf(c->png))) return -1;
    png_set_write_fn(c->png, c, png_write_fn, png_flush_fn);
    png_set_IHDR(c->png, c->info, (png_uint_32)w, (png_uint_32)h, 8, types[channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(c->png, c->info);
    for (int y = 0; y < h; y++)
        png_write_row(c->png, (png_const_bytep)(pixels + (size_t)y * w * channels));
    png_write_end(c->png, c->info);
    return 0;
}

snn_err snn_image_encode_png(const uint8_t *pixels, int width, int height,
                             int channels, uint8_t **out, size_t *outlen,
                             snn_error *err)
{
    if (!pixels || !out || !outlen || width <= 0 || height <= 0 ||
        width > 1000000 || height > 1000000 || channels < 1 || channels > 4)
        return snn_error_set(err, SNN_EINVALID,
                             "PNG encode: invalid image (%dx%d, %d channels)",
                             width, height, channels);
    png_wctx c = {0};
    c.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, png_werror_fn,
                                    png_warning_fn);
    if (!c.png) return snn_error_set(err, SNN_ENOMEM, "PNG encode: out of memory");
    c.info = png_create_info_struct(c.png);
    if (!c.info) {
        png_destroy_write_struct(&c.png, NULL);
        return snn_error_set(err, SNN_ENOMEM, "PNG encode: out of memory");
    }
    int bad = png_encode_run(&c, pixels, width, height, channels);
    png_destroy_write_struct(&c.png, &c.info);
    if (bad) {
        free(c.data);
        return snn_error_set(err, strstr(c.msg, "memory") ? SNN_ENOMEM : SNN_EINTERNAL,
                             "PNG encode: %s", c.msg);
    }
    *out = c.data;
    *outlen = c.len;
    return SNN_OK;
}
