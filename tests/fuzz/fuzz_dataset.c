/* fuzz_dataset.c: the dataset readers (snn_dataset_open: CIFAR-10 binary,
 * IDX as Fashion-MNIST ships it, a folder of class subfolders of images),
 * over files written from the input into a private temporary folder.
 *
 * Input: a header line "KIND OFFSET LIMIT" (KIND cifar10, fashion-mnist or
 * folder; bit 0 of LIMIT selects the train split, LIMIT / 2 is the image
 * limit passed to the reader), then files separated by lines "=====NAME" (NAME of
 * [A-Za-z0-9._-] only, at most one '/' for folder datasets:
 * "class/image.png"; at most 16 files, 64 KiB each). Example:
 *
 *   cifar10 0 0
 *   =====test_batch.bin
 *   <3073-byte records>
 *   =====batches.meta.txt
 *   airplane...
 *
 * A dataset that opens must be what it says: n images of width x height x
 * channels within the reader's bounds, labels below nclasses, every pixel
 * readable. */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "snn/dataset.h"

static char root[96];

static void clean_dir(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[512];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && depth < 2) {
            clean_dir(p, depth + 1);
            rmdir(p);
        } else {
            unlink(p);
        }
    }
    if (d) closedir(d);
}

static void cleanup(void)
{
    clean_dir(root, 0);
    rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "%s/snn-fuzz-dataset-%d",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    if (mkdir(root, 0700) != 0) {
        cleanup();
        if (mkdir(root, 0700) != 0) abort();
    }
    atexit(cleanup);
    return 0;
}

/* A safe relative file name: [A-Za-z0-9._-] parts, not "." or "..", at
 * most `slashes` '/'. */
static int name_ok(const char *s, int slashes)
{
    int n = 0;
    if (!*s || *s == '/' || *s == '.') return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '/') {
            if (n++ >= slashes || p[1] == '.' || p[1] == '\0') return 0;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return strlen(s) < 64;
}

static void write_file(const char *name, const uint8_t *data, size_t len, int folder)
{
    char path[256];
    if (!name_ok(name, folder ? 1 : 0) || len > 65536) return;
    const char *slash = strchr(name, '/');
    if (slash) {
        snprintf(path, sizeof path, "%s/%.*s", root, (int)(slash - name), name);
        mkdir(path, 0700);
    }
    snprintf(path, sizeof path, "%s/%s", root, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n=====";
    const uint8_t *end = data + size;
    const uint8_t *nl = memchr(data, '\n', size);
    char head[64], kind[16];
    int offset = 0, limit = 0;
    if (!nl || nl - data >= (long)sizeof head) return 0;
    memcpy(head, data, (size_t)(nl - data));
    head[nl - data] = '\0';
    if (sscanf(head, "%15s %d %d", kind, &offset, &limit) < 1) return 0;
    int folder = !strcmp(kind, "folder");
    clean_dir(root, 0);
    /* files: "=====NAME\n" then the bytes up to the next "\n=====" */
    const uint8_t *p = nl;
    for (int nfiles = 0; nfiles < 16 && end - p >= 6 && !memcmp(p, sep, 6); nfiles++) {
        const uint8_t *name = p + 6, *eol = memchr(name, '\n', (size_t)(end - name));
        if (!eol || eol - name >= 64) break;
        char fname[64];
        memcpy(fname, name, (size_t)(eol - name));
        fname[eol - name] = '\0';
        const uint8_t *body = eol + 1, *next = body;
        while (next < end && !(end - next >= 6 && !memcmp(next, sep, 6))) next++;
        write_file(fname, body, (size_t)(next - body), folder);
        p = next;
    }
    char spec[160];
    snn_error err;
    snprintf(spec, sizeof spec, "%s:%s", kind, root);
    snn_dataset *d = snn_dataset_open(spec, (limit & 1) ? "train" : "test", offset, limit / 2, &err);
    if (d) {
        if (d->n < 1 || d->width < 1 || d->height < 1 || d->width > 4096 || d->height > 4096 ||
            (d->channels != 1 && d->channels != 3) || d->nclasses < 1 || d->nclasses > 256)
            abort();
        if (limit / 2 > 0 && d->n > limit / 2) abort();
        unsigned sum = 0;
        size_t npx = (size_t)d->n * d->width * d->height * d->channels;
        for (size_t i = 0; i < npx; i++) sum += d->pixels[i];
        for (int i = 0; i < d->n; i++)
            if (d->labels[i] >= d->nclasses) abort();
        for (int c = 0; c < d->nclasses && d->class_names; c++)
            if (d->class_names[c]) sum += (unsigned)strlen(d->class_names[c]);
        __asm__ volatile("" : : "r"(sum));
        snn_dataset_free(d);
    }
    return 0;
}
