/* web-samples.c: write the page's sample images (web/samples/) from the
 * test splits of the datasets, a few per dataset, as small PNGs.
 *
 *   cc -Iinclude tools/web-samples.c build/libsnn.a $(libs) -o build/web-samples
 *   build/web-samples OUTDIR SPEC [SPEC...]    SPEC = NAME=FORMAT:DIR
 *   e.g. build/web-samples web/samples fashion-mnist=fashion-mnist:/usr/share/datasets/fashion-mnist
 *
 * For each dataset it takes the first image of each of the first
 * SAMPLES_PER_SET classes in test-split order (so every sample shows a
 * different class) and writes NAME-K.png plus one line of
 * OUTDIR/index.json: {"file","dataset","label","width","height","channels"}.
 * Deterministic: the same dataset gives byte-identical files. Run by
 * tools/embed-web.sh --samples; the results are committed (a handful of
 * images, never a dataset in bulk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snn/dataset.h"
#include "snn/error.h"
#include "snn/image.h"

#define SAMPLES_PER_SET 4

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: web-samples OUTDIR NAME=FORMAT:DIR...\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/index.json", argv[1]);
    FILE *idx = fopen(path, "w");
    if (!idx) {
        perror(path);
        return 1;
    }
    fprintf(idx, "[\n");
    int first = 1;
    for (int a = 2; a < argc; a++) {
        char name[64];
        const char *eq = strchr(argv[a], '=');
        if (!eq || eq == argv[a] || (size_t)(eq - argv[a]) >= sizeof name) {
            fprintf(stderr, "web-samples: bad spec '%s'\n", argv[a]);
            return 2;
        }
        memcpy(name, argv[a], (size_t)(eq - argv[a]));
        name[eq - argv[a]] = '\0';
        snn_error err;
        snn_error_clear(&err);
        snn_dataset *d = snn_dataset_open(eq + 1, "test", 0, 200, &err);
        if (!d) {
            fprintf(stderr, "web-samples: %s: %s\n", eq + 1, err.msg);
            return 1;
        }
        int seen[256] = {0}, k = 0;
        for (int i = 0; i < d->n && k < SAMPLES_PER_SET; i++) {
            int lab = d->labels[i];
            if (seen[lab]) continue;
            seen[lab] = 1;
            uint8_t *png;
            size_t len;
            if (snn_image_encode_png(snn_dataset_image(d, i), d->width, d->height, d->channels, &png,
                                     &len, &err) != SNN_OK) {
                fprintf(stderr, "web-samples: %s\n", err.msg);
                return 1;
            }
            snprintf(path, sizeof path, "%s/%s-%d.png", argv[1], name, k);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(png, 1, len, f) != len || fclose(f) != 0) {
                perror(path);
                return 1;
            }
            free(png);
            const char *label = d->class_names && d->class_names[lab] ? d->class_names[lab] : "";
            fprintf(idx, "%s  {\"file\": \"%s-%d.png\", \"dataset\": \"%s\", \"class\": %d, \"label\": \"%s\", "
                    "\"width\": %d, \"height\": %d, \"channels\": %d}",
                    first ? "" : ",\n", name, k, name, lab, label, d->width, d->height, d->channels);
            first = 0;
            k++;
        }
        snn_dataset_free(d);
    }
    fprintf(idx, "\n]\n");
    return fclose(idx) != 0;
}
