/* replay.c: main() for the libFuzzer targets of tests/fuzz/ built with the
 * normal compiler (no libFuzzer, no clang), so that `make test` replays
 * their seed corpora and regression inputs in the plain and the sanitizer
 * builds alike (tests/fuzz/replay.sh; `make fuzz` does the fuzzing).
 *
 *   build/replay/fuzz_onnx tests/fuzz/corpus/fuzz_onnx tests/regress/fuzz_onnx
 *
 * Each argument is a file or a folder (its regular files, sorted by name);
 * LLVMFuzzerInitialize runs first when the target has one, then
 * LLVMFuzzerTestOneInput once per input, from a buffer of exactly the
 * input's size (as libFuzzer passes it, so that overreads are caught by
 * the sanitizers). A target reports a bug by crashing or aborting; the
 * driver prints the input it was on first, so the failing file is named.
 * Exit 0 with "N inputs" when every input ran. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || n < 0 || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    fprintf(stderr, "replay: %s\n", path);   /* named before a crash */
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs a file, or a folder's regular files in name order. Returns the
 * number of inputs run, -1 on an unreadable one. */
static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return 0;   /* a target without regressions */
    if (!S_ISDIR(st.st_mode)) return run_file(path) == 0 ? 1 : -1;
    DIR *d = opendir(path);
    if (!d) return -1;
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) abort();
            names = p;
        }
        names[nn] = strdup(e->d_name);
        if (!names[nn++]) abort();
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_name);
    int count = 0;
    for (size_t i = 0; i < nn; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(full) != 0) count = -1;
            else if (count >= 0) count++;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0;
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        int n = run_path(argv[i]);
        if (n < 0) return 1;
        total += n;
    }
    printf("%d inputs\n", total);
    return 0;
}
