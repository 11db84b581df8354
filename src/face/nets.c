/*
 * nets.c - the table of networks facekit can load (fk_nets, one row per
 * net: role, file, loader, the role's operations, the option value and
 * name that select a detector or landmark net) and the table of
 * recognition models built from them (fk_model_defs: which recognizers,
 * fusion weights, verification thresholds), with the names the CLI and the
 * server use.
 *
 * To add a net: write src/models/<net>.c (build or load, pre- and
 * post-processing and, for a detector or landmark net, its
 * fk_detector_def or fk_landmarker_def, declared in models.h), add its
 * FK_NETID_* (face.h, the row's index) and FK_NET_* bit (facekit_core.h,
 * public: the next free bit, whatever the row's position), and one row
 * below that names the bit; a detector or landmark net also gets its public
 * FK_DETECTOR_* / FK_LANDMARKS_* (facekit.h), which the row names. A new
 * recognizer becomes a model with one more row in fk_model_defs.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/abi.h"
#include "face/face.h"

static const fk_recognizer resnet128 = {
    .size = FK_DESCRIPTOR_SIZE,
    .align = FK_ALIGN_5POINT,
    .padding = 0.25, /* dlib's get_face_chip_details padding for this net */
    .dim = FK_DESCRIPTOR_DIM,
    .normalize = fk_descriptor_normalize,
};

static const fk_recognizer mbf512 = {
    .size = FK_MBF512_SIZE,
    .align = FK_ALIGN_ARCFACE,
    .dim = FK_MBF512_DIM,
    .normalize = fk_mbf512_normalize,
};

const fk_net_def fk_nets[FK_NUM_NETS] = {
    [FK_NETID_SSD] = {"ssd", FK_NET_SSD, FK_ROLE_DETECTOR, FK_SSD_FILE, fk_load_detector, .det = &fk_ssd_detector,
                      .option = FK_DETECTOR_SSD},
    [FK_NETID_TINY] = {"tiny", FK_NET_TINY, FK_ROLE_DETECTOR, FK_TINY_FILE, fk_load_detector, .det = &fk_tiny_detector,
                       .option = FK_DETECTOR_TINY},
    [FK_NETID_LANDMARKS] = {"landmarks", FK_NET_LANDMARKS, FK_ROLE_LANDMARKS, FK_LANDMARKS_FILE, fk_load_manifest,
                            fk_landmarks_build, .lmk = &fk_faceapi_landmarker, .option = FK_LANDMARKS_FACEAPI,
                            .option_name = "face-api"},
    [FK_NETID_RESNET128] = {"resnet128", FK_NET_RESNET128, FK_ROLE_RECOGNIZER, FK_DESCRIPTOR_FILE, fk_load_manifest,
                            fk_descriptor_build, .rec = &resnet128},
    [FK_NETID_AGEGENDER] = {"age/gender", FK_NET_AGEGENDER, FK_ROLE_ATTRIBUTE, FK_AGEGENDER_FILE, fk_load_manifest,
                            fk_agegender_build},
    [FK_NETID_EXPRESSION] = {"expression", FK_NET_EXPRESSION, FK_ROLE_ATTRIBUTE, FK_EXPRESSION_FILE, fk_load_manifest,
                             fk_expression_build},
    [FK_NETID_GEAR] = {"gear", FK_NET_GEAR, FK_ROLE_ATTRIBUTE, FK_GEAR_FILE, fk_load_graph, .open = fk_gear_load},
    [FK_NETID_MBF512] = {"mbf512", FK_NET_MBF512, FK_ROLE_RECOGNIZER, FK_MBF512_FILE, fk_load_graph,
                         .open = fk_mbf512_load, .rec = &mbf512},
    [FK_NETID_RFB320] = {"rfb320", FK_NET_RFB320, FK_ROLE_DETECTOR, FK_RFB320_FILE, fk_load_detector,
                         .det = &fk_rfb320_detector, .option = FK_DETECTOR_RFB320},
    [FK_NETID_LMK64] = {"lmk64", FK_NET_LMK64, FK_ROLE_LANDMARKS, FK_LMK64_FILE, fk_load_graph, .open = fk_lmk64_load,
                        .lmk = &fk_lmk64_landmarker, .option = FK_LANDMARKS_LMK64},
    [FK_NETID_BLAZEFACE] = {"blazeface", FK_NET_BLAZEFACE, FK_ROLE_DETECTOR, FK_BLAZEFACE_FILE, fk_load_detector,
                            .det = &fk_blazeface_detector, .option = FK_DETECTOR_BLAZEFACE},
    [FK_NETID_POSE] = {"pose", FK_NET_POSE, FK_ROLE_ATTRIBUTE, FK_POSE_FILE, fk_load_graph, .open = fk_pose_load},
    [FK_NETID_EYE] = {"eye", FK_NET_EYE, FK_ROLE_ATTRIBUTE, FK_EYE_FILE, fk_load_graph, .open = fk_eye_load},
};

/* Thresholds: the accuracy-maximizing distance over all 6,000 LFW pairs
 * with the model's default pipeline (`facekit eval lfw --model NAME`,
 * "thresholds_all_pairs"; see README), for cosine, euclidean (on the raw
 * embedding) and euclidean_l2. */
const fk_model_def fk_model_defs[FK_NUM_MODELS] = {
    [FK_MODEL_RESNET128] = {"resnet128", 1, {FK_NETID_RESNET128}, {1}, {0.0872f, 0.593f, 0.418f}},
    [FK_MODEL_MBF512] = {"mbf512", 1, {FK_NETID_MBF512}, {1}, {0.7135f, 4.015f, 1.195f}},
    [FK_MODEL_FUSED] = {"fused", 2, {FK_NETID_MBF512, FK_NETID_RESNET128}, {0.2f, 0.8f}, {0.2224f, 0.667f, 0.667f}},
};

/* The default is the best by measurement, retrieval P@1 on all of LFW first,
 * then LFW accuracy (README, Recognition models): mbf512 0.9893, fused
 * 0.9889, resnet128 0.9619. */
const int fk_default_model = FK_MODEL_MBF512;

static int valid_model(int model) { return model >= 0 && model < FK_NUM_MODELS; }

const char *fk_model_name(int model) { return valid_model(model) ? fk_model_defs[model].name : NULL; }

int fk_model_from_name(const char *name) {
  for (int i = 0; name && i < FK_NUM_MODELS; i++)
    if (!strcmp(name, fk_model_defs[i].name)) return i;
  return -1;
}

int fk_model_dim(int model) {
  if (!valid_model(model)) return 0;
  int dim = 0;
  for (int p = 0; p < fk_model_defs[model].nparts; p++) dim += fk_nets[fk_model_defs[model].part[p]].rec->dim;
  return dim;
}

const char *fk_model_part_name(int model, int part) {
  if (!valid_model(model) || part < 0 || part >= fk_model_defs[model].nparts) return NULL;
  return fk_nets[fk_model_defs[model].part[part]].name;
}

float fk_model_fusion_weight(int model, int part) {
  if (!fk_model_part_name(model, part)) return NAN;
  return fk_model_defs[model].nparts == 1 ? 1.0f : fk_model_defs[model].weight[part];
}

unsigned fk_model_nets(int model) {
  if (!valid_model(model)) return 0;
  unsigned bits = 0;
  for (int p = 0; p < fk_model_defs[model].nparts; p++) bits |= fk_nets[fk_model_defs[model].part[p]].bit;
  return bits;
}

float fk_model_threshold(int model, int metric) {
  if (!valid_model(model) || metric < FK_METRIC_COSINE || metric > FK_METRIC_EUCLIDEAN_L2) return NAN;
  return fk_model_defs[model].threshold[metric];
}

unsigned fk_default_nets(void) {
  fk_options o;
  fk_options_init(&o);
  return fk_detect_nets(&o) | fk_model_nets(o.model);
}

static const char *const align_names[] = {"face-api", "5point", "dlib", "arcface"};

const char *fk_align_name(int align) {
  if (align == FK_ALIGN_AUTO) return "auto";
  return align >= 0 && align < (int)(sizeof align_names / sizeof *align_names) ? align_names[align] : NULL;
}

int fk_align_from_name(const char *name) {
  if (name && !strcmp(name, "auto")) return FK_ALIGN_AUTO;
  for (int i = 0; name && i < (int)(sizeof align_names / sizeof *align_names); i++)
    if (!strcmp(name, align_names[i])) return i;
  return -2;
}

/* The row of role whose option is `option`; -1 if none. */
static int option_net(fk_role role, int option) {
  for (int id = 0; id < FK_NUM_NETS; id++)
    if (fk_nets[id].role == role && fk_nets[id].option == option) return id;
  return -1;
}

static const char *option_name(fk_role role, int option) {
  int id = option_net(role, option);
  if (id < 0) return NULL;
  return fk_nets[id].option_name ? fk_nets[id].option_name : fk_nets[id].name;
}

static int option_from_name(fk_role role, const char *name) {
  for (int id = 0; name && id < FK_NUM_NETS; id++)
    if (fk_nets[id].role == role && !strcmp(name, option_name(role, fk_nets[id].option))) return fk_nets[id].option;
  return -1;
}

size_t fk_names(const char *(*name)(int), char *buf, size_t size) {
  size_t len = 0;
  if (size) buf[0] = '\0';
  for (int i = 0; name(i); i++) {
    int n = snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0, "%s%s", i ? ", " : "", name(i));
    len += n > 0 ? (size_t)n : 0;
  }
  return len;
}

const char *fk_detector_name(int d) { return option_name(FK_ROLE_DETECTOR, d); }
int fk_detector_from_name(const char *name) { return option_from_name(FK_ROLE_DETECTOR, name); }
const char *fk_landmarks_name(int l) { return option_name(FK_ROLE_LANDMARKS, l); }
int fk_landmarks_from_name(const char *name) { return option_from_name(FK_ROLE_LANDMARKS, name); }

unsigned fk_known_nets(void) {
  unsigned bits = 0;
  for (int id = 0; id < FK_NUM_NETS; id++) bits |= fk_nets[id].bit;
  return bits;
}

unsigned fk_all_detect_nets(void) {
  unsigned bits = 0;
  for (int id = 0; id < FK_NUM_NETS; id++)
    if (fk_nets[id].role == FK_ROLE_DETECTOR || fk_nets[id].role == FK_ROLE_LANDMARKS) bits |= fk_nets[id].bit;
  return bits;
}

int fk_detector_net(int detector) { return option_net(FK_ROLE_DETECTOR, detector); }
int fk_landmarks_net(int landmarks) { return option_net(FK_ROLE_LANDMARKS, landmarks); }

void fk_detector_input_name(const fk_options *opt, char *buf, size_t n) {
  fk_options d, *o = &d;
  int id;
  if (FK_ABI_IMPORT(fk_options_init, &d, opt) || (id = fk_detector_net(o->detector)) < 0) {
    snprintf(buf, n, "?");
    return;
  }
  const fk_detector_def *det = fk_nets[id].det;
  int size = 0;
  if (!det->fixed_w) memcpy(&size, (const char *)o + det->size_option, sizeof size);
  if (det->fixed_w) snprintf(buf, n, "%dx%d", det->fixed_w, det->fixed_h);
  else if (size) snprintf(buf, n, "%d", size);
  else snprintf(buf, n, "auto");
}

unsigned fk_detect_nets(const fk_options *opt) {
  fk_options d, *o = &d;
  if (FK_ABI_IMPORT(fk_options_init, &d, opt)) return 0;
  int det = fk_detector_net(o->detector), lmk = fk_landmarks_net(o->landmarks);
  if (det < 0 || lmk < 0) return 0;
  return fk_nets[det].bit | fk_nets[lmk].bit;
}

/* A single-net model's id hashes just its graph (so it matches what indexes
 * recorded before models could be fused); a fused model's also hashes the
 * parts' order and weights. */
int fk_model_id(const fk_models *m, int model, char *buf, size_t size) {
  if (!m || !valid_model(model)) return FK_EINVAL;
  const fk_model_def *md = &fk_model_defs[model];
  uint64_t h = 0;
  for (int p = 0; p < md->nparts; p++) {
    const nn_graph *g = m->graph[md->part[p]];
    if (!g) return FK_EINVAL;
    uint64_t gh = nn_graph_fingerprint(g);
    if (md->nparts == 1) {
      h = gh;
      break;
    }
    uint32_t w;
    memcpy(&w, &md->weight[p], sizeof w);
    h = nn_hash_mix(nn_hash_mix(h, gh), w);
  }
  return snprintf(buf, size, "%s-%016llx", md->name, (unsigned long long)h) < (int)size ? FK_OK : FK_EINVAL;
}

void fk_model_align_name(int model, int align, char *buf, size_t size) {
  if (!valid_model(model)) {
    snprintf(buf, size, "%s", fk_align_name(align) ? fk_align_name(align) : "?");
    return;
  }
  const fk_model_def *md = &fk_model_defs[model];
  int first = align == FK_ALIGN_AUTO ? fk_nets[md->part[0]].rec->align : align, same = 1;
  size_t o = 0;
  buf[0] = '\0';
  for (int p = 0; p < md->nparts; p++) {
    int a = align == FK_ALIGN_AUTO ? fk_nets[md->part[p]].rec->align : align;
    same &= a == first;
    if (o < size) o += (size_t)snprintf(buf + o, size - o, "%s%s", p ? "+" : "", fk_align_name(a));
  }
  if (same) snprintf(buf, size, "%s", fk_align_name(first));
}
