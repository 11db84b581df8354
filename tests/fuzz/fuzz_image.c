/*
 * fuzz_image.c - fuzz target for the image decoder, fk_image_decode()
 * (src/image/decode*.c, exif.c): JPEG (baseline, progressive, arithmetic,
 * grayscale, CMYK/YCCK, EXIF orientations), PNG (palette, tRNS, gray, alpha,
 * 16-bit, interlaced) and WebP (lossy, lossless, alpha).
 *
 * Input: the bytes of one image file. Seeds and dictionary: image/.
 *
 * The limit is FUZZ_MAX_PIXELS, so a valid header declaring a huge image is
 * refused from the header (FK_ETOOBIG) instead of exhausting memory. Checked
 * on every input:
 *   - a failure leaves the image zeroed, and its code has a message;
 *   - a decoded image fits the limit and all its 3 * w * h bytes are
 *     readable;
 *   - the same bytes decoded with a limit one pixel below the image's size
 *     are FK_ETOOBIG, and with exactly its size give the same pixels: the
 *     limit is checked before decoding and does not change the result.
 */
#include "fuzz.h"

#define FUZZ_MAX_PIXELS ((size_t)1 << 16)

static int is_zeroed(const fk_image *img) {
  return img->width == 0 && img->height == 0 && img->rgb == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_accepted = 0;
  fk_image img;
  int rc = fk_image_decode(data, size, FUZZ_MAX_PIXELS, &img);
  if (rc != FK_OK) {
    FUZZ_CHECK(rc < 0 && is_zeroed(&img));
    FUZZ_CHECK(fk_strerror(rc)[0] != '\0');
    return 0;
  }
  size_t n = (size_t)img.width * (size_t)img.height;
  FUZZ_CHECK(img.width > 0 && img.height > 0 && img.rgb != NULL);
  FUZZ_CHECK(n <= FUZZ_MAX_PIXELS);
  fuzz_touch(img.rgb, 3 * n);

  fk_image again;
  if (n > 1) {
    FUZZ_CHECK(fk_image_decode(data, size, n - 1, &again) == FK_ETOOBIG);
    FUZZ_CHECK(is_zeroed(&again));
  }
  FUZZ_CHECK(fk_image_decode(data, size, n, &again) == FK_OK);
  FUZZ_CHECK(again.width == img.width && again.height == img.height);
  FUZZ_CHECK(!memcmp(again.rgb, img.rgb, 3 * n));
  fk_image_free(&again);
  fk_image_free(&img);
  fuzz_accepted = 1;
  return 0;
}
