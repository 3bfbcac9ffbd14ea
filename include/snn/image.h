/* image.h: decoding PNG and JPEG images from memory, with limits.
 *
 * DESIGN: images come from clients and files and are untrusted. The header
 * (width, height, channels) is read and checked against snn_image_limits
 * before any pixel buffer is allocated, so a small file that claims
 * 60000x60000 pixels is refused without allocating. Decoded images are 8-bit,
 * interleaved (height x width x channels), with 1 (gray) or 3 (RGB)
 * channels: palettes, 16-bit samples and alpha are converted.
 */
#ifndef SNN_IMAGE_H
#define SNN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "snn/error.h"

typedef struct snn_image {
    int width, height, channels;
    uint8_t *pixels;             /* height x width x channels */
} snn_image;

typedef struct snn_image_limits {
    int max_width;               /* default 4096 */
    int max_height;              /* default 4096 */
    int64_t max_pixels;          /* default 16 Mi */
} snn_image_limits;

typedef enum { SNN_IMAGE_UNKNOWN, SNN_IMAGE_PNG, SNN_IMAGE_JPEG } snn_image_format;

snn_image_format snn_image_sniff(const void *buf, size_t len);

/* Decode PNG or JPEG (sniffed from the bytes). `want_channels` 0 keeps the
 * file's (gray stays 1, everything else becomes 3), 1 or 3 converts.
 * _init/_deinit: fills caller's img, frees pixels with snn_image_deinit. */
snn_err snn_image_decode(snn_image *img, const void *buf, size_t len,
                         int want_channels, const snn_image_limits *lim,
                         snn_error *err);
snn_err snn_image_load(snn_image *img, const char *path, int want_channels,
                       const snn_image_limits *lim, snn_error *err);
void snn_image_deinit(snn_image *img);

/* Bilinear resize (align corners off, as OpenCV/PIL) into a new image. */
snn_err snn_image_resize(const snn_image *src, int width, int height,
                         snn_image *dst, snn_error *err);

/* Encode 8-bit pixels as PNG into a new buffer (caller frees with free()). */
snn_err snn_image_encode_png(const uint8_t *pixels, int width, int height,
                             int channels, uint8_t **out, size_t *outlen,
                             snn_error *err);

#endif
