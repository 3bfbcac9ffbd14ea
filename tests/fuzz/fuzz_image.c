/* fuzz_image.c: PNG and JPEG decoding (snn_image_decode) with small limits,
 * then a resize of what decoded (the daemon's path for images of another
 * size). The first byte picks the wanted channel count. */
#include <stdint.h>

#include "fuzz_common.h"
#include "snn/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int want[4] = {0, 1, 3, 0};
    snn_image img, out;
    snn_image_limits lim = {.max_width = 256, .max_height = 256, .max_pixels = 256 * 256};
    snn_error err;
    if (size < 1) return 0;
    int wc = want[data[0] & 3];
    if (snn_image_decode(&img, data + 1, size - 1, wc, &lim, &err) != SNN_OK) {
        /* failure leaves img zeroed (image.h) */
        if (img.pixels || img.width || img.height) abort();
        return 0;
    }
    if (img.width < 1 || img.height < 1 || img.width > 256 || img.height > 256 ||
        (img.channels != 1 && img.channels != 3) || (wc && img.channels != wc))
        abort();
    /* touch every pixel: an undersized buffer shows up under ASan */
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)img.width * img.height * img.channels; i++) sum += img.pixels[i];
    __asm__ volatile("" : : "r"(sum));
    if (snn_image_resize(&img, 28, 28, &out, &err) == SNN_OK) snn_image_deinit(&out);
    snn_image_deinit(&img);
    return 0;
}
