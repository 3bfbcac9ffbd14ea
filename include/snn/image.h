/* image.h: decoding PNG and JPEG images from memory, with limits.
 *
 * DESIGN: images come from clients and files and are untrusted. The header
 * (width, height, channels) is read and checked against snn_image_limits
 * before any pixel buffer is allocated, so a small file that claims
 * 60000x60000 pixels is refused without allocating. Decoded images are 8-bit,
 * interleaved (height x width x channels), with 1 (gray) or 3 (RGB)
 * channels: palettes are expanded, 16-bit samples keep their high byte,
 * alpha is dropped (as PIL's convert("RGB")), interlaced PNGs are
 * de-interlaced, CMYK/YCCK JPEGs are converted to RGB (Adobe files are
 * taken as inverted CMYK). Corrupt or truncated data fails with
 * SNN_EFORMAT and the library's message; nothing is printed. Functions
 * here are reentrant.
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

/* Polled while an image decodes (every JPEG iMCU row and output row,
 * every PNG row): SNN_OK goes on, any other code stops the decode, which
 * then fails with that code (e.g. SNN_ETIMEOUT for a passed deadline,
 * SNN_ECANCELLED when the requester went away). Called on the decoding
 * thread; must be cheap (rate-limit anything costly inside). */
typedef snn_err (*snn_image_check_fn)(void *ud);

/* A NULL limits pointer, or a field <= 0 (NULL for check), means the
 * default. Exceeding a size limit is SNN_ETOOLARGE, the scan limit
 * SNN_ELIMIT. */
typedef struct snn_image_limits {
    int max_width;               /* default 4096 */
    int max_height;              /* default 4096 */
    int64_t max_pixels;          /* default 16 Mi */
    int max_scans;               /* JPEG scans (progressive files), default 64 */
    /* Working memory of the decoder besides the output pixels: libjpeg's
     * whole-image coefficient buffers of progressive and multi-scan JPEGs
     * (128 bytes per 8x8 block and component, refused from the header when
     * they would not fit, and libjpeg's own allocations fenced by it).
     * Default 6 x max_pixels + 8 MiB (a 4:4:4 three-component image of
     * max_pixels fits). */
    int64_t max_memory;
    snn_image_check_fn check;    /* NULL: never stopped */
    void *check_ud;
} snn_image_limits;

/* The most memory snn_image_decode holds at once for one image within
 * `lim` (NULL = defaults): 4 bytes per pixel of max_pixels (the widest
 * decoded form, RGBA or gray plus its RGB copy) plus max_memory, plus
 * PNG_ROW/zlib state under 1 MiB. The bound a caller multiplies by its
 * number of concurrent decodes. */
size_t snn_image_decode_peak_bytes(const snn_image_limits *lim);

typedef enum { SNN_IMAGE_UNKNOWN, SNN_IMAGE_PNG, SNN_IMAGE_JPEG } snn_image_format;

/* From the first bytes: the PNG signature or a JPEG SOI marker. */
snn_image_format snn_image_sniff(const void *buf, size_t len);

/* Decode PNG or JPEG (sniffed from the bytes). `want_channels` 0 keeps the
 * file's (gray stays 1, everything else becomes 3), 1 or 3 converts
 * (RGB -> gray by luma 0.299 R + 0.587 G + 0.114 B, gray -> RGB by copy).
 * _init/_deinit: fills caller's img, frees pixels with snn_image_deinit;
 * on failure img is zeroed and needs no deinit. snn_image_load reads a file
 * of at most 64 MiB and prefixes error messages with its path. */
snn_err snn_image_decode(snn_image *img, const void *buf, size_t len,
                         int want_channels, const snn_image_limits *lim,
                         snn_error *err);
snn_err snn_image_load(snn_image *img, const char *path, int want_channels,
                       const snn_image_limits *lim, snn_error *err);
void snn_image_deinit(snn_image *img);

/* Bilinear resize (align corners off, as OpenCV/PIL) into a new image:
 * destination pixel x samples source x' = (x + 0.5) * sw / dw - 0.5,
 * clamped to the edges (OpenCV INTER_LINEAR). 1..4 channels. dst is
 * filled (caller's storage), free with snn_image_deinit. */
snn_err snn_image_resize(const snn_image *src, int width, int height,
                         snn_image *dst, snn_error *err);

/* Encode 8-bit pixels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA channels) as
 * PNG into a new buffer (caller frees with free()). Deterministic. */
snn_err snn_image_encode_png(const uint8_t *pixels, int width, int height,
                             int channels, uint8_t **out, size_t *outlen,
                             snn_error *err);

#endif
