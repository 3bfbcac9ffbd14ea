/* test_dataset.c: the dataset readers against the real CIFAR-10 (shared,
 * read in place) and Fashion-MNIST (Debian) files, the folder fixture, and
 * hostile files made in a temporary directory. */
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>                /* after stdio.h */

#include "snn/dataset.h"
#include "snn/image.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];

static const char *mktmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/snn_ds_XXXXXX");
    return mkdtemp(tmpdir);
}

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int slot;
    char *b = buf[slot++ & 3];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void rm_tmp(void)
{
    char cmd[300];
    if (strncmp(tmpdir, "/tmp/snn_ds_", 12) != 0) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

static char spec_buf[600];
static const char *spec(const char *kind, const char *dir)
{
    snprintf(spec_buf, sizeof spec_buf, "%s:%s", kind, dir);
    return spec_buf;
}

/* ------------------------------------------------------------ CIFAR-10 */

TEST(dataset_cifar10_test_records)
{
    const char *dir = test_shared("cifar10");
    if (!dir) {
        test_skip("shared cifar10 not present");
        return;
    }
    snn_error e;
    snn_dataset *d = snn_dataset_open(spec("cifar10", dir), "test", 0, 20, &e);
    CHECK_MSG(d, "%s", e.msg);
    static const uint8_t want[20] = {3, 0, 2, 3, 7, 6, 4, 7, 4, 8, 3, 9, 3, 4, 6, 1, 4, 9, 7, 2};
    CHECK_EQ_INT(d->n, 20);
    CHECK(d->width == 32 && d->height == 32 && d->channels == 3);
    CHECK(memcmp(d->labels, want, 20) == 0);
    /* Record 0: R plane starts 222, 124; G 218, 120; B 219, 121; the last
     * pixel is (247, 253, 243). Interleaved HWC after conversion. */
    const uint8_t *p = snn_dataset_image(d, 0);
    CHECK(p[0] == 222 && p[1] == 218 && p[2] == 219);
    CHECK(p[3] == 124 && p[4] == 120 && p[5] == 121);
    CHECK(p[3 * 1023] == 247 && p[3 * 1023 + 1] == 253 && p[3 * 1023 + 2] == 243);
    p = snn_dataset_image(d, 1);
    CHECK(p[0] == 118 && p[1] == 151 && p[2] == 192);
    CHECK_EQ_INT(d->nclasses, 10);
    CHECK(!strcmp(d->class_names[0], "airplane") && !strcmp(d->class_names[3], "cat") &&
          !strcmp(d->class_names[9], "truck"));
    snn_dataset_free(d);

    /* Offset: image 19 alone (the snnctl "#19" case). */
    d = snn_dataset_open(spec("cifar10", dir), "test", 19, 1, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(d->n == 1 && d->labels[0] == 2);
    snn_dataset_free(d);

    d = snn_dataset_open(spec("cifar10", dir), NULL, 0, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK_EQ_INT(d->n, 10000);
    snn_dataset_free(d);

    CHECK(snn_dataset_open(spec("cifar10", dir), "test", 10000, 1, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_EINVALID);
}

TEST(dataset_cifar10_train_window_spans_files)
{
    const char *dir = test_shared("cifar10");
    if (!dir) {
        test_skip("shared cifar10 not present");
        return;
    }
    snn_error e;
    /* Records 9998, 9999 of data_batch_1, then 0, 1 of data_batch_2. */
    snn_dataset *d = snn_dataset_open(spec("cifar10", dir), "train", 9998, 3, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK_EQ_INT(d->n, 3);
    CHECK(d->labels[0] == 4 && d->labels[1] == 3 && d->labels[2] == 4);
    CHECK_EQ_INT(snn_dataset_image(d, 1)[0], 26);
    snn_dataset_free(d);
    /* The last training image is the last record of data_batch_5. */
    d = snn_dataset_open(spec("cifar10", dir), "train", 49999, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(d->n == 1 && d->labels[0] == 2 && snn_dataset_image(d, 0)[0] == 49);
    snn_dataset_free(d);
    CHECK(snn_dataset_open(spec("cifar10", dir), "train", 50000, 0, &e) == NULL);
}

TEST(dataset_cifar10_hostile)
{
    CHECK(mktmp());
    uint8_t rec[3073 * 2];
    memset(rec, 7, sizeof rec);
    rec[0] = 1;
    rec[3073] = 9;
    snn_error e;
    /* Missing file. */
    CHECK(snn_dataset_open(spec("cifar10", tmpdir), "test", 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_ENOTFOUND);
    CHECK_MSG(strstr(e.msg, "test_batch.bin"), "%s", e.msg);
    /* Size not a multiple of 3073. */
    CHECK_OK(write_bytes(tpath("test_batch.bin"), rec, sizeof rec - 1));
    CHECK(snn_dataset_open(spec("cifar10", tmpdir), "test", 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_EFORMAT);
    CHECK_MSG(strstr(e.msg, "test_batch.bin") && strstr(e.msg, "3073"), "%s", e.msg);
    /* Empty file. */
    CHECK_OK(write_bytes(tpath("test_batch.bin"), rec, 0));
    CHECK(snn_dataset_open(spec("cifar10", tmpdir), "test", 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_EFORMAT);
    /* Valid two records, no meta file: default names. */
    CHECK_OK(write_bytes(tpath("test_batch.bin"), rec, sizeof rec));
    snn_dataset *d = snn_dataset_open(spec("cifar10", tmpdir), "test", 0, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(d->n == 2 && d->labels[0] == 1 && d->labels[1] == 9);
    CHECK(!strcmp(d->class_names[1], "automobile"));
    snn_dataset_free(d);
    /* Label 10 in record 1. */
    rec[3073] = 10;
    CHECK_OK(write_bytes(tpath("test_batch.bin"), rec, sizeof rec));
    CHECK(snn_dataset_open(spec("cifar10", tmpdir), "test", 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_EFORMAT);
    CHECK_MSG(strstr(e.msg, "record 1") && strstr(e.msg, "label 10"), "%s", e.msg);
    /* ... but a window that stops before it is fine. */
    d = snn_dataset_open(spec("cifar10", tmpdir), "test", 0, 1, &e);
    CHECK_MSG(d, "%s", e.msg);
    snn_dataset_free(d);
    /* A meta file with 9 names. */
    rec[3073] = 0;
    CHECK_OK(write_bytes(tpath("test_batch.bin"), rec, sizeof rec));
    const char *nine = "a\nb\nc\nd\ne\nf\ng\nh\ni\n\n";
    CHECK_OK(write_bytes(tpath("batches.meta.txt"), nine, strlen(nine)));
    CHECK(snn_dataset_open(spec("cifar10", tmpdir), "test", 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EFORMAT && strstr(e.msg, "batches.meta.txt"), "%s", e.msg);
    const char *ten = "a\r\nb\nc\nd\ne\nf\ng\nh\ni\n  jay  \n\n";
    CHECK_OK(write_bytes(tpath("batches.meta.txt"), ten, strlen(ten)));
    d = snn_dataset_open(spec("cifar10", tmpdir), "test", 0, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(!strcmp(d->class_names[0], "a") && !strcmp(d->class_names[9], "jay"));
    snn_dataset_free(d);
    rm_tmp();
}

/* -------------------------------------------------------- Fashion-MNIST */

TEST(dataset_fashion_mnist_counts_and_first)
{
    if (access(FASHION_DIR "/t10k-labels-idx1-ubyte.gz", R_OK) != 0) {
        test_skip("Debian fashion-mnist not installed");
        return;
    }
    snn_error e;
    snn_dataset *d = snn_dataset_open("fashion-mnist:" FASHION_DIR, "test", 0, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK_EQ_INT(d->n, 10000);
    CHECK(d->width == 28 && d->height == 28 && d->channels == 1);
    CHECK_EQ_INT(d->labels[0], 9);
    CHECK(!strcmp(d->class_names[9], "Ankle boot") && !strcmp(d->class_names[0], "T-shirt/top"));
    snn_dataset_free(d);

    d = snn_dataset_open("fashion-mnist:" FASHION_DIR, "train", 0, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK_EQ_INT(d->n, 60000);
    CHECK_EQ_INT(d->labels[0], 9);
    const uint8_t *p = snn_dataset_image(d, 0);
    long sum = 0;
    for (int i = 0; i < 784; i++) sum += p[i];
    CHECK_EQ_INT(sum, 76247);
    CHECK(p[95] == 0 && p[96] == 1 && p[99] == 13 && p[100] == 73);
    snn_dataset_free(d);

    /* A window: t10k labels 3, 4 are 1, 6. */
    d = snn_dataset_open("fashion-mnist:" FASHION_DIR, "test", 3, 2, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(d->n == 2 && d->labels[0] == 1 && d->labels[1] == 6);
    snn_dataset_free(d);
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Plain IDX pair: n images of rows x cols, pixel = i + k, label = i % 10. */
static int write_idx(uint32_t imagic, uint32_t n_img, uint32_t n_lab, uint32_t rows,
                     uint32_t cols, int real_n, size_t cut)
{
    size_t isz = (size_t)rows * cols;
    size_t ilen = 16 + (size_t)real_n * isz;
    uint8_t *img = calloc(1, ilen), lab[8 + 64];
    be32(img, imagic);
    be32(img + 4, n_img);
    be32(img + 8, rows);
    be32(img + 12, cols);
    for (int i = 0; i < real_n; i++)
        for (size_t k = 0; k < isz; k++) img[16 + i * isz + k] = (uint8_t)(i + k);
    be32(lab, 2049);
    be32(lab + 4, n_lab);
    for (int i = 0; i < real_n && i < 64; i++) lab[8 + i] = (uint8_t)(i % 10);
    int rc = write_bytes(tpath("t10k-images-idx3-ubyte"), img, ilen - cut) |
             write_bytes(tpath("t10k-labels-idx1-ubyte"), lab, 8 + (size_t)(real_n < 64 ? real_n : 64));
    free(img);
    return rc;
}

TEST(dataset_idx_plain_and_hostile)
{
    CHECK(mktmp());
    snn_error e;
    char sp[400];
    snprintf(sp, sizeof sp, "fashion-mnist:%s", tmpdir);
    CHECK(snn_dataset_open(sp, "test", 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_ENOTFOUND);

    /* Plain (not gzip) files, window 2..4 of 5 images of 3x2. */
    CHECK_OK(write_idx(2051, 5, 5, 3, 2, 5, 0));
    snn_dataset *d = snn_dataset_open(sp, "test", 2, 3, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(d->n == 3 && d->width == 2 && d->height == 3 && d->channels == 1);
    CHECK(d->labels[0] == 2 && d->labels[2] == 4);
    CHECK(snn_dataset_image(d, 0)[0] == 2 && snn_dataset_image(d, 2)[5] == 9);
    snn_dataset_free(d);

    /* Bad magic. */
    CHECK_OK(write_idx(2049, 5, 5, 3, 2, 5, 0));
    CHECK(snn_dataset_open(sp, "test", 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EFORMAT && strstr(e.msg, "magic") &&
              strstr(e.msg, "t10k-images-idx3-ubyte"), "%s", e.msg);
    /* Count mismatch. */
    CHECK_OK(write_idx(2051, 5, 4, 3, 2, 5, 0));
    CHECK(snn_dataset_open(sp, "test", 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EFORMAT && strstr(e.msg, "4 labels"), "%s", e.msg);
    /* Truncated image data. */
    CHECK_OK(write_idx(2051, 5, 5, 3, 2, 5, 1));
    CHECK(snn_dataset_open(sp, "test", 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EFORMAT && strstr(e.msg, "truncated"), "%s", e.msg);
    /* Insane dimensions. */
    CHECK_OK(write_idx(2051, 5, 5, 0, 2, 5, 0));
    CHECK(snn_dataset_open(sp, "test", 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_EFORMAT);
    /* A header claiming 2^31-1 images of 4096x4096 over 2 real ones: refused
     * as truncated after reading what is there, not by allocating 2^55 bytes. */
    CHECK_OK(write_idx(2051, 0x7fffffff, 0x7fffffff, 4096, 4096, 2, 0));
    CHECK(snn_dataset_open(sp, "test", 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EFORMAT && strstr(e.msg, "truncated"), "%s", e.msg);
    /* Seeking past the data. */
    CHECK(snn_dataset_open(sp, "test", 1000000, 1, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_EFORMAT);

    /* Label out of range. */
    CHECK_OK(write_idx(2051, 12, 12, 1, 1, 12, 0));
    d = snn_dataset_open(sp, "test", 0, 10, &e);      /* labels 0..9 fine */
    CHECK_MSG(d, "%s", e.msg);
    snn_dataset_free(d);
    uint8_t lab[8 + 12];
    be32(lab, 2049);
    be32(lab + 4, 12);
    for (int i = 0; i < 12; i++) lab[8 + i] = (uint8_t)i;
    CHECK_OK(write_bytes(tpath("t10k-labels-idx1-ubyte"), lab, sizeof lab));
    CHECK(snn_dataset_open(sp, "test", 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EFORMAT && strstr(e.msg, "label 10"), "%s", e.msg);

    /* Gzip: a valid .gz wins over the plain file; a corrupted one fails. */
    CHECK_OK(write_idx(2051, 3, 3, 2, 2, 3, 0));
    gzFile gz = gzopen(tpath("t10k-images-idx3-ubyte.gz"), "wb");
    uint8_t img[16 + 12];
    be32(img, 2051);
    be32(img + 4, 3);
    be32(img + 8, 2);
    be32(img + 12, 2);
    for (int i = 0; i < 12; i++) img[16 + i] = (uint8_t)(100 + i);
    CHECK(gzwrite(gz, img, sizeof img) == (int)sizeof img);
    gzclose(gz);
    d = snn_dataset_open(sp, "test", 1, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(d->n == 2 && snn_dataset_image(d, 0)[0] == 104);
    snn_dataset_free(d);
    FILE *f = fopen(tpath("t10k-images-idx3-ubyte.gz"), "r+b");
    fseek(f, 12, SEEK_SET);
    fputc(0xff, f);
    fputc(0x00, f);
    fputc(0xff, f);
    fclose(f);
    CHECK(snn_dataset_open(sp, "test", 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_EFORMAT);
    CHECK_MSG(strstr(e.msg, "t10k-images-idx3-ubyte.gz"), "%s", e.msg);
    rm_tmp();
}

/* -------------------------------------------------------------- folder */

/* The pixel pattern of tools/mkpng_fixtures.c, which writes images/folder. */
static int pat(int x, int y, int c) { return (x * 37 + y * 11 + c * 80) & 255; }

TEST(dataset_folder_fixture)
{
    snn_error e;
    snn_dataset *d = snn_dataset_open(spec("folder", test_path("images/folder")), NULL,
                                      0, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    /* 0_cat/a.png (8x6 RGB), 0_cat/b.png (4x3 gray), 1_dog/c.png; notes.txt skipped. */
    CHECK_EQ_INT(d->n, 3);
    CHECK(d->width == 8 && d->height == 6 && d->channels == 3);
    CHECK(d->labels[0] == 0 && d->labels[1] == 0 && d->labels[2] == 1);
    CHECK(d->nclasses == 2 && !strcmp(d->class_names[0], "0_cat") &&
          !strcmp(d->class_names[1], "1_dog"));
    const uint8_t *a = snn_dataset_image(d, 0);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 8; x++)
            for (int c = 0; c < 3; c++) CHECK_EQ_INT(a[(y * 8 + x) * 3 + c], pat(x, y, c));
    /* b.png: gray 4x3 upscaled to 8x6, replicated to RGB. Corner pixel is the
     * source corner (clamped), pixel (1,0) sits at source x = 0.25. */
    const uint8_t *b = snn_dataset_image(d, 1);
    CHECK(b[0] == pat(0, 0, 0) && b[1] == b[0] && b[2] == b[0]);
    CHECK_NEAR(b[3], pat(0, 0, 0) * 0.75 + pat(1, 0, 0) * 0.25, 0.5 + 1e-6);
    snn_dataset_free(d);

    d = snn_dataset_open(spec("folder", test_path("images/folder")), NULL, 1, 1, &e);
    CHECK_MSG(d, "%s", e.msg);
    /* Window of the gray image only: all gray -> 1 channel at its own size. */
    CHECK(d->n == 1 && d->channels == 1 && d->width == 4 && d->height == 3 && d->labels[0] == 0);
    CHECK_EQ_INT(snn_dataset_image(d, 0)[5], pat(1, 1, 0));
    snn_dataset_free(d);

    d = snn_dataset_open(spec("folder", test_path("images/folder")), NULL, 2, 5, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(d->n == 1 && d->labels[0] == 1);
    snn_dataset_free(d);
}

TEST(dataset_folder_hostile)
{
    CHECK(mktmp());
    snn_error e;
    char sp[400];
    snprintf(sp, sizeof sp, "folder:%s", tmpdir);
    CHECK(snn_dataset_open(sp, NULL, 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EFORMAT && strstr(e.msg, "no class"), "%s", e.msg);
    CHECK_OK(mkdir(tpath("a"), 0755));
    CHECK(snn_dataset_open(sp, NULL, 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EFORMAT && strstr(e.msg, "no PNG"), "%s", e.msg);
    /* A file named .png that is not one: the error names it. */
    CHECK_OK(write_bytes(tpath("a/bad.png"), "hello", 5));
    CHECK(snn_dataset_open(sp, NULL, 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EFORMAT && strstr(e.msg, "a/bad.png"), "%s", e.msg);
    CHECK_OK(unlink(tpath("a/bad.png")));
    /* Two gray PNGs (encoded here): the dataset stays gray. */
    uint8_t px[6] = {10, 20, 30, 40, 50, 60};
    uint8_t *png;
    size_t len;
    CHECK_OK(snn_image_encode_png(px, 3, 2, 1, &png, &len, &e));
    CHECK_OK(write_bytes(tpath("a/1.PNG"), png, len));
    CHECK_OK(mkdir(tpath("b"), 0755));
    CHECK_OK(write_bytes(tpath("b/2.png"), png, len));
    free(png);
    snn_dataset *d = snn_dataset_open(sp, NULL, 0, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(d->n == 2 && d->channels == 1 && d->width == 3 && d->height == 2);
    CHECK(memcmp(snn_dataset_image(d, 1), px, 6) == 0 && d->labels[1] == 1);
    snn_dataset_free(d);

    /* Add an RGB JPEG of another size: everything becomes 3-channel 3x2,
     * the gray images replicated, the JPEG resized. */
    uint8_t rgb[6 * 4 * 3];
    for (int i = 0; i < 6 * 4; i++) {
        rgb[3 * i] = 200;
        rgb[3 * i + 1] = 100;
        rgb[3 * i + 2] = 50;
    }
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *jpg = NULL;
    unsigned long jlen = 0;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &jpg, &jlen);
    ci.image_width = 6;
    ci.image_height = 4;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = rgb + (size_t)ci.next_scanline * 6 * 3;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    CHECK_OK(write_bytes(tpath("b/3.jpeg"), jpg, jlen));
    free(jpg);
    d = snn_dataset_open(sp, NULL, 0, 0, &e);
    CHECK_MSG(d, "%s", e.msg);
    CHECK(d->n == 3 && d->channels == 3 && d->width == 3 && d->height == 2);
    const uint8_t *g = snn_dataset_image(d, 0), *j = snn_dataset_image(d, 2);
    CHECK(g[0] == 10 && g[1] == 10 && g[2] == 10 && g[15] == 60);
    CHECK(d->labels[2] == 1);
    CHECK_NEAR(j[0], 200, 4);
    CHECK_NEAR(j[1], 100, 4);
    CHECK_NEAR(j[2], 50, 4);
    snn_dataset_free(d);
    rm_tmp();
}

TEST(dataset_spec_errors)
{
    snn_error e;
    CHECK(snn_dataset_open("cifar10", NULL, 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_EINVALID);
    CHECK(snn_dataset_open("imagenet:/tmp", NULL, 0, 0, &e) == NULL);
    CHECK_MSG(e.code == SNN_EINVALID && strstr(e.msg, "imagenet"), "%s", e.msg);
    CHECK(snn_dataset_open("cifar10:/tmp", "val", 0, 0, &e) == NULL);
    CHECK_EQ_INT(e.code, SNN_EINVALID);
    CHECK(snn_dataset_open("folder:/tmp", NULL, -1, 0, &e) == NULL);
    CHECK(snn_dataset_open(NULL, NULL, 0, 0, NULL) == NULL);
    snn_dataset_free(NULL);
}
