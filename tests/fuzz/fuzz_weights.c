/*
 * fuzz_weights.c - fuzz target for the TFJS weights-manifest loader,
 * nn_weights_load_files() (src/nn/weights.c), the code behind
 * nn_weights_load(): manifest JSON, shard paths, groups, shapes, dtypes and
 * quantizations, and the size checks against the shard bytes.
 *
 * Input: a multi-file input (fuzz.h): the manifest ("manifest.json"), then
 * the shards it names, e.g.
 *   [{"paths":["w.bin"],"weights":[{"name":"a","shape":[2],"dtype":"float32"}]}]
 *   \n%%file w.bin\n<8 bytes>
 * Seeds and dictionary: weights/.
 *
 * Checked on every input: a failure has a message and leaves the weights
 * empty; a loaded weight holds the product of its shape in readable floats
 * and is found by its name (nn_weights_find / nn_weights_get / nn_wlookup).
 */
#include "fuzz.h"
#include "nn/weights.h"

static size_t shape_count(const nn_weight *w) {
  size_t c = 1;
  for (int i = 0; i < w->ndim; i++) c *= (size_t)w->shape[i];
  return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_accepted = 0;
  fuzz_archive a;
  fuzz_split(data, size, "manifest.json", &a);
  nn_files fs = fuzz_files(&a);
  nn_weights w;
  char err[256];
  int rc = nn_weights_load_files(&fs, "manifest.json", &w, err, sizeof err);
  if (rc != FK_OK) {
    FUZZ_CHECK(rc < 0 && err[0] != '\0');
    FUZZ_CHECK(w.n == 0 && w.items == NULL);
    return 0;
  }
  for (int i = 0; i < w.n; i++) {
    const nn_weight *x = &w.items[i];
    FUZZ_CHECK(x->name && x->name[0] && x->data);
    FUZZ_CHECK(x->ndim >= 0 && x->ndim <= 6 && x->count == shape_count(x));
    fuzz_touch(x->data, x->count * sizeof(float));
    /* A later duplicate name is shadowed by the first one. */
    const nn_weight *y = nn_weights_find(&w, x->name);
    FUZZ_CHECK(y && !strcmp(y->name, x->name) && y <= x);
    nn_wlookup l = {.w = &w, .err = err, .errlen = sizeof err};
    FUZZ_CHECK(nn_wlookup_get(&l, y->count, "%s", x->name) == y->data ||
               (strlen(x->name) > 127 && l.failed));
  }
  nn_weights_free(&w);
  fuzz_accepted = 1;
  return 0;
}
