/* dataset.h: labelled image datasets for evaluation and calibration.
 *
 * DESIGN: a dataset is fully loaded into memory as 8-bit interleaved
 * pixels (n x height x width x channels) plus labels; all readers check
 * sizes and magic numbers before allocating. Specs name the format:
 *   cifar10:DIR         the CIFAR-10 binary version (data_batch_1..5.bin,
 *                       test_batch.bin, batches.meta.txt)
 *   fashion-mnist:DIR   IDX files, gzip or plain ({train,t10k}-images-idx3-ubyte[.gz])
 *   folder:DIR          one subfolder of PNG/JPEG files per class (sorted names)
 * Splits: "train" or "test", NULL = "test" (a folder dataset has one split
 * and ignores it).
 *
 * Reading: only the selected window is read (CIFAR records by seeking, IDX
 * by gzseek). CIFAR files must be whole 3073-byte records (label byte, then
 * the 1024-byte R, G and B planes, converted to interleaved HWC); class
 * names come from batches.meta.txt (the standard ten when it is missing).
 * IDX headers are checked (magic 2051/2049, matching counts, sides
 * 1..4096). Labels must be below 10 for both. A folder dataset's classes
 * are its subfolders sorted by name (label order, at most 256), its images
 * the .png/.jpg/.jpeg files in each, sorted by name; every image is resized
 * bilinearly to the first image's size, and the dataset is gray only when
 * every image is gray, else RGB. Errors name the offending file.
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

/* Open `spec` (see above). `offset` skips that many images (an offset at
 * or past the end is SNN_EINVALID), `limit` > 0 caps the count, 0 reads to
 * the end. new, caller frees with snn_dataset_free. */
snn_dataset *snn_dataset_open(const char *spec, const char *split, int offset,
                              int limit, snn_error *err);
void snn_dataset_free(snn_dataset *d);              /* NULL is a no-op */

static inline const uint8_t *snn_dataset_image(const snn_dataset *d, int i)
{
    return d->pixels + (size_t)i * d->width * d->height * d->channels;
}

#endif
