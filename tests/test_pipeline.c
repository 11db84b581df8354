/*
 * test_pipeline.c - the face pipeline as a whole (src/face/): face-api
 * parity of detect -> landmarks -> face-api crop -> descriptor against the
 * golden outputs on every backend, the 5-point alignment geometry, backend agreement, thread
 * safety of a shared fk_models, metrics and option checking.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "face/face.h"
#include "testutil.h"
#include "golden.h"

/* face-api's descriptor width (the goldens' ResNet). */
#define FACEAPI_DIM 128

static cJSON *golden;
static fk_models *models;

static const char *const face_images[] = {"face_a1.png", "face_a2.png", "face_b1.png",
                                          "face_c1.png", "group4.png"};

/* A session with face-api's own settings: SSD at 512, score 0.5, its crop. */
static fk_session *faceapi_session_threads(int backend, int threads) {
  fk_options o;
  fk_options_init(&o);
  o.threads = threads;
  o.detector = FK_DETECTOR_SSD;
  o.ssd_input_size = 512;
  o.model = FK_MODEL_RESNET128;
  o.align = FK_ALIGN_FACEAPI;
  o.flip = 0;
  o.backend = backend;
  fk_session *s = NULL;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_OK);
  return s;
}

static fk_session *faceapi_session(int backend) { return faceapi_session_threads(backend, 1); }

static double cosine(const float *a, const float *b) {
  return 1.0 - fk_distance(a, b, FACEAPI_DIM, FK_METRIC_COSINE);
}

static double iou(fk_box a, const float *b) {
  double x0 = fmax(a.x, b[0]), y0 = fmax(a.y, b[1]);
  double x1 = fmin(a.x + a.w, b[0] + b[2]), y1 = fmin(a.y + a.h, b[1] + b[3]);
  double inter = fmax(0, x1 - x0) * fmax(0, y1 - y0);
  return inter / (a.w * a.h + b[2] * b[3] - inter);
}

static void check_faceapi_pipeline(int backend, int threads) {
  fk_session *s = faceapi_session_threads(backend, threads);
  double worst_cos = 1, worst_iou = 1, worst_px = 0;
  for (size_t k = 0; k < sizeof face_images / sizeof *face_images; k++) {
    const cJSON *gf = cJSON_GetObjectItem(tu_golden_image(golden, face_images[k]), "faces");
    fk_image img;
    CHECK_EQ_INT(fk_image_load(tu_fixture(face_images[k]), 0, &img), FK_OK);
    fk_face faces[8];
    int n = 0;
    CHECK_EQ_INT(fk_faces(s, &img, faces, 8, &n), FK_OK);
    CHECK_EQ_INT(n, cJSON_GetArraySize(gf));
    for (int i = 0; i < n && i < cJSON_GetArraySize(gf); i++) {
      const cJSON *g = cJSON_GetArrayItem(gf, i);
      float box[4], desc[FACEAPI_DIM], lm[2 * FK_NUM_LANDMARKS];
      CHECK(tu_json_floats(cJSON_GetObjectItem(g, "box"), box, 4));
      CHECK(tu_json_floats(cJSON_GetObjectItem(g, "descriptor"), desc, FACEAPI_DIM));
      const cJSON *pts = cJSON_GetObjectItem(g, "landmarks");
      for (int p = 0; p < FK_NUM_LANDMARKS; p++)
        CHECK(tu_json_floats(cJSON_GetArrayItem(pts, p), lm + 2 * p, 2));
      worst_iou = fmin(worst_iou, iou(faces[i].box, box));
      for (int p = 0; p < FK_NUM_LANDMARKS; p++)
        worst_px = fmax(worst_px, fmax(fabs(faces[i].landmarks[p].x - lm[2 * p]),
                                       fabs(faces[i].landmarks[p].y - lm[2 * p + 1])));
      worst_cos = fmin(worst_cos, cosine(faces[i].embedding, desc));
    }
    fk_image_free(&img);
  }
  fprintf(stderr, "  face-api parity, backend %d, %d thread(s): min IoU %.6f, max landmark error "
          "%.2e px, min cosine %.8f\n", backend, threads, worst_iou, worst_px, worst_cos);
  CHECK(worst_iou >= 0.98);
  CHECK(worst_px <= 1.0);
  CHECK(worst_cos >= 0.9999);
  fk_session_free(s);
}

static void test_faceapi_pipeline_matches_golden_boxes_landmarks_descriptors(void) {
  check_faceapi_pipeline(FK_BACKEND_XNNPACK, 1);
  check_faceapi_pipeline(FK_BACKEND_ONEDNN, 1);
  check_faceapi_pipeline(FK_BACKEND_AUTO, 2);
}

static void test_faceapi_crop_equals_golden_descriptor_crop(void) {
  for (size_t k = 0; k < sizeof face_images / sizeof *face_images; k++) {
    const cJSON *im = tu_golden_image(golden, face_images[k]);
    const cJSON *gf = cJSON_GetObjectItem(im, "faces");
    int w = cJSON_GetObjectItem(im, "width")->valueint, h = cJSON_GetObjectItem(im, "height")->valueint;
    for (int i = 0; i < cJSON_GetArraySize(gf); i++) {
      const cJSON *g = cJSON_GetArrayItem(gf, i);
      fk_point pts[FK_NUM_LANDMARKS];
      for (int p = 0; p < FK_NUM_LANDMARKS; p++) {
        float xy[2];
        CHECK(tu_json_floats(cJSON_GetArrayItem(cJSON_GetObjectItem(g, "landmarks"), p), xy, 2));
        pts[p] = (fk_point){xy[0], xy[1]};
      }
      float want[4];
      CHECK(tu_json_floats(cJSON_GetObjectItem(g, "descriptor_crop"), want, 4));
      fk_rect r;
      CHECK(fk_align_faceapi_rect(pts, w, h, &r));
      CHECK_EQ_INT(r.x, (int)want[0]);
      CHECK_EQ_INT(r.y, (int)want[1]);
      CHECK_EQ_INT(r.w, (int)want[2]);
      CHECK_EQ_INT(r.h, (int)want[3]);
    }
  }
}

/* Landmarks made by moving a chip-space face with a known similarity must
 * give back exactly that similarity, in both chip modes. */
static void test_chip_alignment_recovers_a_known_similarity(void) {
  double truth[6] = {0.8 * cos(0.3), -0.8 * sin(0.3), 40, 0.8 * sin(0.3), 0.8 * cos(0.3), 25};
  /* Arbitrary points in chip space. */
  fk_point chip_pts[FK_NUM_LANDMARKS], img_pts[FK_NUM_LANDMARKS];
  for (int i = 0; i < FK_NUM_LANDMARKS; i++)
    chip_pts[i] = (fk_point){(float)(30 + (i * 37) % 90), (float)(30 + (i * 53) % 90)};
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) {
    double x = chip_pts[i].x, y = chip_pts[i].y;
    img_pts[i] = (fk_point){(float)(truth[0] * x + truth[1] * y + truth[2]),
                            (float)(truth[3] * x + truth[4] * y + truth[5])};
  }
  static const int modes[3] = {FK_ALIGN_5POINT, FK_ALIGN_DLIB, FK_ALIGN_ARCFACE};
  for (int k = 0; k < 3; k++) {
    double a[6], b[6];
    fk_align_chip_transform(chip_pts, modes[k], 150, 0.25, a);
    fk_align_chip_transform(img_pts, modes[k], 150, 0.25, b);
    /* b must equal truth composed with a. */
    double want[6] = {truth[0] * a[0] + truth[1] * a[3], truth[0] * a[1] + truth[1] * a[4],
                      truth[0] * a[2] + truth[1] * a[5] + truth[2], truth[3] * a[0] + truth[4] * a[3],
                      truth[3] * a[1] + truth[4] * a[4], truth[3] * a[2] + truth[4] * a[5] + truth[5]};
    for (int i = 0; i < 6; i++) CHECK_NEAR(b[i], want[i], 1e-3);
  }
}

/* A face whose five ArcFace points sit exactly on the template (scaled to
 * the chip) gets the identity transform at 112, and twice the scale at 224. */
static void test_arcface_chip_maps_the_template_onto_the_points(void) {
  static const double tmpl[5][2] = {{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366},
                                    {41.5493, 92.3655}, {70.7299, 92.2041}};
  fk_point p[FK_NUM_LANDMARKS] = {{0, 0}};
  static const int eye[2][4] = {{37, 38, 40, 41}, {43, 44, 46, 47}};
  for (int e = 0; e < 2; e++)
    for (int k = 0; k < 4; k++) p[eye[e][k]] = (fk_point){(float)tmpl[e][0], (float)tmpl[e][1]};
  p[30] = (fk_point){(float)tmpl[2][0], (float)tmpl[2][1]};
  p[48] = p[60] = (fk_point){(float)tmpl[3][0], (float)tmpl[3][1]};
  p[54] = p[64] = (fk_point){(float)tmpl[4][0], (float)tmpl[4][1]};
  double m[6];
  fk_align_chip_transform(p, FK_ALIGN_ARCFACE, 112, 0, m);
  const double id[6] = {1, 0, 0, 0, 1, 0};
  for (int i = 0; i < 6; i++) CHECK_NEAR(m[i], id[i], 1e-5);
  fk_align_chip_transform(p, FK_ALIGN_ARCFACE, 224, 0, m);
  CHECK_NEAR(m[0], 0.5, 1e-5);
  CHECK_NEAR(m[1], 0.0, 1e-5);
  CHECK_NEAR(m[2], 0.0, 1e-4);
}

static void test_5point_chip_puts_eyes_where_dlib_template_does(void) {
  fk_session *s = NULL;
  CHECK_EQ_INT(fk_session_new(models, NULL, &s), FK_OK);
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_a1.png"), 0, &img), FK_OK);
  fk_face f;
  int n = 0;
  CHECK_EQ_INT(fk_detect(s, &img, &f, 1, &n), FK_OK);
  CHECK_EQ_INT(n, 1);
  double m[6];
  fk_align_chip_transform(f.landmarks, FK_ALIGN_5POINT, 150, 0.25, m);
  /* Map the left eye centre back into the chip: it must land near dlib's
   * template eye (mean of its points 36..41: x 0.2255, y 0.2160 of the
   * unpadded face, padding 0.25). */
  double ex = 0, ey = 0;
  for (int i = 36; i <= 41; i++) ex += f.landmarks[i].x / 6, ey += f.landmarks[i].y / 6;
  double det = m[0] * m[4] - m[1] * m[3];
  double dx = ex - m[2], dy = ey - m[5];
  double u = (m[4] * dx - m[1] * dy) / det, v = (-m[3] * dx + m[0] * dy) / det;
  double tx = (0.25 + 0.2255) / 1.5 * 150, ty = (0.25 + 0.2160) / 1.5 * 150;
  CHECK_NEAR(u, tx, 4.0);
  CHECK_NEAR(v, ty, 4.0);
  CHECK(fabs(m[0]) > 0.3 && fabs(m[0]) < 2.0); /* a sane scale */
  fk_image_free(&img);
  fk_session_free(s);
}

static void test_every_backend_gives_the_same_embedding(void) {
  fk_session *r = faceapi_session(FK_BACKEND_REFERENCE);
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_b1.png"), 0, &img), FK_OK);
  fk_face fr;
  int nr = 0;
  CHECK_EQ_INT(fk_faces(r, &img, &fr, 1, &nr), FK_OK);
  const int fast[] = {FK_BACKEND_XNNPACK, FK_BACKEND_ONEDNN, FK_BACKEND_AUTO};
  for (int b = 0; b < 3; b++) {
    fk_session *x = faceapi_session(fast[b]);
    fk_face fx;
    int nx = 0;
    CHECK_EQ_INT(fk_faces(x, &img, &fx, 1, &nx), FK_OK);
    CHECK_EQ_INT(nx, nr);
    CHECK(cosine(fx.embedding, fr.embedding) >= 0.99999);
    CHECK_NEAR(fx.box.x, fr.box.x, 0.05);
    fk_session_free(x);
  }
  fk_image_free(&img);
  fk_session_free(r);
}

typedef struct thread_arg {
  const fk_image *img;
  float emb[FK_EMBED_MAX];
  int dim, rc;
} thread_arg;

static void *embed_in_thread(void *p) {
  thread_arg *a = p;
  fk_session *s = NULL;
  a->rc = fk_session_new(models, NULL, &s);
  for (int rep = 0; a->rc == FK_OK && rep < 3; rep++) {
    fk_face f;
    int n = 0;
    a->rc = fk_faces(s, a->img, &f, 1, &n);
    if (a->rc == FK_OK && n != 1) a->rc = FK_ENOFACE;
    if (a->rc == FK_OK) memcpy(a->emb, f.embedding, sizeof a->emb), a->dim = f.dim;
  }
  fk_session_free(s);
  return NULL;
}

static void test_sessions_in_threads_share_one_model_context(void) {
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_c1.png"), 0, &img), FK_OK);
  thread_arg args[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    args[i].img = &img;
    CHECK_EQ_INT(pthread_create(&th[i], NULL, embed_in_thread, &args[i]), 0);
  }
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(args[i].rc, FK_OK);
  fk_options d;
  fk_options_init(&d);
  CHECK_EQ_INT(args[0].dim, fk_model_dim(d.model));
  CHECK(!memcmp(args[0].emb, args[1].emb, (size_t)args[0].dim * sizeof *args[0].emb));
  CHECK(!memcmp(args[0].emb, args[2].emb, (size_t)args[0].dim * sizeof *args[0].emb));
  fk_image_free(&img);
}

static void test_verify_uses_largest_face_and_reports_noface(void) {
  fk_session *s = NULL;
  CHECK_EQ_INT(fk_session_new(models, NULL, &s), FK_OK);
  fk_image a, b, none;
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_a1.png"), 0, &a), FK_OK);
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_a2.png"), 0, &b), FK_OK);
  CHECK_EQ_INT(fk_image_load(tu_fixture("noface.png"), 0, &none), FK_OK);
  fk_verify_result r;
  CHECK_EQ_INT(fk_verify(s, &a, &b, FK_METRIC_COSINE, -1, &r), FK_OK);
  CHECK(r.verified);
  fk_options d;
  fk_options_init(&d);
  CHECK_NEAR(r.threshold, fk_model_threshold(d.model, FK_METRIC_COSINE), 1e-7);
  CHECK_EQ_INT(r.face1.dim, fk_model_dim(d.model));
  CHECK_EQ_INT(r.face1.model, d.model);
  CHECK_EQ_INT(fk_verify(s, &a, &none, FK_METRIC_COSINE, -1, &r), FK_ENOFACE);
  CHECK(strstr(fk_session_errmsg(s), "img2") != NULL);
  CHECK_EQ_INT(fk_verify(s, &a, &b, 7, -1, &r), FK_EINVAL);
  fk_image_free(&a);
  fk_image_free(&b);
  fk_image_free(&none);
  fk_session_free(s);
}

static void test_distances_follow_their_definitions(void) {
  float a[512] = {0}, b[512] = {0};
  a[0] = 3;
  b[1] = 4;
  CHECK_NEAR(fk_distance(a, b, 512, FK_METRIC_EUCLIDEAN), 5.0, 1e-6);
  CHECK_NEAR(fk_distance(a, b, 512, FK_METRIC_COSINE), 1.0, 1e-6);
  CHECK_NEAR(fk_distance(a, b, 512, FK_METRIC_EUCLIDEAN_L2), sqrt(2.0), 1e-6);
  CHECK_NEAR(fk_distance(a, a, 512, FK_METRIC_COSINE), 0.0, 1e-6);
  fk_l2_normalize(a, 512);
  CHECK_NEAR(a[0], 1.0, 1e-7);
  CHECK_EQ_INT(fk_metric_from_name("euclidean_l2"), FK_METRIC_EUCLIDEAN_L2);
  CHECK_EQ_INT(fk_metric_from_name("manhattan"), -1);
  fk_face f[3] = {{.box = {0, 0, 10, 10}}, {.box = {0, 0, 30, 5}}, {.box = {0, 0, 12, 12}}};
  CHECK_EQ_INT(fk_largest_face(f, 3), 1);
  CHECK_EQ_INT(fk_largest_face(f, 0), -1);
}

static void test_session_rejects_bad_options(void) {
  fk_options o;
  fk_session *s;
  fk_options_init(&o);
  o.ssd_input_size = 500;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_EINVAL);
  CHECK(strstr(fk_session_errmsg(s), "multiple of 32") != NULL);
  fk_session_free(s);
  fk_options_init(&o);
  o.threads = 0;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_EINVAL);
  fk_session_free(s);
  fk_options_init(&o);
  o.min_score = 1.5f;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_EINVAL);
  fk_session_free(s);
  fk_options_init(&o);
  CHECK_EQ_INT(o.backend, FK_BACKEND_AUTO);
  o.backend = 4;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_EINVAL);
  CHECK(strstr(fk_session_errmsg(s), "backend") != NULL);
  fk_session_free(s);
}

/* Every public FK_NET_* bit is carried by exactly one row of the table of
 * nets, the row of the net it names; every row carries one distinct bit;
 * and the bits a program asks for are the bits fk_models_open() knows
 * (issue 20: rows can be reordered without renumbering the public bits). */
static void test_every_net_bit_names_its_row(void) {
  static const struct {
    unsigned bit;
    const char *name;
  } pub[] = {
      {FK_NET_SSD, "ssd"},
      {FK_NET_TINY, "tiny"},
      {FK_NET_LANDMARKS, "landmarks"},
      {FK_NET_RESNET128, "resnet128"},
      {FK_NET_AGEGENDER, "age/gender"},
      {FK_NET_EXPRESSION, "expression"},
      {FK_NET_GEAR, "gear"},
      {FK_NET_MBF512, "mbf512"},
      {FK_NET_RFB320, "rfb320"},
      {FK_NET_LMK64, "lmk64"},
      {FK_NET_BLAZEFACE, "blazeface"},
      {FK_NET_POSE, "pose"},
      {FK_NET_EYE, "eye"},
  };
  const int npub = (int)(sizeof pub / sizeof *pub);
  CHECK_EQ_INT(npub, FK_NUM_NETS);
  unsigned all = 0;
  for (int i = 0; i < npub; i++) {
    int rows = 0, row = -1;
    for (int id = 0; id < FK_NUM_NETS; id++)
      if (fk_nets[id].bit == pub[i].bit) rows++, row = id;
    CHECK_EQ_INT(rows, 1);
    if (row >= 0 && strcmp(fk_nets[row].name, pub[i].name))
      fprintf(stderr, "FK_NET_* 0x%x names row %s, want %s\n", pub[i].bit, fk_nets[row].name, pub[i].name);
    CHECK(row >= 0 && !strcmp(fk_nets[row].name, pub[i].name));
    CHECK(pub[i].bit && !(pub[i].bit & (pub[i].bit - 1)) && !(all & pub[i].bit));
    all |= pub[i].bit;
  }
  CHECK_EQ_INT(fk_known_nets(), all);
  CHECK_EQ_INT(FK_NET_ATTRIBUTES, FK_NET_AGEGENDER | FK_NET_EXPRESSION | FK_NET_GEAR);
  /* What the bits select: each detector's and landmark net's row, each
   * model's parts. */
  fk_options o;
  fk_options_init(&o);
  o.detector = FK_DETECTOR_BLAZEFACE;
  o.landmarks = FK_LANDMARKS_LMK64;
  CHECK_EQ_INT(fk_detect_nets(&o), FK_NET_BLAZEFACE | FK_NET_LMK64);
  CHECK_EQ_INT(fk_model_nets(FK_MODEL_FUSED), FK_NET_MBF512 | FK_NET_RESNET128);
  CHECK_EQ_INT(fk_all_detect_nets(), FK_NET_SSD | FK_NET_TINY | FK_NET_LANDMARKS | FK_NET_RFB320 | FK_NET_LMK64 |
                                         FK_NET_BLAZEFACE);
  fk_models *m = NULL;
  CHECK_EQ_INT(fk_models_open(NULL, 1u << 31, &m), FK_EINVAL);
  CHECK(strstr(fk_models_errmsg(m), "unknown net bits") != NULL);
  fk_models_free(m);
}

/* The table of models: every name round-trips, every width fits fk_face,
 * the nets a model needs are loadable bits; bad choices are refused. */
/* What layers over a session (the index's entries) read and report
 * through it. */
static void test_a_session_tells_its_options_and_model(void) {
  fk_options o;
  fk_options_init(&o);
  o.min_score = 0.6f;
  fk_session *s = NULL;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_OK);
  CHECK(fk_options_equal(fk_session_options(s), &o));
  char id[64], want[64];
  CHECK_EQ_INT(fk_session_model_id(s, id, sizeof id), FK_OK);
  CHECK_EQ_INT(fk_model_id(models, o.model, want, sizeof want), FK_OK);
  CHECK(!strcmp(id, want) && !strncmp(id, fk_model_name(o.model), strlen(fk_model_name(o.model))));
  /* live options change in place; others need a new session */
  fk_options live = o, other = o;
  live.min_score = 0.9999f;
  live.flip = 0;
  live.align = FK_ALIGN_5POINT;
  CHECK_EQ_INT(fk_session_set_options(s, &live), FK_OK);
  CHECK(fk_options_equal(fk_session_options(s), &live));
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("group4.png"), 0, &img), FK_OK);
  fk_face faces[8];
  int n = -1;
  live.retry_score = 0.9999f; /* no second pass either */
  CHECK_EQ_INT(fk_session_set_options(s, &live), FK_OK);
  CHECK_EQ_INT(fk_detect(s, &img, faces, 8, &n), FK_OK);
  CHECK_EQ_INT(n, 0); /* nothing scores above 0.9999 */
  CHECK_EQ_INT(fk_session_set_options(s, &o), FK_OK);
  CHECK_EQ_INT(fk_detect(s, &img, faces, 8, &n), FK_OK);
  CHECK_EQ_INT(n, 4);
  fk_image_free(&img);
  other.model = FK_MODEL_RESNET128;
  CHECK_EQ_INT(fk_session_set_options(s, &other), FK_EINVAL);
  CHECK(strstr(fk_session_errmsg(s), "only min_score") != NULL);
  CHECK(fk_options_equal(fk_session_options(s), &o));
  other = o;
  other.min_score = 2;
  CHECK_EQ_INT(fk_session_set_options(s, &other), FK_EINVAL);
  CHECK_EQ_INT(fk_session_set_error(s, FK_EIO, "cannot read %s", "x.jpg"), FK_EIO);
  CHECK(!strcmp(fk_session_errmsg(s), "cannot read x.jpg"));
  fk_session_free(s);
}

static void test_models_and_options_are_named_and_checked(void) {
  for (int i = 0; i < FK_NUM_MODELS; i++) {
    CHECK_EQ_INT(fk_model_from_name(fk_model_name(i)), i);
    CHECK(fk_model_dim(i) > 0 && fk_model_dim(i) <= FK_EMBED_MAX);
    CHECK(fk_model_nets(i) != 0 && (fk_model_nets(i) & (FK_NET_SSD | FK_NET_LANDMARKS)) == 0);
    for (int m = FK_METRIC_COSINE; m <= FK_METRIC_EUCLIDEAN_L2; m++) CHECK(fk_model_threshold(i, m) > 0);
  }
  CHECK(fk_model_name(FK_NUM_MODELS) == NULL && fk_model_from_name("vgg") == -1 && fk_model_dim(-1) == 0);
  CHECK(isnan(fk_model_threshold(0, 3)));
  for (int a = FK_ALIGN_AUTO; a <= FK_ALIGN_ARCFACE; a++) CHECK_EQ_INT(fk_align_from_name(fk_align_name(a)), a);
  CHECK_EQ_INT(fk_align_from_name("crooked"), -2);
  CHECK_EQ_INT(fk_detector_from_name(fk_detector_name(FK_DETECTOR_TINY)), FK_DETECTOR_TINY);
  char buf[64];
  fk_model_align_name(FK_MODEL_RESNET128, FK_ALIGN_AUTO, buf, sizeof buf);
  CHECK(!strcmp(buf, "5point"));
  fk_model_align_name(FK_MODEL_RESNET128, FK_ALIGN_ARCFACE, buf, sizeof buf);
  CHECK(!strcmp(buf, "arcface"));
  fk_options o;
  fk_options_init(&o);
  CHECK(fk_model_name(o.model) != NULL && o.align == FK_ALIGN_AUTO);
  CHECK_EQ_INT(fk_default_nets() & fk_model_nets(o.model), fk_model_nets(o.model));
  fk_session *s = NULL;
  o.model = FK_NUM_MODELS;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_EINVAL);
  CHECK(strstr(fk_session_errmsg(s), "model must be one of") != NULL);
  fk_session_free(s);
  fk_options_init(&o);
  o.align = 9;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_EINVAL);
  fk_session_free(s);
}

/* A fused embedding is the parts' unit vectors scaled by the square roots of
 * their weights: unit itself, and its cosine between two faces is the
 * weighted sum of the parts' cosines. */
static void test_fused_model_joins_its_parts_by_weight(void) {
  fk_image a, b;
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_a1.png"), 0, &a), FK_OK);
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_b1.png"), 0, &b), FK_OK);
  static const int models_[3] = {FK_MODEL_FUSED, FK_MODEL_MBF512, FK_MODEL_RESNET128};
  static fk_face fa[3], fb[3];
  for (int k = 0; k < 3; k++) {
    fk_options o;
    fk_options_init(&o);
    o.model = models_[k];
    fk_session *s = NULL;
    CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_OK);
    int n = 0;
    CHECK_EQ_INT(fk_faces(s, &a, &fa[k], 1, &n), FK_OK);
    CHECK_EQ_INT(fk_faces(s, &b, &fb[k], 1, &n), FK_OK);
    CHECK_EQ_INT(fa[k].dim, fk_model_dim(models_[k]));
    CHECK_EQ_INT(fa[k].model, models_[k]);
    fk_session_free(s);
  }
  CHECK_EQ_INT(fk_model_dim(FK_MODEL_FUSED), 640);
  CHECK(!strcmp(fk_model_part_name(FK_MODEL_FUSED, 0), "mbf512"));
  double ss = 0;
  for (int i = 0; i < fa[0].dim; i++) ss += (double)fa[0].embedding[i] * fa[0].embedding[i];
  CHECK_NEAR(ss, 1.0, 1e-5);
  double cf = 1 - fk_distance(fa[0].embedding, fb[0].embedding, 640, FK_METRIC_COSINE);
  double cm = 1 - fk_distance(fa[1].embedding, fb[1].embedding, 512, FK_METRIC_COSINE);
  double cr = 1 - fk_distance(fa[2].embedding, fb[2].embedding, 128, FK_METRIC_COSINE);
  double w = fk_model_fusion_weight(FK_MODEL_FUSED, 0);
  CHECK(w > 0 && w < 1);
  CHECK_NEAR(cf, w * cm + (1 - w) * cr, 1e-5);
  fk_image_free(&a);
  fk_image_free(&b);
}

static void test_missing_models_name_the_fetch_step(void) {
  fk_models *m = NULL;
  CHECK_EQ_INT(fk_models_open("/nonexistent/facekit-models", 0, &m), FK_EMODEL_MISSING);
  CHECK(strstr(fk_models_errmsg(m), "make models") != NULL);
  fk_models_free(m);
  CHECK(strstr(fk_strerror(FK_EMODEL_MISSING), "make models") != NULL);
}

static void test_detect_on_image_without_faces_returns_zero(void) {
  fk_session *s = NULL;
  CHECK_EQ_INT(fk_session_new(models, NULL, &s), FK_OK);
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("noface.png"), 0, &img), FK_OK);
  fk_face f;
  int n = -1;
  CHECK_EQ_INT(fk_detect(s, &img, &f, 1, &n), FK_OK);
  CHECK_EQ_INT(n, 0);
  fk_image bad = {0};
  CHECK_EQ_INT(fk_detect(s, &bad, &f, 1, &n), FK_EINVAL);
  fk_image_free(&img);
  fk_session_free(s);
}

/* Counts fk_detect's faces of a fixture under o. */
static int faces_in(const char *fixture, const fk_options *o, fk_face *faces, int cap) {
  fk_session *s = NULL;
  CHECK_EQ_INT(fk_session_new(models, o, &s), FK_OK);
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture(fixture), 0, &img), FK_OK);
  int n = -1;
  CHECK_EQ_INT(fk_detect(s, &img, faces, cap, &n), FK_OK);
  fk_image_free(&img);
  fk_session_free(s);
  return n;
}

/* With every face below min_score, the second pass at retry_score keeps
 * the best one only (group4's four faces score 0.97 to 0.998); with the
 * retry at or above min_score there is none. */
static void test_detect_retries_at_the_retry_score_where_nothing_passes(void) {
  fk_options o;
  fk_options_init(&o);
  CHECK(o.retry_score > 0 && o.retry_score < o.min_score);
  fk_face all[8], one[8];
  CHECK_EQ_INT(faces_in("group4.png", &o, all, 8), 4);
  o.min_score = 0.999f;
  o.retry_score = 0.5f;
  CHECK_EQ_INT(faces_in("group4.png", &o, one, 8), 1);
  CHECK(one[0].score == all[0].score && memcmp(&one[0].box, &all[0].box, sizeof one[0].box) == 0);
  CHECK(one[0].landmarks[30].x == all[0].landmarks[30].x);
  o.retry_score = o.min_score;
  CHECK_EQ_INT(faces_in("group4.png", &o, one, 8), 0);
  o.retry_score = 1.0f;
  fk_session *s = NULL;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_EINVAL);
  CHECK(strstr(fk_session_errmsg(s), "retry_score must be a number in") != NULL);
  fk_session_free(s);
}

static void test_automatic_detector_size_follows_image_size(void) {
  fk_session *s = NULL;
  CHECK_EQ_INT(fk_session_new(models, NULL, &s), FK_OK);
  static const struct { int w, h, size; } cases[] = {
      {250, 250, 256}, {288, 100, 256}, {289, 100, 384}, {300, 432, 384}, {433, 10, 512}, {4000, 3000, 512}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fk_image img = {cases[i].w, cases[i].h, NULL};
    fk_det_slot *d = NULL;
    CHECK_EQ_INT(fk_session_detector(s, &img, &d), FK_OK);
    CHECK(d && d->size == cases[i].size);
  }
  fk_session_free(s);
  fk_options o;
  fk_options_init(&o);
  o.ssd_input_size = 320;
  CHECK_EQ_INT(fk_session_new(models, &o, &s), FK_OK);
  fk_image big = {4000, 3000, NULL};
  fk_det_slot *d = NULL;
  CHECK_EQ_INT(fk_session_detector(s, &big, &d), FK_OK);
  CHECK(d && d->size == 320);
  fk_session_free(s);
}

static void test_flip_changes_only_the_embedding_a_little(void) {
  fk_options o;
  fk_options_init(&o);
  fk_session *plain = NULL, *flip = NULL;
  o.flip = 0;
  CHECK_EQ_INT(fk_session_new(models, &o, &plain), FK_OK);
  o.flip = 1;
  CHECK_EQ_INT(fk_session_new(models, &o, &flip), FK_OK);
  fk_image a, b;
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_a1.png"), 0, &a), FK_OK);
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_a2.png"), 0, &b), FK_OK);
  fk_face fp, ff;
  int n1 = 0, n2 = 0;
  CHECK_EQ_INT(fk_faces(plain, &a, &fp, 1, &n1), FK_OK);
  CHECK_EQ_INT(fk_faces(flip, &a, &ff, 1, &n2), FK_OK);
  CHECK(!memcmp(fp.landmarks, ff.landmarks, sizeof fp.landmarks));
  CHECK(cosine(fp.embedding, ff.embedding) > 0.97);
  CHECK(cosine(fp.embedding, ff.embedding) < 0.99999);
  fk_verify_result r;
  CHECK_EQ_INT(fk_verify(flip, &a, &b, FK_METRIC_COSINE, -1, &r), FK_OK);
  CHECK(r.verified);
  fk_image_free(&a);
  fk_image_free(&b);
  fk_session_free(plain);
  fk_session_free(flip);
}

int main(void) {
  golden = tu_golden_load();
  int rc = fk_models_open(NULL, fk_default_nets() | FK_NET_MBF512 | FK_NET_RESNET128, &models);
  if (rc != FK_OK || !golden) {
    fprintf(stderr, "cannot run: %s\n", fk_models_errmsg(models));
    return 1;
  }
  RUN(test_faceapi_pipeline_matches_golden_boxes_landmarks_descriptors);
  RUN(test_faceapi_crop_equals_golden_descriptor_crop);
  RUN(test_chip_alignment_recovers_a_known_similarity);
  RUN(test_5point_chip_puts_eyes_where_dlib_template_does);
  RUN(test_arcface_chip_maps_the_template_onto_the_points);
  RUN(test_every_net_bit_names_its_row);
  RUN(test_models_and_options_are_named_and_checked);
  RUN(test_a_session_tells_its_options_and_model);
  RUN(test_fused_model_joins_its_parts_by_weight);
  RUN(test_every_backend_gives_the_same_embedding);
  RUN(test_sessions_in_threads_share_one_model_context);
  RUN(test_verify_uses_largest_face_and_reports_noface);
  RUN(test_distances_follow_their_definitions);
  RUN(test_session_rejects_bad_options);
  RUN(test_missing_models_name_the_fetch_step);
  RUN(test_detect_on_image_without_faces_returns_zero);
  RUN(test_detect_retries_at_the_retry_score_where_nothing_passes);
  RUN(test_automatic_detector_size_follows_image_size);
  RUN(test_flip_changes_only_the_embedding_a_little);
  fk_models_free(models);
  cJSON_Delete(golden);
  return tu_summary();
}
