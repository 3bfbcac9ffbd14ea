/* test_image.c: PNG/JPEG decoding (fixtures from an independent encoder,
 * tools/mkpng_fixtures.c, zlib only), limits and hostile inputs, channel
 * conversion, bilinear resize and the PNG encoder. */
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <zlib.h>

#include "snn/image.h"

/* The fixture pattern (see tools/mkpng_fixtures.c). */
static int pat(int x, int y, int c) { return (x * 37 + y * 11 + c * 80) & 255; }

static uint8_t *slurp(const char *rel, size_t *len)
{
    FILE *f = fopen(test_path(rel), "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Compare an image against the pattern, nc pattern channels. */
static int matches_pattern(const snn_image *im, int w, int h, int nc)
{
    if (im->width != w || im->height != h || im->channels != nc) return 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < nc; c++)
                if (im->pixels[((size_t)y * w + x) * nc + c] != pat(x, y, c)) return 0;
    return 1;
}

TEST(image_png_fixtures_rgb_gray)
{
    static const struct { const char *file; int w, h, ch; } cases[] = {
        {"images/gray8.png", 7, 5, 1},
        {"images/rgb8.png", 7, 5, 3},
        {"images/rgba8.png", 7, 5, 3},          /* alpha dropped */
        {"images/graya8.png", 7, 5, 1},         /* gray+alpha -> gray */
        {"images/rgb16.png", 7, 5, 3},          /* 16-bit: high byte */
        {"images/gray16.png", 7, 5, 1},
        {"images/rgb8_interlaced.png", 13, 11, 3},
        {"images/graya16_interlaced.png", 13, 11, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snn_image im;
        snn_error e;
        snn_err rc = snn_image_load(&im, test_path(cases[i].file), 0, NULL, &e);
        CHECK_MSG(rc == SNN_OK, "%s: %s", cases[i].file, e.msg);
        int ok = matches_pattern(&im, cases[i].w, cases[i].h, cases[i].ch);
        snn_image_deinit(&im);
        CHECK_MSG(ok, "%s: pixels differ from the pattern", cases[i].file);
    }
}

TEST(image_png_palette_and_1bit)
{
    snn_image im;
    snn_error e;
    CHECK_MSG(snn_image_load(&im, test_path("images/pal4.png"), 0, NULL, &e) == SNN_OK,
              "%s", e.msg);
    CHECK_EQ_INT(im.channels, 3);
    CHECK_EQ_INT(im.width, 7);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++) {
            int i = (x + 3 * y) % 16;
            const uint8_t *p = im.pixels + (y * 7 + x) * 3;
            CHECK_EQ_INT(p[0], i * 16);
            CHECK_EQ_INT(p[1], 255 - i * 16);
            CHECK_EQ_INT(p[2], i * 7);
        }
    snn_image_deinit(&im);

    CHECK_OK(snn_image_load(&im, test_path("images/gray1.png"), 0, NULL, &e));
    CHECK_EQ_INT(im.channels, 1);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++)
            CHECK_EQ_INT(im.pixels[y * 7 + x], ((x + y) & 1) ? 255 : 0);
    snn_image_deinit(&im);
}

TEST(image_want_channels)
{
    snn_image im;
    snn_error e;
    CHECK_OK(snn_image_load(&im, test_path("images/rgb8.png"), 1, NULL, &e));
    CHECK_EQ_INT(im.channels, 1);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++) {
            double l = 0.299 * pat(x, y, 0) + 0.587 * pat(x, y, 1) + 0.114 * pat(x, y, 2);
            CHECK_NEAR(im.pixels[y * 7 + x], l, 0.5 + 1e-9);
        }
    snn_image_deinit(&im);

    CHECK_OK(snn_image_load(&im, test_path("images/gray8.png"), 3, NULL, &e));
    CHECK_EQ_INT(im.channels, 3);
    for (int i = 0; i < 35; i++) {
        int v = pat(i % 7, i / 7, 0);
        CHECK(im.pixels[3 * i] == v && im.pixels[3 * i + 1] == v && im.pixels[3 * i + 2] == v);
    }
    snn_image_deinit(&im);

    CHECK_EQ_INT(snn_image_load(&im, test_path("images/gray8.png"), 2, NULL, &e),
                 SNN_EINVALID);
    CHECK(im.pixels == NULL);
}

TEST(image_png_bomb_refused_before_allocation)
{
    snn_image im;
    snn_error e;
    snn_err rc = snn_image_load(&im, test_path("images/bomb_60000.png"), 0, NULL, &e);
    CHECK_EQ_INT(rc, SNN_ETOOLARGE);
    CHECK_EQ_INT(e.code, SNN_ETOOLARGE);
    CHECK_MSG(strstr(e.msg, "60000x60000") != NULL, "message: %s", e.msg);
    CHECK_MSG(strstr(e.msg, "bomb_60000.png") != NULL, "message names the file: %s", e.msg);
    CHECK(im.pixels == NULL);

    /* Caller limits: 7x5 refused by width, by pixel count; accepted at size. */
    snn_image_limits lim = {.max_width = 6};
    CHECK_EQ_INT(snn_image_load(&im, test_path("images/rgb8.png"), 0, &lim, &e), SNN_ETOOLARGE);
    lim = (snn_image_limits){.max_pixels = 34};
    CHECK_EQ_INT(snn_image_load(&im, test_path("images/rgb8.png"), 0, &lim, &e), SNN_ETOOLARGE);
    lim = (snn_image_limits){.max_width = 7, .max_height = 5, .max_pixels = 35};
    CHECK_OK(snn_image_load(&im, test_path("images/rgb8.png"), 0, &lim, &e));
    snn_image_deinit(&im);
}

TEST(image_png_truncated_and_corrupt)
{
    snn_image im;
    snn_error e;
    snn_err rc = snn_image_load(&im, test_path("images/truncated.png"), 0, NULL, &e);
    CHECK_EQ_INT(rc, SNN_EFORMAT);
    CHECK_MSG(strstr(e.msg, "PNG: ") && strlen(e.msg) > 20, "message: %s", e.msg);

    size_t len;
    uint8_t *buf = slurp("images/rgb8_interlaced.png", &len);
    CHECK(buf != NULL);
    /* Every prefix that ends before IEND's start cannot hold all of IDAT. */
    for (size_t n = 0; n + 12 < len; n++) {
        rc = snn_image_decode(&im, buf, n, 0, NULL, &e);
        CHECK_MSG(rc == SNN_EFORMAT, "prefix %zu: rc %d", n, rc);
        CHECK(im.pixels == NULL);
    }
    /* A flipped byte inside the IDAT stream: zlib's check fails first. */
    buf[60] ^= 0x40;
    rc = snn_image_decode(&im, buf, len, 0, NULL, &e);
    buf[60] ^= 0x40;
    CHECK_EQ_INT(rc, SNN_EFORMAT);
    CHECK_MSG(strstr(e.msg, "IDAT") != NULL, "message: %s", e.msg);
    /* A flipped bit in IHDR's CRC: libpng's CRC error. */
    buf[30] ^= 0x01;
    rc = snn_image_decode(&im, buf, len, 0, NULL, &e);
    free(buf);
    CHECK_EQ_INT(rc, SNN_EFORMAT);
    CHECK_MSG(strstr(e.msg, "CRC") != NULL, "message: %s", e.msg);

    CHECK_EQ_INT(snn_image_decode(&im, "GIF89a......", 12, 0, NULL, &e), SNN_EFORMAT);
    CHECK_EQ_INT(snn_image_decode(&im, NULL, 0, 0, NULL, &e), SNN_EFORMAT);
    CHECK_EQ_INT(snn_image_load(&im, test_path("images/missing.png"), 0, NULL, &e),
                 SNN_ENOTFOUND);
}

/* Random byte mutations of every fixture: any result but a crash, leak or
 * a success with inconsistent fields. */
TEST(image_png_mutations)
{
    static const char *files[] = {"images/rgb8.png", "images/pal4.png",
                                   "images/graya16_interlaced.png", "images/gray1.png"};
    uint32_t seed = 12345;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len;
        uint8_t *orig = slurp(files[f], &len);
        CHECK(orig != NULL);
        uint8_t *buf = malloc(len);
        for (int it = 0; it < 400; it++) {
            memcpy(buf, orig, len);
            for (int k = 0; k < 1 + it % 4; k++) {
                seed = seed * 1664525u + 1013904223u;
                buf[8 + (seed >> 8) % (len - 8)] ^= (uint8_t)(1u << (seed >> 29));
            }
            snn_image im;
            snn_error e;
            snn_err rc = snn_image_decode(&im, buf, len, 0, NULL, &e);
            if (rc == SNN_OK) {
                CHECK(im.width > 0 && im.height > 0 && (im.channels == 1 || im.channels == 3));
                snn_image_deinit(&im);
            } else {
                CHECK_MSG(rc == SNN_EFORMAT || rc == SNN_ETOOLARGE, "rc %d: %s", rc, e.msg);
                CHECK(im.pixels == NULL);
            }
        }
        free(buf);
        free(orig);
    }
}

/* Append a PNG chunk (length, type, data, CRC) at dst. */
static size_t put_chunk(uint8_t *dst, const char *type, const uint8_t *data, uint32_t n)
{
    dst[0] = (uint8_t)(n >> 24);
    dst[1] = (uint8_t)(n >> 16);
    dst[2] = (uint8_t)(n >> 8);
    dst[3] = (uint8_t)n;
    memcpy(dst + 4, type, 4);
    if (n) memcpy(dst + 8, data, n);
    uint32_t crc = (uint32_t)crc32(0, dst + 4, 4 + n);
    dst[8 + n] = (uint8_t)(crc >> 24);
    dst[9 + n] = (uint8_t)(crc >> 16);
    dst[10 + n] = (uint8_t)(crc >> 8);
    dst[11 + n] = (uint8_t)crc;
    return 12 + n;
}

TEST(image_png_ztxt_bomb_ignored)
{
    /* A zTXt chunk inflating to 64 MiB is dropped (chunk cap); the image
     * itself still decodes. */
    size_t len;
    uint8_t *png = slurp("images/rgb8.png", &len);
    CHECK(png != NULL);
    size_t raw_len = 64u << 20;
    uint8_t *raw = calloc(1, raw_len);
    uLongf zlen = compressBound(raw_len);
    uint8_t *z = malloc(6 + zlen);
    memcpy(z, "bomb\0\0", 6);               /* keyword, NUL, method 0 */
    CHECK(compress2(z + 6, &zlen, raw, raw_len, 9) == Z_OK);
    free(raw);
    uint8_t *out = malloc(len + zlen + 64);
    size_t ihdr_end = 8 + 12 + 13;
    memcpy(out, png, ihdr_end);
    size_t n = ihdr_end + put_chunk(out + ihdr_end, "zTXt", z, (uint32_t)(zlen + 6));
    memcpy(out + n, png + ihdr_end, len - ihdr_end);
    n += len - ihdr_end;
    snn_image im;
    snn_error e;
    snn_err rc = snn_image_decode(&im, out, n, 0, NULL, &e);
    free(z);
    free(out);
    free(png);
    CHECK_MSG(rc == SNN_OK, "%s", e.msg);
    int ok = matches_pattern(&im, 7, 5, 3);
    snn_image_deinit(&im);
    CHECK(ok);
}

TEST(image_png_encode_roundtrip)
{
    for (int ch = 1; ch <= 4; ch++) {
        int w = 33, h = 17;
        uint8_t *px = malloc((size_t)w * h * ch);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < ch; c++) px[(y * w + x) * ch + c] = (uint8_t)pat(x, y, c);
        uint8_t *png = NULL;
        size_t len = 0;
        snn_error e;
        CHECK_OK(snn_image_encode_png(px, w, h, ch, &png, &len, &e));
        CHECK(snn_image_sniff(png, len) == SNN_IMAGE_PNG);
        snn_image im;
        snn_err rc = snn_image_decode(&im, png, len, 0, NULL, &e);
        free(png);
        free(px);
        CHECK_MSG(rc == SNN_OK, "%s", e.msg);
        int ok = matches_pattern(&im, w, h, ch <= 2 ? 1 : 3);
        snn_image_deinit(&im);
        CHECK_MSG(ok, "%d channels", ch);
    }
    uint8_t *png;
    size_t len;
    snn_error e;
    uint8_t px[3] = {0};
    CHECK_EQ_INT(snn_image_encode_png(px, 1, 1, 5, &png, &len, &e), SNN_EINVALID);
    CHECK_EQ_INT(snn_image_encode_png(px, 0, 1, 3, &png, &len, &e), SNN_EINVALID);
}

/* ------------------------------------------------------------- JPEG */

/* Encode a w x h image with libjpeg (quality 100): progressive with
 * libjpeg's script, or with `script` (nscript scans) when given. */
static uint8_t *jpeg_encode_script(const uint8_t *px, int w, int h, int nc, J_COLOR_SPACE cs,
                                   int progressive, const jpeg_scan_info *script, int nscript,
                                   unsigned long *len)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &out, len);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = nc;
    ci.in_color_space = cs;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    if (progressive) jpeg_simple_progression(&ci);
    if (script) {
        ci.scan_info = script;
        ci.num_scans = nscript;
        ci.optimize_coding = TRUE;
    }
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * w * nc);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return out;
}

static uint8_t *jpeg_encode(const uint8_t *px, int w, int h, int nc, J_COLOR_SPACE cs,
                            int progressive, unsigned long *len)
{
    return jpeg_encode_script(px, w, h, nc, cs, progressive, NULL, 0, len);
}

/* A smooth image JPEG keeps within a few levels at quality 100. */
static int smooth(int x, int y, int c) { return 40 + x * 4 + y * 3 + c * 20; }

TEST(image_jpeg_rgb_gray_progressive)
{
    int w = 24, h = 16;
    uint8_t rgb[24 * 16 * 3], gray[24 * 16];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            for (int c = 0; c < 3; c++) rgb[(y * w + x) * 3 + c] = (uint8_t)smooth(x, y, c);
            gray[y * w + x] = (uint8_t)smooth(x, y, 0);
        }
    for (int prog = 0; prog <= 1; prog++) {
        unsigned long len = 0;
        uint8_t *j = jpeg_encode(rgb, w, h, 3, JCS_RGB, prog, &len);
        CHECK(snn_image_sniff(j, len) == SNN_IMAGE_JPEG);
        snn_image im;
        snn_error e;
        snn_err rc = snn_image_decode(&im, j, len, 0, NULL, &e);
        free(j);
        CHECK_MSG(rc == SNN_OK, "%s", e.msg);
        CHECK(im.width == w && im.height == h && im.channels == 3);
        int maxd = 0;
        for (int i = 0; i < w * h * 3; i++) {
            int d = abs(im.pixels[i] - rgb[i]);
            if (d > maxd) maxd = d;
        }
        snn_image_deinit(&im);
        CHECK_MSG(maxd <= 6, "progressive %d: max diff %d", prog, maxd);
    }
    unsigned long len = 0;
    uint8_t *j = jpeg_encode(gray, w, h, 1, JCS_GRAYSCALE, 0, &len);
    snn_image im;
    snn_error e;
    CHECK_OK(snn_image_decode(&im, j, len, 0, NULL, &e));
    CHECK_EQ_INT(im.channels, 1);
    CHECK_NEAR(im.pixels[5 * w + 7], smooth(7, 5, 0), 3);
    snn_image_deinit(&im);
    CHECK_OK(snn_image_decode(&im, j, len, 3, NULL, &e));
    CHECK_EQ_INT(im.channels, 3);
    CHECK(im.pixels[0] == im.pixels[1] && im.pixels[1] == im.pixels[2]);
    snn_image_deinit(&im);
    free(j);
}

TEST(image_jpeg_cmyk_converted)
{
    /* libjpeg writes an Adobe marker for CMYK, and Adobe CMYK is stored
     * inverted (as Photoshop does): store C=200 M=100 Y=0 K=55 inverted,
     * expect RGB = (255-C)(255-K)/255 per channel. */
    int w = 16, h = 8;
    uint8_t cmyk[16 * 8 * 4];
    for (int i = 0; i < w * h; i++) {
        cmyk[4 * i] = 255 - 200;
        cmyk[4 * i + 1] = 255 - 100;
        cmyk[4 * i + 2] = 255 - 0;
        cmyk[4 * i + 3] = 255 - 55;
    }
    unsigned long len = 0;
    uint8_t *j = jpeg_encode(cmyk, w, h, 4, JCS_CMYK, 0, &len);
    snn_image im;
    snn_error e;
    snn_err rc = snn_image_decode(&im, j, len, 0, NULL, &e);
    free(j);
    CHECK_MSG(rc == SNN_OK, "%s", e.msg);
    CHECK_EQ_INT(im.channels, 3);
    CHECK_NEAR(im.pixels[0], 55 * 200 / 255.0, 3);
    CHECK_NEAR(im.pixels[1], 155 * 200 / 255.0, 3);
    CHECK_NEAR(im.pixels[2], 255 * 200 / 255.0, 3);
    snn_image_deinit(&im);
}

TEST(image_jpeg_hostile)
{
    int w = 32, h = 32;
    uint8_t rgb[32 * 32 * 3];
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 7);
    unsigned long len = 0;
    uint8_t *j = jpeg_encode(rgb, w, h, 3, JCS_RGB, 0, &len);
    snn_image im;
    snn_error e;

    /* Truncated: libjpeg's "Premature end of JPEG file" becomes an error. */
    snn_err rc = snn_image_decode(&im, j, len / 2, 0, NULL, &e);
    CHECK_EQ_INT(rc, SNN_EFORMAT);
    CHECK_MSG(strstr(e.msg, "JPEG: ") && strstr(e.msg, "Premature end"), "message: %s", e.msg);
    CHECK(im.pixels == NULL);
    for (unsigned long n = 0; n < len - 2; n += 7) {
        rc = snn_image_decode(&im, j, n, 0, NULL, &e);
        CHECK_MSG(rc == SNN_EFORMAT, "prefix %lu: rc %d", n, rc);
    }

    /* Patch the SOF0 frame to claim 60000 x 60000: refused from the header. */
    uint8_t *big = malloc(len);
    memcpy(big, j, len);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < len; i++)
        if (big[i] == 0xff && big[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    CHECK(sof > 0);
    big[sof + 5] = 60000 >> 8;
    big[sof + 6] = 60000 & 255;
    big[sof + 7] = 60000 >> 8;
    big[sof + 8] = 60000 & 255;
    rc = snn_image_decode(&im, big, len, 0, NULL, &e);
    CHECK_EQ_INT(rc, SNN_ETOOLARGE);
    CHECK_MSG(strstr(e.msg, "60000x60000") != NULL, "message: %s", e.msg);

    /* Random mutations after the SOI marker. */
    uint32_t seed = 99;
    for (int it = 0; it < 300; it++) {
        memcpy(big, j, len);
        for (int k = 0; k < 1 + it % 3; k++) {
            seed = seed * 1664525u + 1013904223u;
            big[2 + (seed >> 8) % (len - 2)] ^= (uint8_t)(1u << (seed >> 29));
        }
        rc = snn_image_decode(&im, big, len, 0, NULL, &e);
        if (rc == SNN_OK) snn_image_deinit(&im);
        else CHECK_MSG(rc == SNN_EFORMAT || rc == SNN_ETOOLARGE, "rc %d: %s", rc, e.msg);
    }
    free(big);
    free(j);
}

/* A JPEG of 2 components (no color space libjpeg knows) is bad client
 * data: SNN_EFORMAT (HTTP 400), never SNN_EUNSUPPORTED (501). */
TEST(image_jpeg_unknown_layout_is_format_error)
{
    int w = 16, h = 8;
    uint8_t px[16 * 8 * 2];
    for (int i = 0; i < w * h * 2; i++) px[i] = (uint8_t)(i * 3);
    unsigned long len = 0;
    uint8_t *j = jpeg_encode(px, w, h, 2, JCS_UNKNOWN, 0, &len);
    CHECK(j != NULL && len > 0);
    snn_image im;
    snn_error e;
    snn_error_clear(&e);
    snn_err rc = snn_image_decode(&im, j, len, 0, NULL, &e);
    free(j);
    CHECK_EQ_INT(rc, SNN_EFORMAT);
    CHECK_EQ_INT(snn_err_http_status(rc), 400);
    CHECK_MSG(strstr(e.msg, "unsupported color layout (2 components)") != NULL, "message: %s", e.msg);
    CHECK(im.pixels == NULL);
}

/* A progressive gray JPEG of exactly `nscans` scans (1 DC scan, then one
 * band per AC coefficient with successive-approximation refinements), so
 * the scan count is what the test says, not what the encoder picked. */
static uint8_t *jpeg_encode_scans(int w, int h, int nscans, unsigned long *len)
{
    jpeg_scan_info scans[1 + 63 * 11];
    int n = 0, extra = nscans - 64;
    if (nscans < 64 || nscans > 1 + 63 * 11) return NULL;
    scans[n++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
    for (int k = 1; k <= 63; k++) {
        int al = extra > 10 ? 10 : extra;   /* libjpeg allows Al <= 10 */
        extra -= al;
        scans[n++] = (jpeg_scan_info){1, {0}, k, k, 0, al};
        for (int a = al; a > 0; a--) scans[n++] = (jpeg_scan_info){1, {0}, k, k, a, a - 1};
    }
    uint8_t *px = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) px[i] = (uint8_t)(i * 13 + i / w * 7);
    uint8_t *out = jpeg_encode_script(px, w, h, 1, JCS_GRAYSCALE, 0, scans, n, len);
    free(px);
    return out;
}

/* The scan cap: max_scans scans decode, one more is SNN_ELIMIT. */
TEST(image_jpeg_scan_limit)
{
    unsigned long len = 0;
    uint8_t *j = jpeg_encode_scans(64, 32, 80, &len);
    CHECK(j != NULL);
    snn_image im;
    snn_error e;
    snn_image_limits lim = {0};
    lim.max_scans = 80;
    snn_err rc = snn_image_decode(&im, j, len, 0, &lim, &e);
    CHECK_MSG(rc == SNN_OK, "80 scans under a limit of 80: %s", e.msg);
    if (rc == SNN_OK) {
        CHECK_EQ_INT(im.width, 64);
        snn_image_deinit(&im);
    }
    lim.max_scans = 79;
    rc = snn_image_decode(&im, j, len, 0, &lim, &e);
    CHECK_EQ_INT(rc, SNN_ELIMIT);
    CHECK_MSG(strstr(e.msg, "more than 79 scans") != NULL, "message: %s", e.msg);
    rc = snn_image_decode(&im, j, len, 0, NULL, &e);      /* default 64 */
    CHECK_EQ_INT(rc, SNN_ELIMIT);
    free(j);
}

/* Coefficient buffers of a progressive file count against max_memory
 * from the header; a single-scan file of the same size needs none. */
TEST(image_jpeg_coefficient_memory_budget)
{
    unsigned long len = 0;
    uint8_t *j = jpeg_encode_scans(256, 256, 64, &len);   /* 1024 blocks x 128 B */
    CHECK(j != NULL);
    snn_image im;
    snn_error e;
    snn_image_limits lim = {0};
    lim.max_memory = (8LL << 20) + 1024 * 128;
    snn_err rc = snn_image_decode(&im, j, len, 0, &lim, &e);
    CHECK_MSG(rc == SNN_OK, "exact budget: %s", e.msg);
    snn_image_deinit(&im);
    lim.max_memory = (8LL << 20) + 1024 * 128 - 1;
    rc = snn_image_decode(&im, j, len, 0, &lim, &e);
    CHECK_EQ_INT(rc, SNN_ETOOLARGE);
    CHECK_MSG(strstr(e.msg, "131072 bytes of coefficient") != NULL, "message: %s", e.msg);
    free(j);
    uint8_t gray[256 * 256];
    memset(gray, 90, sizeof gray);
    j = jpeg_encode(gray, 256, 256, 1, JCS_GRAYSCALE, 0, &len);
    rc = snn_image_decode(&im, j, len, 0, &lim, &e);
    CHECK_MSG(rc == SNN_OK, "baseline under the same budget: %s", e.msg);
    snn_image_deinit(&im);
    free(j);
    /* the documented bound */
    snn_image_limits l2 = {0};
    l2.max_pixels = 1000;
    l2.max_memory = 5000;
    CHECK_EQ_INT((long long)snn_image_decode_peak_bytes(&l2), 4000 + 5000 + (1 << 20));
    CHECK_EQ_INT((long long)snn_image_decode_peak_bytes(NULL),
                 4 * (16LL << 20) + 6 * (16LL << 20) + (8LL << 20) + (1 << 20));
}

typedef struct stop_after {
    int calls, stop_at;
    snn_err code;
} stop_after;

static snn_err stop_cb(void *ud)
{
    stop_after *s = ud;
    return ++s->calls >= s->stop_at ? s->code : SNN_OK;
}

/* The check callback is polled while decoding and its code stops it:
 * PNG rows and JPEG rows both, nothing leaks (ASan builds). */
TEST(image_decode_check_stops)
{
    int w = 64, h = 64;
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) px[i] = (uint8_t)(i * 5);
    uint8_t *png;
    size_t plen;
    snn_error e;
    CHECK_EQ_INT(snn_image_encode_png(px, w, h, 3, &png, &plen, &e), SNN_OK);
    unsigned long jlen = 0;
    uint8_t *jpg = jpeg_encode(px, w, h, 3, JCS_RGB, 1, &jlen);
    const uint8_t *bufs[2] = {png, jpg};
    size_t lens[2] = {plen, jlen};
    for (int f = 0; f < 2; f++) {
        snn_image im;
        stop_after never = {0, 1 << 30, SNN_ETIMEOUT};
        snn_image_limits lim = {0};
        lim.check = stop_cb;
        lim.check_ud = &never;
        CHECK_EQ_INT(snn_image_decode(&im, bufs[f], lens[f], 0, &lim, &e), SNN_OK);
        snn_image_deinit(&im);
        CHECK_MSG(never.calls >= h, "format %d: %d checks for %d rows", f, never.calls, h);
        stop_after s = {0, 10, SNN_ETIMEOUT};
        lim.check_ud = &s;
        CHECK_EQ_INT(snn_image_decode(&im, bufs[f], lens[f], 0, &lim, &e), SNN_ETIMEOUT);
        CHECK_MSG(strstr(e.msg, "deadline") != NULL, "message: %s", e.msg);
        CHECK_EQ_INT(s.calls, 10);
        CHECK(im.pixels == NULL);
        s = (stop_after){0, 3, SNN_ECANCELLED};
        CHECK_EQ_INT(snn_image_decode(&im, bufs[f], lens[f], 0, &lim, &e), SNN_ECANCELLED);
    }
    free(png);
    free(jpg);
    free(px);
}

/* ----------------------------------------------------------- resize */

TEST(image_resize_bilinear_half_pixel)
{
    /* 2x1 -> 4x1: OpenCV gives 0, 64, 191, 255 for (0, 255). */
    uint8_t a[2] = {0, 255};
    snn_image src = {2, 1, 1, a}, dst;
    snn_error e;
    CHECK_OK(snn_image_resize(&src, 4, 1, &dst, &e));
    CHECK(dst.pixels[0] == 0 && dst.pixels[1] == 64 && dst.pixels[2] == 191 &&
          dst.pixels[3] == 255);
    snn_image_deinit(&dst);

    /* 4x4 -> 2x2 averages each 2x2 block exactly (3 channels). */
    uint8_t b[4 * 4 * 3];
    for (int i = 0; i < 48; i++) b[i] = (uint8_t)(i * 5);
    src = (snn_image){4, 4, 3, b};
    CHECK_OK(snn_image_resize(&src, 2, 2, &dst, &e));
    CHECK(dst.width == 2 && dst.height == 2 && dst.channels == 3);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++)
            for (int c = 0; c < 3; c++) {
                int s = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        s += b[((2 * y + dy) * 4 + 2 * x + dx) * 3 + c];
                CHECK_NEAR(dst.pixels[(y * 2 + x) * 3 + c], s / 4.0, 0.5);
            }
    snn_image_deinit(&dst);

    /* Same size: identity. */
    CHECK_OK(snn_image_resize(&src, 4, 4, &dst, &e));
    CHECK(memcmp(dst.pixels, b, sizeof b) == 0);
    snn_image_deinit(&dst);

    CHECK_EQ_INT(snn_image_resize(&src, 0, 4, &dst, &e), SNN_EINVALID);
}

TEST(image_sniff)
{
    CHECK(snn_image_sniff("\x89PNG\r\n\x1a\n", 8) == SNN_IMAGE_PNG);
    CHECK(snn_image_sniff("\x89PNG\r\n\x1a", 7) == SNN_IMAGE_UNKNOWN);
    CHECK(snn_image_sniff("\xff\xd8\xff\xe0", 4) == SNN_IMAGE_JPEG);
    CHECK(snn_image_sniff("BM", 2) == SNN_IMAGE_UNKNOWN);
    CHECK(snn_image_sniff(NULL, 10) == SNN_IMAGE_UNKNOWN);
}

/* Neither library prints anything, even on hostile input: stderr is sent
 * to a temporary file around a set of failing decodes. */
TEST(image_libraries_never_print)
{
    uint8_t rgb[16 * 16 * 3];
    for (int i = 0; i < (int)sizeof rgb; i++) rgb[i] = (uint8_t)(i * 31);
    unsigned long jlen = 0;
    uint8_t *j = jpeg_encode(rgb, 16, 16, 3, JCS_RGB, 1, &jlen);
    size_t plen;
    uint8_t *png = slurp("images/rgb8_interlaced.png", &plen);
    CHECK(j && png);
    char path[] = "/tmp/snn_stderr_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    snn_image im;
    snn_error e;
    int failures = 0;
    failures += snn_image_decode(&im, j, jlen - 40, 0, NULL, &e) != SNN_OK;
    j[jlen / 2] ^= 0x55;
    j[jlen / 2 + 1] ^= 0x55;
    if (snn_image_decode(&im, j, jlen, 0, NULL, &e) == SNN_OK) snn_image_deinit(&im);
    failures += snn_image_decode(&im, png, plen / 2, 0, NULL, &e) != SNN_OK;
    png[plen - 20] ^= 0x01;                    /* a CRC near the end */
    if (snn_image_decode(&im, png, plen, 0, NULL, &e) == SNN_OK) snn_image_deinit(&im);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t printed = lseek(fd, 0, SEEK_END);
    close(fd);
    unlink(path);
    free(j);
    free(png);
    CHECK_EQ_INT(failures, 2);
    CHECK_EQ_INT(printed, 0);
}
