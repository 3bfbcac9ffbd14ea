/* dataset.h: labelled image datasets for evaluation and calibration.
 *
 * DESIGN: a dataset is fully loaded into memory as 8-bit interleaved
 * pixels (n x height x width x channels) plus labels; all readers check
 * sizes and magic numbers before allocating. Specs name the format:
 *   cifar10:DIR         the CIFAR-10 binary version (data_batch_1..5.bin,
 *                       test_batch.bin, batches.meta.txt)
 *   fashion-mnist:DIR   IDX files, gzip or plain ({train,t10k}-images-idx3-ubyte[.gz])
 *   folder:DIR          one subfolder of PNG/JPEG files per class (sorted names)
 * Splits: "train" or "test" (a folder dataset has one split and ignores it).
 */
#ifndef SNN_DATASET_H
#define SNN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "snn/error.h"

typedef struct snn_dataset {
    int n;                       /* images */
    int width, height, channels;
    uint8_t *pixels;             /* n x height x width x channels (equal sizes) */
    uint8_t *labels;             /* n */
    int nclasses;
    char **class_names;          /* nclasses, may be NULL for unknown names */
} snn_dataset;

/* Open `spec` (see above). `offset` skips that many images, `limit` > 0 caps
 * the count. new, caller frees with snn_dataset_free. */
snn_dataset *snn_dataset_open(const char *spec, const char *split, int offset,
                              int limit, snn_error *err);
void snn_dataset_free(snn_dataset *d);

static inline const uint8_t *snn_dataset_image(const snn_dataset *d, int i)
{
    return d->pixels + (size_t)i * d->width * d->height * d->channels;
}

#endif
