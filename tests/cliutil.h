/*
 * cliutil.h - helpers shared by the tests that run the facekit command
 * (test_cli.c, test_index.c): its exit status, its JSON, and JPEG inputs.
 */
#ifndef FK_CLIUTIL_H
#define FK_CLIUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>
#include <jpeglib.h>

/* A wait status as an exit code; killed by signal N gives 128 + N, as in sh. */
static inline int tu_exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* o[k] if it is a string, else "". */
static inline const char *tu_json_str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/* Writes w x h packed pixels as a JPEG: components 3 (RGB) or 4 (CMYK);
 * quality <= 0 keeps libjpeg's default. Returns 0, or -1 if path cannot be
 * created. */
static inline int tu_write_jpeg(const char *path, const unsigned char *px, int w, int h, int components,
                                int quality) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = components;
  c.in_color_space = components == 4 ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&c);
  if (quality > 0) jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * components);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  fclose(f);
  return 0;
}

#endif /* FK_CLIUTIL_H */
