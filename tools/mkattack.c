/* mkattack.c: the hostile-but-valid request bodies of tools/attack.sh
 * (issue 13), written to a directory:
 *   bomb.jpg     progressive JPEG, W x H RGB 4:4:4, exactly N scans, flat
 *                content (about 130 KB for 4096 x 4096 and 500 scans)
 *   worst.jpg    the worst valid JPEG under the default limits: W x H RGB
 *                4:4:4 progressive (libjpeg's 10-scan script), so the
 *                decoder holds the whole coefficient buffer and the output
 *   big.png      W x H RGBA PNG, flat content (the widest decoded form)
 *   pixels.json  {"pixels":[0,0,...]} of about B bytes (JSON expansion)
 *
 *   cc -O2 tools/mkattack.c -o build/mkattack -ljpeg -lpng -lz
 *   build/mkattack DIR [W H SCANS JSON_BYTES]   (4096 4096 500 8000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

/* Compress W x H RGB 4:4:4 rows `row` (the same every line) to f, with
 * `script` (n scans) or libjpeg's progressive script when NULL. */
static int write_jpeg(FILE *f, int w, int h, const JSAMPLE *row, const jpeg_scan_info *script, int n)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    for (int c = 0; c < 3; c++) ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
    if (script) {
        ci.scan_info = script;
        ci.num_scans = n;
        ci.optimize_coding = TRUE;
    } else {
        jpeg_simple_progression(&ci);
    }
    jpeg_start_compress(&ci, TRUE);
    JSAMPROW r = (JSAMPROW)row;
    while (ci.next_scanline < ci.image_height) jpeg_write_scanlines(&ci, &r, 1);
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return fclose(f);
}

static int write_bomb(const char *path, int w, int h, int nscans)
{
    /* DC of the three components interleaved, then one band per component
     * and AC coefficient, refined by successive approximation (Al <= 10)
     * until the count is reached. */
    int max = 1 + 3 * 63 * 11;
    if (nscans < 1 + 3 * 63 || nscans > max) {
        fprintf(stderr, "mkattack: scans must be within %d..%d\n", 1 + 3 * 63, max);
        return -1;
    }
    jpeg_scan_info *s = calloc((size_t)max, sizeof *s);
    int n = 0, extra = nscans - (1 + 3 * 63);
    s[n++] = (jpeg_scan_info){3, {0, 1, 2}, 0, 0, 0, 0};
    for (int k = 1; k <= 63; k++)
        for (int c = 0; c < 3; c++) {
            int al = extra > 10 ? 10 : extra;
            extra -= al;
            s[n++] = (jpeg_scan_info){1, {c}, k, k, 0, al};
            for (int a = al; a > 0; a--) s[n++] = (jpeg_scan_info){1, {c}, k, k, a, a - 1};
        }
    FILE *f = fopen(path, "wb");
    JSAMPLE *row = malloc((size_t)w * 3);
    if (!f || !row) return -1;
    memset(row, 128, (size_t)w * 3);
    int rc = write_jpeg(f, w, h, row, s, n);
    free(row);
    free(s);
    return rc;
}

static int write_worst(const char *path, int w, int h)
{
    FILE *f = fopen(path, "wb");
    JSAMPLE *row = malloc((size_t)w * 3);
    if (!f || !row) return -1;
    for (int x = 0; x < w * 3; x++) row[x] = (JSAMPLE)(x * 5);
    int rc = write_jpeg(f, w, h, row, NULL, 0);
    free(row);
    return rc;
}

static int write_png(const char *path, int w, int h)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) return -1;
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB_ALPHA,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(p, 9);
    png_write_info(p, info);
    png_bytep row = malloc((size_t)w * 4);
    for (int x = 0; x < w * 4; x++) row[x] = (png_byte)(x % 4 == 3 ? 255 : 100);
    for (int y = 0; y < h; y++) png_write_row(p, row);
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    free(row);
    return fclose(f);
}

static int write_json(const char *path, long bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs("{\"pixels\":[0", f);
    for (long k = 12; k + 4 < bytes; k += 2) fputs(",0", f);
    fputs("]}", f);
    return fclose(f);
}

int main(int argc, char **argv)
{
    char path[4096];
    if (argc < 2) {
        fprintf(stderr, "usage: mkattack DIR [W H SCANS JSON_BYTES]\n");
        return 2;
    }
    int w = argc > 2 ? atoi(argv[2]) : 4096, h = argc > 3 ? atoi(argv[3]) : 4096;
    int scans = argc > 4 ? atoi(argv[4]) : 500;
    long jb = argc > 5 ? atol(argv[5]) : 8000000;
    snprintf(path, sizeof path, "%s/bomb.jpg", argv[1]);
    if (write_bomb(path, w, h, scans)) return 1;
    snprintf(path, sizeof path, "%s/worst.jpg", argv[1]);
    if (write_worst(path, w, h)) return 1;
    snprintf(path, sizeof path, "%s/big.png", argv[1]);
    if (write_png(path, w, h)) return 1;
    snprintf(path, sizeof path, "%s/pixels.json", argv[1]);
    if (write_json(path, jb)) return 1;
    return 0;
}
