/*
 * decode_webp.c - WebP (lossy, lossless, with or without alpha) to 8-bit RGB
 * with libwebp (see decode_priv.h). Alpha is composited over white.
 * Animated WebP is FK_EUNSUPPORTED.
 */
#include <stdlib.h>

#include <webp/decode.h>

#include "image/decode_priv.h"

static int webp_status(VP8StatusCode s) {
  switch (s) {
    case VP8_STATUS_OK: return FK_OK;
    case VP8_STATUS_OUT_OF_MEMORY: return FK_ENOMEM;
    case VP8_STATUS_UNSUPPORTED_FEATURE: return FK_EUNSUPPORTED;
    default: return FK_ECORRUPT; /* NOT_ENOUGH_DATA, BITSTREAM_ERROR, ... */
  }
}

int fk_decode_webp(const uint8_t *data, size_t size, size_t max_pixels,
                   fk_image *img) {
  WebPDecoderConfig cfg;
  if (!WebPInitDecoderConfig(&cfg)) return FK_EUNSUPPORTED; /* ABI mismatch */
  int st = webp_status(WebPGetFeatures(data, size, &cfg.input));
  if (st != FK_OK) return st;
  if (cfg.input.has_animation) return FK_EUNSUPPORTED;
  st = fk_check_dims(cfg.input.width, cfg.input.height, max_pixels);
  if (st != FK_OK) return st;

  size_t w = (size_t)cfg.input.width, h = (size_t)cfg.input.height;
  size_t ch = cfg.input.has_alpha ? 4 : 3;
  uint8_t *px = malloc(w * h * ch);
  if (!px) return FK_ENOMEM;
  cfg.output.colorspace = ch == 4 ? MODE_RGBA : MODE_RGB;
  cfg.output.is_external_memory = 1;
  cfg.output.u.RGBA.rgba = px;
  cfg.output.u.RGBA.stride = (int)(w * ch);
  cfg.output.u.RGBA.size = w * h * ch;
  st = webp_status(WebPDecode(data, size, &cfg));
  WebPFreeDecBuffer(&cfg.output);
  if (st != FK_OK) {
    free(px);
    return st;
  }
  if (ch == 4) {
    fk_rgba_to_rgb_over_white(px, w * h);
    px = fk_shrink_to_rgb(px, w * h);
  }
  img->width = (int)w;
  img->height = (int)h;
  img->rgb = px;
  return FK_OK;
}
