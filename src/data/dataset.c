/* dataset.c: readers for the labelled image datasets of snn/dataset.h
 * (CIFAR-10 binary, Fashion-MNIST IDX, a folder of class subfolders).
 *
 * DESIGN: every reader first learns how many images the files hold from
 * sizes and headers (CIFAR: file sizes, a multiple of the 3073-byte record;
 * IDX: the header counts), validates them, turns (offset, limit) into a
 * window, and then reads only that window: CIFAR records are reached by
 * seeking, IDX by gzseek() (a real seek on plain files, a forward skip on
 * gzip). Buffers for IDX data grow with the bytes actually read, so a
 * header claiming billions of images costs nothing before the data is
 * there. Errors name the file and what was wrong with it.
 */
#include "snn/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#include "snn/image.h"

#define CIFAR_SIDE 32
#define CIFAR_PLANE (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + 3 * CIFAR_PLANE)  /* label + R, G, B planes */
#define CIFAR_CHUNK 256                     /* records per read */
#define IDX_MAGIC_IMAGES 2051
#define IDX_MAGIC_LABELS 2049
#define IDX_MAX_SIDE 4096
#define IDX_READ_CHUNK (4u << 20)
#define FOLDER_MAX_CLASSES 256              /* labels are bytes */

static const char *const cifar10_names[10] = {
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck"};
static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/* ------------------------------------------------------------- helpers */

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* The images [*first, *first + *count) selected by offset and limit. */
static snn_err window(int64_t total, int offset, int limit, const char *what,
                      int *first, int *count, snn_error *err)
{
    if (offset < 0)
        return snn_error_set(err, SNN_EINVALID, "dataset: negative offset %d", offset);
    if (total > INT_MAX)
        return snn_error_set(err, SNN_ELIMIT, "%s: %lld images is more than supported",
                             what, (long long)total);
    if (offset >= total)
        return snn_error_set(err, SNN_EINVALID, "%s: offset %d is beyond its %lld images",
                             what, offset, (long long)total);
    int64_t n = total - offset;
    if (limit > 0 && limit < n) n = limit;
    *first = offset;
    *count = (int)n;
    return SNN_OK;
}

static snn_err set_names(snn_dataset *d, const char *const *names, int n,
                         snn_error *err)
{
    d->class_names = calloc((size_t)n, sizeof *d->class_names);
    if (!d->class_names) return snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
    d->nclasses = n;
    for (int i = 0; i < n; i++)
        if (!(d->class_names[i] = strdup(names[i])))
            return snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
    return SNN_OK;
}

void snn_dataset_free(snn_dataset *d)
{
    if (!d) return;
    if (d->class_names)
        for (int i = 0; i < d->nclasses; i++) free(d->class_names[i]);
    free(d->class_names);
    free(d->pixels);
    free(d->labels);
    free(d);
}

/* ------------------------------------------------------------- CIFAR-10 */

/* batches.meta.txt: one class name per line, blank lines ignored; exactly
 * 10 names. Missing file: the standard names. */
static snn_err cifar_names(snn_dataset *d, const char *dir, snn_error *err)
{
    char *path = path_join(dir, "batches.meta.txt");
    if (!path) return snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
    FILE *f = fopen(path, "r");
    if (!f) {
        free(path);
        return set_names(d, cifar10_names, 10, err);
    }
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    int big = !feof(f);
    fclose(f);
    text[n] = '\0';
    const char *names[10];
    int count = 0;
    snn_err rc = SNN_OK;
    if (big) {
        rc = snn_error_set(err, SNN_EFORMAT, "%s: larger than %zu bytes", path,
                           sizeof text - 1);
    } else {
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            size_t l = strlen(line);
            while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
                line[--l] = '\0';
            while (*line == ' ' || *line == '\t') line++;
            if (!*line) continue;
            if (count == 10) {
                count++;
                break;
            }
            names[count++] = line;
        }
        if (count != 10)
            rc = snn_error_set(err, SNN_EFORMAT, "%s: expected 10 class names, found %s%d",
                               path, count > 10 ? "more than " : "",
                               count > 10 ? 10 : count);
    }
    free(path);
    return rc == SNN_OK ? set_names(d, names, 10, err) : rc;
}

static snn_err cifar_read(snn_dataset *d, const char *path, int64_t first,
                          int n, int out, snn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return snn_error_set(err, SNN_EIO, "%s: %s", path, strerror(errno));
    uint8_t *buf = malloc((size_t)CIFAR_CHUNK * CIFAR_RECORD);
    if (!buf) {
        fclose(f);
        return snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
    }
    snn_err rc = SNN_OK;
    if (fseeko(f, (off_t)first * CIFAR_RECORD, SEEK_SET) != 0)
        rc = snn_error_set(err, SNN_EIO, "%s: seek to record %lld: %s", path,
                           (long long)first, strerror(errno));
    for (int done = 0; rc == SNN_OK && done < n;) {
        int k = n - done < CIFAR_CHUNK ? n - done : CIFAR_CHUNK;
        if (fread(buf, CIFAR_RECORD, (size_t)k, f) != (size_t)k) {
            rc = snn_error_set(err, SNN_EIO, "%s: short read at record %lld", path,
                               (long long)(first + done));
            break;
        }
        for (int r = 0; r < k; r++) {
            const uint8_t *rec = buf + (size_t)r * CIFAR_RECORD;
            if (rec[0] > 9) {
                rc = snn_error_set(err, SNN_EFORMAT, "%s: record %lld has label %d (> 9)",
                                   path, (long long)(first + done + r), rec[0]);
                break;
            }
            d->labels[out + done + r] = rec[0];
            uint8_t *px = d->pixels + (size_t)(out + done + r) * CIFAR_PLANE * 3;
            for (int i = 0; i < CIFAR_PLANE; i++) {    /* planar -> HWC */
                px[3 * i] = rec[1 + i];
                px[3 * i + 1] = rec[1 + CIFAR_PLANE + i];
                px[3 * i + 2] = rec[1 + 2 * CIFAR_PLANE + i];
            }
        }
        done += k;
    }
    free(buf);
    fclose(f);
    return rc;
}

static snn_err cifar_open(snn_dataset *d, const char *dir, int train, int offset,
                          int limit, snn_error *err)
{
    static const char *const train_files[] = {"data_batch_1.bin", "data_batch_2.bin",
                                              "data_batch_3.bin", "data_batch_4.bin",
                                              "data_batch_5.bin"};
    static const char *const test_files[] = {"test_batch.bin"};
    const char *const *files = train ? train_files : test_files;
    int nfiles = train ? 5 : 1;
    char *paths[5] = {0};
    int64_t nrec[5], total = 0;
    snn_err rc = SNN_OK;

    for (int i = 0; i < nfiles && rc == SNN_OK; i++) {
        struct stat st;
        if (!(paths[i] = path_join(dir, files[i]))) {
            rc = snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
        } else if (stat(paths[i], &st) != 0) {
            rc = snn_error_set(err, errno == ENOENT ? SNN_ENOTFOUND : SNN_EIO, "%s: %s",
                               paths[i], strerror(errno));
        } else if (!S_ISREG(st.st_mode) || st.st_size == 0 ||
                   st.st_size % CIFAR_RECORD != 0) {
            rc = snn_error_set(err, SNN_EFORMAT,
                               "%s: size %lld is not a positive multiple of the "
                               "%d-byte CIFAR-10 record",
                               paths[i], (long long)st.st_size, CIFAR_RECORD);
        } else {
            nrec[i] = st.st_size / CIFAR_RECORD;
            total += nrec[i];
        }
    }
    int first = 0, count = 0;
    if (rc == SNN_OK) rc = window(total, offset, limit, dir, &first, &count, err);
    if (rc == SNN_OK) {
        d->n = count;
        d->width = d->height = CIFAR_SIDE;
        d->channels = 3;
        d->pixels = malloc((size_t)count * CIFAR_PLANE * 3);
        d->labels = malloc((size_t)count);
        if (!d->pixels || !d->labels)
            rc = snn_error_set(err, SNN_ENOMEM, "%s: out of memory for %d images", dir,
                               count);
    }
    /* Walk the files, reading the part of the window each one holds. */
    int64_t file_start = 0, pos = first;
    int out = 0;
    for (int i = 0; i < nfiles && rc == SNN_OK && out < count; i++) {
        if (pos < file_start + nrec[i]) {
            int64_t in_file = pos - file_start;
            int64_t k = file_start + nrec[i] - pos;
            if (k > count - out) k = count - out;
            rc = cifar_read(d, paths[i], in_file, (int)k, out, err);
            out += (int)k;
            pos += k;
        }
        file_start += nrec[i];
    }
    for (int i = 0; i < nfiles; i++) free(paths[i]);
    if (rc == SNN_OK) rc = cifar_names(d, dir, err);
    return rc;
}

/* ------------------------------------------------------- Fashion-MNIST */

typedef struct idx_file {
    gzFile gz;
    char *path;
    int hdr;                    /* header bytes: 4 + 4 * ndims */
    int64_t dims[3];
} idx_file;

static void idx_close(idx_file *f)
{
    if (f->gz) gzclose(f->gz);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static const char *gz_msg(gzFile gz)
{
    int code;
    const char *m = gzerror(gz, &code);
    return code != Z_OK && m && *m ? m : "unexpected end of file";
}

/* Open DIR/base.gz, else DIR/base (gzread reads plain files as they are),
 * and read the header: magic, then ndims big-endian 32-bit sizes. */
static snn_err idx_open(idx_file *f, const char *dir, const char *base,
                        uint32_t magic, int ndims, snn_error *err)
{
    char name[128];
    memset(f, 0, sizeof *f);
    snprintf(name, sizeof name, "%s.gz", base);
    for (int attempt = 0; attempt < 2 && !f->gz; attempt++) {
        free(f->path);
        if (!(f->path = path_join(dir, attempt ? base : name)))
            return snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
        f->gz = gzopen(f->path, "rb");
    }
    if (!f->gz) {
        snn_err rc = snn_error_set(err, errno == ENOENT ? SNN_ENOTFOUND : SNN_EIO,
                                   "%s/%s[.gz]: %s", dir, base, strerror(errno));
        idx_close(f);
        return rc;
    }
    gzbuffer(f->gz, 1u << 17);
    uint8_t h[16];
    int want = 4 + 4 * ndims;
    f->hdr = want;
    if (gzread(f->gz, h, (unsigned)want) != want)
        return snn_error_set(err, SNN_EFORMAT, "%s: truncated IDX header (%s)", f->path,
                             gz_msg(f->gz));
    uint32_t m = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (m != magic)
        return snn_error_set(err, SNN_EFORMAT,
                             "%s: bad IDX magic %u (expected %u)", f->path, m, magic);
    for (int i = 0; i < ndims; i++) {
        const uint8_t *p = h + 4 + 4 * i;
        f->dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                               (uint32_t)p[2] << 8 | p[3]);
    }
    return SNN_OK;
}

/* Skip to byte `pos` of the data, then read `n` bytes into a buffer that
 * grows with what actually arrives. */
static snn_err idx_read(idx_file *f, int64_t pos, size_t n, uint8_t **out,
                        snn_error *err)
{
    int64_t target = f->hdr + pos;
    if (pos > 0 && gzseek(f->gz, (z_off_t)target, SEEK_SET) != (z_off_t)target)
        return snn_error_set(err, SNN_EFORMAT, "%s: cannot seek to byte %lld (%s)",
                             f->path, (long long)target, gz_msg(f->gz));
    uint8_t *buf = NULL;
    size_t got = 0, cap = 0;
    while (got < n) {
        size_t k = n - got < IDX_READ_CHUNK ? n - got : IDX_READ_CHUNK;
        if (got + k > cap) {
            size_t ncap = cap ? cap * 2 : IDX_READ_CHUNK;
            if (ncap < got + k) ncap = got + k;
            if (ncap > n) ncap = n;
            uint8_t *p = realloc(buf, ncap);
            if (!p) {
                free(buf);
                return snn_error_set(err, SNN_ENOMEM, "%s: out of memory", f->path);
            }
            buf = p;
            cap = ncap;
        }
        int r = gzread(f->gz, buf + got, (unsigned)k);
        if (r <= 0) {
            snn_err rc = snn_error_set(err, SNN_EFORMAT,
                                       "%s: truncated: %zu of %zu bytes read (%s)",
                                       f->path, got, n, gz_msg(f->gz));
            free(buf);
            return rc;
        }
        got += (size_t)r;
    }
    *out = buf;
    return SNN_OK;
}

static snn_err fashion_open(snn_dataset *d, const char *dir, int train, int offset,
                            int limit, snn_error *err)
{
    const char *pre = train ? "train" : "t10k";
    char ibase[64], lbase[64];
    snprintf(ibase, sizeof ibase, "%s-images-idx3-ubyte", pre);
    snprintf(lbase, sizeof lbase, "%s-labels-idx1-ubyte", pre);
    idx_file fi, fl;
    memset(&fl, 0, sizeof fl);
    snn_err rc = idx_open(&fi, dir, ibase, IDX_MAGIC_IMAGES, 3, err);
    if (rc == SNN_OK) rc = idx_open(&fl, dir, lbase, IDX_MAGIC_LABELS, 1, err);
    int64_t n = fi.dims[0], rows = fi.dims[1], cols = fi.dims[2];
    if (rc == SNN_OK && (rows < 1 || cols < 1 || rows > IDX_MAX_SIDE || cols > IDX_MAX_SIDE))
        rc = snn_error_set(err, SNN_EFORMAT, "%s: implausible image size %lldx%lld",
                           fi.path, (long long)cols, (long long)rows);
    if (rc == SNN_OK && fl.dims[0] != n)
        rc = snn_error_set(err, SNN_EFORMAT, "%s holds %lld labels but %s holds %lld images",
                           fl.path, (long long)fl.dims[0], fi.path, (long long)n);
    int first = 0, count = 0;
    if (rc == SNN_OK) rc = window(n, offset, limit, fi.path, &first, &count, err);
    if (rc == SNN_OK) {
        size_t isz = (size_t)rows * (size_t)cols;
        d->n = count;
        d->width = (int)cols;
        d->height = (int)rows;
        d->channels = 1;
        rc = idx_read(&fl, first, (size_t)count, &d->labels, err);
        if (rc == SNN_OK) rc = idx_read(&fi, (int64_t)first * (int64_t)isz,
                                        (size_t)count * isz, &d->pixels, err);
    }
    for (int i = 0; rc == SNN_OK && i < count; i++)
        if (d->labels[i] > 9)
            rc = snn_error_set(err, SNN_EFORMAT, "%s: label %d of image %d is not 0..9",
                               fl.path, d->labels[i], first + i);
    idx_close(&fi);
    idx_close(&fl);
    if (rc == SNN_OK) rc = set_names(d, fashion_names, 10, err);
    return rc;
}

/* -------------------------------------------------------------- folder */

typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int names_push(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *s)
{
    const char *dot = strrchr(s, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                   !strcasecmp(dot, ".jpeg"));
}

/* Sorted entries of dir: subdirectories (want_dirs) or image files. */
static snn_err list_dir(const char *dir, int want_dirs, name_list *out, snn_error *err)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return snn_error_set(err, errno == ENOENT ? SNN_ENOTFOUND : SNN_EIO, "%s: %s", dir,
                             strerror(errno));
    struct dirent *de;
    snn_err rc = SNN_OK;
    while (rc == SNN_OK && (de = readdir(dp))) {
        if (de->d_name[0] == '.') continue;
        if (!want_dirs && !is_image_name(de->d_name)) continue;
        char *p = path_join(dir, de->d_name);
        struct stat st;
        if (!p) {
            rc = snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
            break;
        }
        int ok = stat(p, &st) == 0 && (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
        free(p);
        if (ok && names_push(out, de->d_name) != 0)
            rc = snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
    }
    closedir(dp);
    if (rc == SNN_OK && out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return rc;
}

static snn_err folder_open(snn_dataset *d, const char *dir, int offset, int limit,
                           snn_error *err)
{
    name_list classes = {0}, files = {0};
    uint8_t *labels = NULL;
    snn_err rc = list_dir(dir, 1, &classes, err);
    if (rc == SNN_OK && classes.n == 0)
        rc = snn_error_set(err, SNN_EFORMAT, "%s: no class subfolders", dir);
    if (rc == SNN_OK && classes.n > FOLDER_MAX_CLASSES)
        rc = snn_error_set(err, SNN_ELIMIT, "%s: %d class folders, at most %d", dir,
                           classes.n, FOLDER_MAX_CLASSES);
    /* All image paths, in label order then name order. */
    for (int c = 0; rc == SNN_OK && c < classes.n; c++) {
        char *cdir = path_join(dir, classes.v[c]);
        name_list here = {0};
        if (!cdir) {
            rc = snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
            break;
        }
        rc = list_dir(cdir, 0, &here, err);
        if (rc == SNN_OK && files.n + here.n > files.n) {
            uint8_t *l = realloc(labels, (size_t)files.n + here.n);
            if (!l) rc = snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
            else labels = l;
        }
        for (int i = 0; rc == SNN_OK && i < here.n; i++) {
            char *p = path_join(cdir, here.v[i]);
            if (!p || names_push(&files, p) != 0)
                rc = snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
            else labels[files.n - 1] = (uint8_t)c;
            free(p);
        }
        names_free(&here);
        free(cdir);
    }
    if (rc == SNN_OK && files.n == 0)
        rc = snn_error_set(err, SNN_EFORMAT, "%s: no PNG or JPEG files in its %d class folders",
                           dir, classes.n);
    int first = 0, count = 0;
    if (rc == SNN_OK) rc = window(files.n, offset, limit, dir, &first, &count, err);

    /* Decode; everything is stored as RGB at the first image's size, then
     * compacted to gray when every image was gray. */
    int all_gray = 1;
    size_t isz = 0;
    for (int i = 0; rc == SNN_OK && i < count; i++) {
        snn_image im;
        const char *path = files.v[first + i];
        rc = snn_image_load(&im, path, 0, NULL, err);
        if (rc != SNN_OK) break;
        if (i == 0) {
            d->width = im.width;
            d->height = im.height;
            isz = (size_t)im.width * im.height;
            d->pixels = malloc(isz * 3 * (size_t)count);
            d->labels = malloc((size_t)count);
            if (!d->pixels || !d->labels) {
                rc = snn_error_set(err, SNN_ENOMEM, "%s: out of memory for %d images of %dx%d",
                                   dir, count, im.width, im.height);
                snn_image_deinit(&im);
                break;
            }
        }
        if (im.width != d->width || im.height != d->height) {
            snn_image r;
            rc = snn_image_resize(&im, d->width, d->height, &r, err);
            snn_image_deinit(&im);
            if (rc != SNN_OK) break;
            im = r;
        }
        uint8_t *dst = d->pixels + (size_t)i * isz * 3;
        if (im.channels == 1) {
            for (size_t k = 0; k < isz; k++) dst[3 * k] = dst[3 * k + 1] = dst[3 * k + 2] = im.pixels[k];
        } else {
            memcpy(dst, im.pixels, isz * 3);
            all_gray = 0;
        }
        d->labels[i] = labels[first + i];
        snn_image_deinit(&im);
    }
    if (rc == SNN_OK) {
        d->n = count;
        d->channels = 3;
        if (all_gray) {
            for (size_t k = 0; k < isz * (size_t)count; k++) d->pixels[k] = d->pixels[3 * k];
            uint8_t *p = realloc(d->pixels, isz * (size_t)count);
            if (p) d->pixels = p;
            d->channels = 1;
        }
        rc = set_names(d, (const char *const *)classes.v, classes.n, err);
    }
    free(labels);
    names_free(&files);
    names_free(&classes);
    return rc;
}

/* ---------------------------------------------------------------- open */

snn_dataset *snn_dataset_open(const char *spec, const char *split, int offset,
                              int limit, snn_error *err)
{
    const char *colon = spec ? strchr(spec, ':') : NULL;
    if (!colon || !colon[1]) {
        snn_error_set(err, SNN_EINVALID,
                      "dataset spec '%s' is not FORMAT:DIR (formats: cifar10, "
                      "fashion-mnist, folder)", spec ? spec : "(null)");
        return NULL;
    }
    if (offset < 0) {
        snn_error_set(err, SNN_EINVALID, "dataset: negative offset %d", offset);
        return NULL;
    }
    int train;
    if (!split || !strcmp(split, "test")) {
        train = 0;
    } else if (!strcmp(split, "train")) {
        train = 1;
    } else {
        snn_error_set(err, SNN_EINVALID, "dataset split '%s' is not train or test", split);
        return NULL;
    }
    size_t klen = (size_t)(colon - spec);
    const char *dir = colon + 1;
    snn_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        snn_error_set(err, SNN_ENOMEM, "dataset: out of memory");
        return NULL;
    }
    snn_err rc;
    if (klen == 7 && !strncmp(spec, "cifar10", 7)) {
        rc = cifar_open(d, dir, train, offset, limit, err);
    } else if (klen == 13 && !strncmp(spec, "fashion-mnist", 13)) {
        rc = fashion_open(d, dir, train, offset, limit, err);
    } else if (klen == 6 && !strncmp(spec, "folder", 6)) {
        rc = folder_open(d, dir, offset, limit, err);
    } else {
        rc = snn_error_set(err, SNN_EINVALID,
                           "unknown dataset format '%.*s' (cifar10, fashion-mnist, folder)",
                           (int)klen, spec);
    }
    if (rc != SNN_OK) {
        snn_dataset_free(d);
        return NULL;
    }
    return d;
}
