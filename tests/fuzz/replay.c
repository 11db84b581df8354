/*
 * replay.c - a standalone main for the fuzz targets, so that the normal
 * (gcc, ASan+UBSan) build can replay their corpora as ctest tests without
 * libFuzzer: `fuzz_NAME_replay DIR_OR_FILE...` calls the target's
 * LLVMFuzzerTestOneInput once per file (directories: every file in them,
 * not recursing, in name order, skipping dot files), each in a buffer of
 * exactly its size as libFuzzer would pass it.
 *
 * Fails (exit 1) when a path cannot be read, when the first path (the seed
 * corpus) holds no input at all (a test replaying nothing would prove
 * nothing), or when a seed named ok-* is not accepted by the target
 * (fuzz_accepted, fuzz.h): those seeds are meant to get all the way
 * through. Later paths that do not exist (a target with no regressions/
 * yet) are skipped. A crash or sanitizer report fails the run by itself.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern int fuzz_accepted; /* defined by the target (fuzz.h) */

typedef struct stats {
  int inputs, accepted, must, errors;
} stats;

/* The whole file in a buffer of exactly its size, so that ASan sees a read
 * past the end of the input. */
static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  struct stat sb;
  uint8_t *b = NULL;
  if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
    *len = (size_t)sb.st_size;
    b = malloc(*len ? *len : 1);
    if (b && fread(b, 1, *len, f) != *len) {
      free(b);
      b = NULL;
    }
  }
  fclose(f);
  return b;
}

static void run_file(const char *path, const char *base, stats *st) {
  size_t len = 0;
  uint8_t *data = read_file(path, &len);
  if (!data) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    st->errors++;
    return;
  }
  fuzz_accepted = 0;
  LLVMFuzzerTestOneInput(data, len);
  free(data);
  st->inputs++;
  st->accepted += fuzz_accepted != 0;
  if (!strncmp(base, "ok-", 3)) {
    st->must++;
    if (!fuzz_accepted) {
      fprintf(stderr, "replay: %s is an ok- seed but was not accepted\n", path);
      st->errors++;
    }
  }
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *dir, stats *st) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "replay: cannot open %s\n", dir);
    st->errors++;
    return;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char **nn = realloc(names, (n + 1) * sizeof *names);
    if (!nn || !(nn[n] = strdup(e->d_name))) {
      names = nn ? nn : names;
      st->errors++;
      break;
    }
    names = nn;
    n++;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) run_file(path, names[i], st);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  stats st = {0};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 1; i < argc; i++) {
    struct stat sb;
    int before = st.inputs;
    int found = stat(argv[i], &sb) == 0;
    if (!found && i > 1) {
      /* A target without regressions yet need not have the directory. */
      printf("replay: no %s, skipped\n", argv[i]);
    } else if (found && S_ISDIR(sb.st_mode)) {
      run_dir(argv[i], &st);
    } else {
      const char *slash = strrchr(argv[i], '/');
      run_file(argv[i], slash ? slash + 1 : argv[i], &st);
    }
    if (i == 1 && st.inputs == before) {
      fprintf(stderr, "replay: %s holds no inputs\n", argv[i]);
      st.errors++;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("replayed %d inputs in %.2f s: %d accepted (%d ok- seeds), %d errors\n", st.inputs, s,
         st.accepted, st.must, st.errors);
  return st.errors ? 1 : 0;
}
