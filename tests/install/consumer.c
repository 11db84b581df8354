/*
 * consumer.c - a program of a library user, built by tests/test_install.sh
 * against an installed facekit with nothing but `pkg-config facekit`: it
 * checks the header's version against the library's, then finds the face
 * in a photo with the default models (the library's whole link: oneDNN,
 * XNNPACK, the image codecs).
 * Usage: consumer MODELS_DIR IMAGE
 */
#include <stdio.h>

#include <facekit.h>

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  if (fk_version() != FK_VERSION_NUMBER) {
    fprintf(stderr, "header %d, library %d\n", FK_VERSION_NUMBER, fk_version());
    return 1;
  }
  fk_models *m = NULL;
  fk_session *s = NULL;
  fk_image img = {0};
  fk_options o;
  fk_options_init(&o);
  int n = 0, rc = fk_models_open(argv[1], 0, &m);
  if (rc == FK_OK) rc = fk_session_new(m, &o, &s);
  if (rc == FK_OK) rc = fk_image_load(argv[2], 0, &img);
  fk_face f;
  if (rc == FK_OK) rc = fk_faces(s, &img, &f, 1, &n);
  if (rc == FK_OK) printf("facekit %s: %d face\n", fk_version_string(), n);
  else fprintf(stderr, "consumer: %s\n", fk_strerror(rc));
  fk_image_free(&img);
  fk_session_free(s);
  fk_models_free(m);
  return rc == FK_OK && n == 1 ? 0 : 1;
}
