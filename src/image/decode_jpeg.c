/*
 * decode_jpeg.c - JPEG to 8-bit RGB with libjpeg-turbo (see decode_priv.h).
 *
 * libjpeg reports fatal errors through error_exit(), which by default calls
 * exit(): here it longjmps back with an FK_E* code instead. Its "premature
 * end of data" warnings (a truncated file, which libjpeg would otherwise pad
 * with grey) are promoted to FK_ECORRUPT; other warnings are tolerated, as
 * browsers and OpenCV do. Grayscale and YCbCr come out as RGB from libjpeg;
 * CMYK and YCCK come out as CMYK and are converted here, honouring Adobe's
 * inverted storage when an APP14 Adobe marker is present.
 */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image/decode_priv.h"

/* Progressive JPEGs with absurd scan counts decode very slowly; libjpeg-turbo
 * recommends a cap (its tools use -maxscans). Real encoders emit < 20. */
#define FK_JPEG_MAX_SCANS 500

/* All state that must survive a longjmp lives here, in the caller's frame. */
typedef struct jdec {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr err; /* cinfo.err points here; see jdec_of() */
  jmp_buf jb;
  int status;
  struct jpeg_progress_mgr progress;
  uint8_t *pixels;
} jdec;

/* jdec_of: err is the jpeg_error_mgr embedded in a jdec. */
static jdec *jdec_of(j_common_ptr c) {
  return (jdec *)((char *)c->err - offsetof(jdec, err));
}

static void on_error_exit(j_common_ptr c) {
  jdec *d = jdec_of(c);
  switch (c->err->msg_code) {
    case JERR_OUT_OF_MEMORY: d->status = FK_ENOMEM; break;
    case JERR_BAD_PRECISION: /* 12/16-bit samples */
    case JERR_SOF_UNSUPPORTED: /* lossless, hierarchical */
    case JERR_CONVERSION_NOTIMPL: /* odd component counts */
    case JERR_NOT_COMPILED: d->status = FK_EUNSUPPORTED; break;
    default: d->status = FK_ECORRUPT; break;
  }
  longjmp(d->jb, 1);
}

static void on_emit_message(j_common_ptr c, int level) {
  if (level >= 0) return; /* trace messages */
  int code = c->err->msg_code;
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) {
    jdec *d = jdec_of(c);
    d->status = FK_ECORRUPT;
    longjmp(d->jb, 1);
  }
  c->err->num_warnings++;
}

static void on_output_message(j_common_ptr c) { (void)c; }

static void on_progress(j_common_ptr c) {
  if (!c->is_decompressor) return;
  j_decompress_ptr dc = (j_decompress_ptr)c;
  if (dc->input_scan_number > FK_JPEG_MAX_SCANS) {
    jdec *d = jdec_of(c);
    d->status = FK_ECORRUPT;
    longjmp(d->jb, 1);
  }
}

/* CMYK (4 bytes/pixel, in place) to RGB. Plain CMYK stores ink amounts;
 * Adobe stores 255 - ink. With c, k the ink fractions, R = (1-c)(1-k). */
static void cmyk_to_rgb(uint8_t *buf, size_t n, int adobe) {
  for (size_t i = 0; i < n; i++) {
    const uint8_t *s = buf + 4 * i;
    unsigned c = s[0], m = s[1], y = s[2], k = s[3];
    if (!adobe) {
      c = 255 - c;
      m = 255 - m;
      y = 255 - y;
      k = 255 - k;
    }
    uint8_t *o = buf + 3 * i;
    uint8_t r = (uint8_t)((c * k + 127) / 255);
    uint8_t g = (uint8_t)((m * k + 127) / 255);
    uint8_t b = (uint8_t)((y * k + 127) / 255);
    o[0] = r;
    o[1] = g;
    o[2] = b;
  }
}

/* Runs the decode; every mutable value lives in *d so nothing here is
 * clobbered by longjmp. */
static int jpeg_run(jdec *d, const uint8_t *data, size_t size,
                    size_t max_pixels) {
  struct jpeg_decompress_struct *ci = &d->cinfo;
  if (setjmp(d->jb)) return d->status ? d->status : FK_ECORRUPT;

  jpeg_create_decompress(ci);
  d->progress.progress_monitor = on_progress;
  ci->progress = &d->progress;
  jpeg_mem_src(ci, data, (unsigned long)size);
  if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK) return FK_ECORRUPT;

  int st = fk_check_dims(ci->image_width, ci->image_height, max_pixels);
  if (st != FK_OK) return st;

  int cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
  ci->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(ci);
  int comps = cmyk ? 4 : 3;
  if (ci->output_components != comps) return FK_EUNSUPPORTED;

  size_t w = ci->output_width, h = ci->output_height;
  st = fk_check_dims((int64_t)w, (int64_t)h, max_pixels);
  if (st != FK_OK) return st;
  d->pixels = malloc(w * h * (size_t)comps);
  if (!d->pixels) return FK_ENOMEM;
  while (ci->output_scanline < ci->output_height) {
    JSAMPROW row = d->pixels + (size_t)ci->output_scanline * w * (size_t)comps;
    if (jpeg_read_scanlines(ci, &row, 1) != 1) return FK_ECORRUPT;
  }
  jpeg_finish_decompress(ci);
  if (cmyk) {
    cmyk_to_rgb(d->pixels, w * h, ci->saw_Adobe_marker);
    d->pixels = fk_shrink_to_rgb(d->pixels, w * h);
  }
  return FK_OK;
}

int fk_decode_jpeg(const uint8_t *data, size_t size, size_t max_pixels,
                   fk_image *img) {
  jdec d;
  memset(&d, 0, sizeof d);
  d.cinfo.err = jpeg_std_error(&d.err);
  d.err.error_exit = on_error_exit;
  d.err.emit_message = on_emit_message;
  d.err.output_message = on_output_message;

  int st = jpeg_run(&d, data, size, max_pixels);
  if (st == FK_OK) {
    img->width = (int)d.cinfo.output_width;
    img->height = (int)d.cinfo.output_height;
    img->rgb = d.pixels;
  } else {
    free(d.pixels);
  }
  jpeg_destroy_decompress(&d.cinfo);
  return st;
}
