/*
 * bench_pipeline.c - per-stage timings of the whole pipeline, for the
 * side-by-side comparison with face-api (bench/compare.sh).
 *
 *   bench_pipeline [--runs N] [--threads T] [--backend B] [--json]
 *                  [--input-size S] [--model M] IMAGE...
 *
 * B is auto (the default), onednn or xnnpack.
 *
 * --input-size 0 is the library's automatic size; the default is 512, the
 * size face-api always uses.
 *
 * For every image: decode, detect (SSD), and per face: landmarks, align
 * (5-point warp to the 150x150 chip), descriptor. Prints the median of each
 * stage over all runs, the median whole-image time and faces/s, and the
 * descriptor net's GFLOP/s against its MAC count. Then, as a program calls
 * it, the whole image through the library (fk_image_load, then fk_faces:
 * detect, landmarks and embed, with the session's flip, on by default):
 * its median, "pipeline_ms", is the figure of issue 18's whole-image goal.
 * Default images: the committed fixtures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "face/face.h"

typedef struct samples { double *v; int n, cap; } samples;

static void add(samples *s, double x) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
    if (!s->v) exit(1);
  }
  s->v[s->n++] = x;
}

static double median(samples *s) { return median_of(s->v, (size_t)s->n); }


int main(int argc, char **argv) {
  int runs = 20, json = 0;
  fk_options opt;
  fk_options_init(&opt);
  opt.ssd_input_size = 512; /* face-api's size, for the side-by-side */
  const char *imgs[256];
  int nimg = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) opt.threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--input-size") && i + 1 < argc) opt.ssd_input_size = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
      if ((opt.backend = fk_backend_from_name(argv[++i])) < 0) {
        fprintf(stderr, "bench_pipeline: unknown backend %s (auto, onednn, xnnpack)\n", argv[i]);
        return 2;
      }
    }
    else if (!strcmp(argv[i], "--model") && i + 1 < argc && fk_model_from_name(argv[i + 1]) >= 0)
      opt.model = fk_model_from_name(argv[++i]);
    else if (!strcmp(argv[i], "--json")) json = 1;
    else if (nimg < 256) imgs[nimg++] = argv[i];
  }
  static const char *defaults[] = {"tests/fixtures/face_a1.png", "tests/fixtures/face_a2.png",
                                   "tests/fixtures/face_b1.png", "tests/fixtures/face_c1.png",
                                   "tests/fixtures/group4.png"};
  if (!nimg)
    for (; nimg < 5; nimg++) imgs[nimg] = defaults[nimg];
  if (runs < 1) runs = 1;

  fk_models *m = NULL;
  fk_session *s = NULL;
  /* The recognizer timed is the model's first net, on one chip (no flip). */
  const int rid = fk_model_defs[opt.model].part[0];
  const fk_recognizer *rec = fk_nets[rid].rec;
  if (fk_models_open(NULL, FK_NET_SSD | FK_NET_LANDMARKS | fk_model_nets(opt.model), &m)) {
    fprintf(stderr, "bench_pipeline: %s\n", fk_models_errmsg(m));
    return 1;
  }
  if (fk_session_new(m, &opt, &s)) {
    fprintf(stderr, "bench_pipeline: %s\n", fk_session_errmsg(s));
    return 1;
  }
  samples decode = {0}, detect = {0}, lm = {0}, align = {0}, desc = {0}, whole = {0}, lib = {0};
  int faces_total = 0;
  double whole_sum = 0;
  fk_face faces[64];
  for (int k = 0; k < nimg; k++) {
    samples img_whole = {0};
    int nf = 0;
    for (int r = -2; r < runs; r++) { /* two warm-up runs */
      double t0 = fk_now_ms();
      fk_image img;
      if (fk_image_load(imgs[k], 0, &img)) {
        fprintf(stderr, "bench_pipeline: cannot read %s\n", imgs[k]);
        return 1;
      }
      double t1 = fk_now_ms();
      int ndet = 0;
      fk_det_slot *det;
      if (fk_session_detector(s, &img, &det)) {
        fprintf(stderr, "bench_pipeline: %s\n", fk_session_errmsg(s));
        return 1;
      }
      fk_ssd_input(&img, det->size, nn_runtime_input(det->rt));
      nn_runtime_run(det->rt);
      fk_ssd_decode(det->rt, det->state, det->size, img.width, img.height, opt.min_score, 64, s->dets,
                    64, &ndet);
      double t2 = fk_now_ms();
      if (ndet > 64) ndet = 64;
      nf = 0;
      for (int i = 0; i < ndet; i++) {
        fk_face *f = &faces[nf];
        fk_rect box;
        double a = fk_now_ms();
        if (!fk_landmarks_box(&s->dets[i], img.width, img.height, &box)) continue;
        fk_landmarks_input(&img, box, nn_runtime_input(s->rt[FK_NETID_LANDMARKS]));
        nn_runtime_run(s->rt[FK_NETID_LANDMARKS]);
        fk_landmarks_decode(nn_runtime_output(s->rt[FK_NETID_LANDMARKS], 0), &s->dets[i], box, f->landmarks);
        double b = fk_now_ms();
        double mtx[6];
        fk_align_chip_transform(f->landmarks, rec->align, rec->size, rec->padding, mtx);
        fk_warp_affine(&img, mtx, rec->size, rec->size, nn_runtime_input(s->rt[rid]));
        double c = fk_now_ms();
        rec->normalize(nn_runtime_input(s->rt[rid]), (size_t)rec->size * rec->size);
        nn_runtime_run(s->rt[rid]);
        double d = fk_now_ms();
        if (r >= 0) {
          add(&lm, b - a);
          add(&align, c - b);
          add(&desc, d - c);
        }
        nf++;
      }
      double t3 = fk_now_ms();
      fk_image_free(&img);
      if (r >= 0) {
        add(&decode, t1 - t0);
        add(&detect, t2 - t1);
        add(&img_whole, t3 - t0);
        add(&whole, t3 - t0);
      }
    }
    faces_total += nf;
    whole_sum += median(&img_whole);
    free(img_whole.v);
  }
  for (int k = 0; k < nimg; k++)
    for (int r = -2; r < runs; r++) {
      double t0 = fk_now_ms();
      fk_image img;
      int n = 0;
      if (fk_image_load(imgs[k], 0, &img) || fk_faces(s, &img, faces, 64, &n)) {
        fprintf(stderr, "bench_pipeline: %s: %s\n", imgs[k], fk_session_errmsg(s));
        return 1;
      }
      fk_image_free(&img);
      if (r >= 0) add(&lib, fk_now_ms() - t0);
    }
  double desc_ms = median(&desc);
  double gflops = desc_ms > 0 ? 2.0 * nn_graph_macs(m->graph[rid]) / (desc_ms * 1e6) : 0;
  double fps = whole_sum > 0 ? faces_total / (whole_sum / 1000.0) : 0;
  if (json) {
    printf("{\"impl\":\"facekit %s %s\",\"threads\":%d,\"ssd_input_size\":%d,\"images\":%d,\"faces\":%d,"
           "\"stages\":{\"decode_ms\":%.3f,\"detect_ms\":%.3f,\"landmarks_ms\":%.3f,\"align_ms\":%.3f,"
           "\"descriptor_ms\":%.3f},\"per_face\":{\"landmarks_ms\":%.3f,\"align_ms\":%.3f,\"descriptor_ms\":%.3f},"
           "\"image_ms\":%.3f,\"faces_per_s\":%.2f,\"descriptor_gflops\":%.1f,\"model\":\"%s\",\"flip\":%d,"
           "\"pipeline_ms\":%.3f}\n",
           FK_VERSION, fk_backend_name(opt.backend), opt.threads, opt.ssd_input_size, nimg, faces_total, median(&decode), median(&detect),
           median(&lm), median(&align), desc_ms, median(&lm), median(&align), desc_ms, median(&whole), fps,
           gflops, fk_model_name(opt.model), opt.flip, median(&lib));
  } else {
    char size[16] = "auto";
    if (opt.ssd_input_size) snprintf(size, sizeof size, "%d", opt.ssd_input_size);
    printf("facekit pipeline, backend %s, %d thread(s), SSD %s, %d images, %d faces, %d runs (medians)\n",
           fk_backend_name(opt.backend), opt.threads, size, nimg, faces_total, runs);
    printf("  decode      %8.3f ms/image\n", median(&decode));
    printf("  detect      %8.3f ms/image\n", median(&detect));
    printf("  landmarks   %8.3f ms/face\n", median(&lm));
    printf("  align       %8.3f ms/face\n", median(&align));
    printf("  descriptor  %8.3f ms/face  (%.1f GFLOP/s on %.3f GMAC)\n", desc_ms, gflops,
           nn_graph_macs(m->graph[rid]) / 1e9);
    printf("  whole image %8.3f ms   %.1f faces/s\n", median(&whole), fps);
    printf("  fk_faces    %8.3f ms/image  (decode, detect, landmarks, embed; model %s, flip %s)\n", median(&lib),
           fk_model_name(opt.model), opt.flip ? "on" : "off");
  }
  free(decode.v); free(detect.v); free(lm.v); free(align.v); free(desc.v); free(whole.v); free(lib.v);
  fk_session_free(s);
  fk_models_free(m);
  return 0;
}
