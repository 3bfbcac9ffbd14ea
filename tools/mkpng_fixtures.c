/* mkpng_fixtures.c: write the PNG fixtures of tests/unit/test_image.c and
 * test_dataset.c (tests/data/images/) with a PNG encoder written here on
 * zlib alone (no libpng), so the decoder is tested against an independent
 * writer. The output is byte-for-byte reproducible (zlib level 9, default
 * window and memory level).
 *
 * Build and run from the repo root:
 *   cc -O2 -Wall -o build/mkpng_fixtures tools/mkpng_fixtures.c -lz && \
 *       build/mkpng_fixtures tests/data/images
 *
 * Pixel pattern of every fixture (tests recompute it):
 *   f(x, y, c) = (x * 37 + y * 11 + c * 80) & 255
 *
 * Fixtures (7x5 unless said otherwise):
 *   gray8, rgb8                   8-bit gray and RGB
 *   rgba8, graya8                 alpha = 255 - 30x (must be dropped)
 *   rgb16, gray16                 high byte f, low byte noise (expect the high byte)
 *   pal4                          4-bit palette, index (x + 3y) % 16,
 *                                 palette (16i, 255 - 16i, 7i), tRNS (0, 128, 255)
 *   gray1                         1-bit checkerboard (x + y) & 1
 *   rgb8_interlaced,              Adam7, 13x11; gray+alpha 16-bit: gray f << 8 | 7,
 *   graya16_interlaced            alpha 0xffff
 *   bomb_60000                    IHDR claims 60000x60000 RGB, 1x1 of data
 *   truncated                     rgb8_interlaced cut in the middle
 *   folder/{0_cat,1_dog}/         a folder dataset: a.png 8x6 RGB, b.png 4x3 gray,
 *                                 c.png 8x6 RGB, notes.txt (ignored by extension)
 *
 * With -1 W H C PATH it writes a single 8-bit image of the same pattern
 * (C = 1 gray or 3 RGB), e.g. to make a folder dataset in a test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* A growable byte buffer; out of memory exits (a tool, not a library). */
typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

static void die(const char *what)
{
    fprintf(stderr, "mkpng_fixtures: %s\n", what);
    exit(1);
}

static void put(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_byte(buf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void put_be16(buf *b, unsigned v)
{
    put_byte(b, v >> 8);
    put_byte(b, v);
}

static void put_be32(buf *b, unsigned long v)
{
    put_byte(b, (unsigned)(v >> 24));
    put_byte(b, (unsigned)(v >> 16));
    put_byte(b, (unsigned)(v >> 8));
    put_byte(b, (unsigned)v);
}

static unsigned f(int x, int y, int c)
{
    return (unsigned)(x * 37 + y * 11 + c * 80) & 255;
}

static void chunk(buf *out, const char *kind, const void *data, size_t n)
{
    uLong crc = crc32(0, (const Bytef *)kind, 4);
    if (n) crc = crc32(crc, data, (uInt)n);
    put_be32(out, n);
    put(out, kind, 4);
    if (n) put(out, data, n);
    put_be32(out, crc);
}

/* One fixture's pixels: append the packed samples of pixels x0, x0+dx, ...
 * < w of row y (no filter byte) to row. */
typedef struct spec spec;
typedef void (*row_fn)(const spec *s, int x0, int dx, int y, buf *row);

struct spec {
    int w, h, depth, ctype, interlace;
    row_fn row;
};

/* Bits of depth < 8 packed MSB first; the last byte padded with zeros. */
typedef struct bits {
    unsigned acc, n;
} bits;

static void bits_put(bits *k, buf *row, unsigned v, unsigned depth)
{
    k->acc = (k->acc << depth) | v;
    k->n += depth;
    if (k->n == 8) {
        put_byte(row, k->acc);
        k->acc = k->n = 0;
    }
}

static void bits_flush(bits *k, buf *row)
{
    if (k->n) put_byte(row, (k->acc << (8 - k->n)) & 255);
    k->acc = k->n = 0;
}

static void row_gray8(const spec *s, int x0, int dx, int y, buf *row)
{
    for (int x = x0; x < s->w; x += dx) put_byte(row, f(x, y, 0));
}

static void row_rgb8(const spec *s, int x0, int dx, int y, buf *row)
{
    for (int x = x0; x < s->w; x += dx)
        for (int c = 0; c < 3; c++) put_byte(row, f(x, y, c));
}

static void row_rgba8(const spec *s, int x0, int dx, int y, buf *row)
{
    for (int x = x0; x < s->w; x += dx) {
        for (int c = 0; c < 3; c++) put_byte(row, f(x, y, c));
        put_byte(row, (unsigned)(255 - x * 30));
    }
}

static void row_graya8(const spec *s, int x0, int dx, int y, buf *row)
{
    for (int x = x0; x < s->w; x += dx) {
        put_byte(row, f(x, y, 0));
        put_byte(row, (unsigned)(255 - x * 30));
    }
}

static void row_rgb16(const spec *s, int x0, int dx, int y, buf *row)
{
    for (int x = x0; x < s->w; x += dx)
        for (int c = 0; c < 3; c++)
            put_be16(row, f(x, y, c) << 8 | ((unsigned)(x * 13 + y * 7 + c) & 255));
}

static void row_gray16(const spec *s, int x0, int dx, int y, buf *row)
{
    for (int x = x0; x < s->w; x += dx) put_be16(row, f(x, y, 0) << 8 | 0xA5);
}

static void row_pal4(const spec *s, int x0, int dx, int y, buf *row)
{
    bits k = {0, 0};
    for (int x = x0; x < s->w; x += dx) bits_put(&k, row, (unsigned)(x + 3 * y) % 16, 4);
    bits_flush(&k, row);
}

static void row_gray1(const spec *s, int x0, int dx, int y, buf *row)
{
    bits k = {0, 0};
    for (int x = x0; x < s->w; x += dx) bits_put(&k, row, (unsigned)(x + y) & 1, 1);
    bits_flush(&k, row);
}

static void row_graya16(const spec *s, int x0, int dx, int y, buf *row)
{
    for (int x = x0; x < s->w; x += dx) {
        put_be16(row, f(x, y, 0) << 8 | 7);
        put_be16(row, 0xFFFF);
    }
}

static void row_black_rgb(const spec *s, int x0, int dx, int y, buf *row)
{
    (void)s, (void)x0, (void)dx, (void)y;
    for (int i = 0; i < 3; i++) put_byte(row, 0);
}

/* The whole file. ihdr_w/ihdr_h != 0 replace the size written in IHDR
 * (the bomb); extra chunks go between IHDR and IDAT. */
static void png(const spec *s, unsigned long ihdr_w, unsigned long ihdr_h, const buf *extra,
                buf *out)
{
    static const int passes[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                     {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
    buf raw = {0};
    if (s->interlace) {
        for (int p = 0; p < 7; p++) {
            int x0 = passes[p][0], y0 = passes[p][1], dx = passes[p][2], dy = passes[p][3];
            if (x0 >= s->w || y0 >= s->h) continue;
            for (int y = y0; y < s->h; y += dy) {
                put_byte(&raw, 0);
                s->row(s, x0, dx, y, &raw);
            }
        }
    } else {
        for (int y = 0; y < s->h; y++) {
            put_byte(&raw, 0);
            s->row(s, 0, 1, y, &raw);
        }
    }
    buf hdr = {0};
    put_be32(&hdr, ihdr_w ? ihdr_w : (unsigned long)s->w);
    put_be32(&hdr, ihdr_h ? ihdr_h : (unsigned long)s->h);
    put_byte(&hdr, (unsigned)s->depth);
    put_byte(&hdr, (unsigned)s->ctype);
    put_byte(&hdr, 0);
    put_byte(&hdr, 0);
    put_byte(&hdr, (unsigned)s->interlace);

    uLongf zlen = compressBound(raw.len);
    unsigned char *z = malloc(zlen);
    if (!z) die("out of memory");
    if (compress2(z, &zlen, raw.p, raw.len, 9) != Z_OK) die("compress2 failed");

    put(out, "\x89PNG\r\n\x1a\n", 8);
    chunk(out, "IHDR", hdr.p, hdr.len);
    if (extra) put(out, extra->p, extra->len);
    chunk(out, "IDAT", z, zlen);
    chunk(out, "IEND", NULL, 0);
    free(z);
    free(raw.p);
    free(hdr.p);
}

static const char *dir_root;

static void write_file(const char *name, const void *data, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir_root, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, n, fp) != n || fclose(fp)) {
        fprintf(stderr, "mkpng_fixtures: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void write_png(const char *name, const spec *s, const buf *extra)
{
    buf out = {0};
    png(s, 0, 0, extra, &out);
    write_file(name, out.p, out.len);
    free(out.p);
}

static void make_dir(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir_root, name);
    if (mkdir(path, 0755) && errno != EEXIST) {
        fprintf(stderr, "mkpng_fixtures: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void write_all(void)
{
    const int w = 7, h = 5, iw = 13, ih = 11;
    write_png("gray8.png", &(spec){w, h, 8, 0, 0, row_gray8}, NULL);
    write_png("rgb8.png", &(spec){w, h, 8, 2, 0, row_rgb8}, NULL);
    write_png("rgba8.png", &(spec){w, h, 8, 6, 0, row_rgba8}, NULL);
    write_png("graya8.png", &(spec){w, h, 8, 4, 0, row_graya8}, NULL);
    write_png("rgb16.png", &(spec){w, h, 16, 2, 0, row_rgb16}, NULL);
    write_png("gray16.png", &(spec){w, h, 16, 0, 0, row_gray16}, NULL);

    buf plte = {0}, extra = {0};
    for (unsigned i = 0; i < 16; i++) {
        put_byte(&plte, i * 16);
        put_byte(&plte, 255 - i * 16);
        put_byte(&plte, i * 7);
    }
    chunk(&extra, "PLTE", plte.p, plte.len);
    chunk(&extra, "tRNS", "\x00\x80\xff", 3);
    write_png("pal4.png", &(spec){w, h, 4, 3, 0, row_pal4}, &extra);
    free(plte.p);
    free(extra.p);

    write_png("gray1.png", &(spec){w, h, 1, 0, 0, row_gray1}, NULL);
    write_png("rgb8_interlaced.png", &(spec){iw, ih, 8, 2, 1, row_rgb8}, NULL);
    write_png("graya16_interlaced.png", &(spec){iw, ih, 16, 4, 1, row_graya16}, NULL);

    buf bomb = {0};
    png(&(spec){1, 1, 8, 2, 0, row_black_rgb}, 60000, 60000, NULL, &bomb);
    write_file("bomb_60000.png", bomb.p, bomb.len);
    free(bomb.p);

    buf full = {0};
    png(&(spec){iw, ih, 8, 2, 1, row_rgb8}, 0, 0, NULL, &full);
    write_file("truncated.png", full.p, full.len / 2);
    free(full.p);

    make_dir("folder");
    make_dir("folder/0_cat");
    make_dir("folder/1_dog");
    write_png("folder/0_cat/a.png", &(spec){8, 6, 8, 2, 0, row_rgb8}, NULL);
    write_png("folder/0_cat/b.png", &(spec){4, 3, 8, 0, 0, row_gray8}, NULL);
    write_png("folder/1_dog/c.png", &(spec){8, 6, 8, 2, 0, row_rgb8}, NULL);
    const char *note = "not an image; ignored by extension\n";
    write_file("folder/1_dog/notes.txt", note, strlen(note));
}

static int parse_side(const char *s, int lo, int hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= lo && v <= hi ? (int)v : -1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && argv[1][0] != '-') {
        dir_root = argv[1];
        write_all();
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "-1")) {
        int w = parse_side(argv[2], 1, 4096), h = parse_side(argv[3], 1, 4096);
        int c = parse_side(argv[4], 1, 3);
        if (w < 0 || h < 0 || (c != 1 && c != 3)) die("-1 W H C PATH: W, H in [1, 4096], C 1 or 3");
        buf out = {0};
        png(&(spec){w, h, 8, c == 3 ? 2 : 0, 0, c == 3 ? row_rgb8 : row_gray8}, 0, 0, NULL, &out);
        FILE *fp = fopen(argv[5], "wb");
        if (!fp || fwrite(out.p, 1, out.len, fp) != out.len || fclose(fp)) {
            fprintf(stderr, "mkpng_fixtures: %s: %s\n", argv[5], strerror(errno));
            return 1;
        }
        free(out.p);
        return 0;
    }
    fprintf(stderr, "usage: mkpng_fixtures DIR            (all fixtures, e.g. tests/data/images)\n"
                    "       mkpng_fixtures -1 W H C PATH  (one 8-bit gray (C=1) or RGB (C=3) PNG)\n");
    return 2;
}
