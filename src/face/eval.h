/*
 * eval.h - internals the evaluations share (eval.c): the worker loop over
 * images and its per-thread context, error text into a caller's buffer,
 * and reading a file of lines.
 */
#ifndef FK_FACE_EVAL_H
#define FK_FACE_EVAL_H

#include "base/error.h"
#include "face/face.h"

#define FK_EVAL_MAX_SESSIONS 4

/* One worker's view: its sessions, made from the loop's options in order. */
typedef struct fk_eval_ctx {
  fk_session *s[FK_EVAL_MAX_SESSIONS];
  struct loop *loop;
} fk_eval_ctx;

typedef void (*fk_image_fn)(fk_eval_ctx *c, int i, void *user);

/* Calls fn(c, i, user) for every i in [0, n) on eo->jobs threads (0: the
 * cores), each with sessions made from opts[0..nopts) at one inference
 * thread. FK_OK; FK_ECANCELED when eo->cancel was set; or the failure to
 * make a session (err says why). */
int fk_eval_images(const fk_models *m, const fk_options *opts, int nopts, int n, fk_image_fn fn, void *user,
                   const fk_eval_options *eo, char *err, size_t errlen);

/* Passes an image's failure to eo->on_error, serialized. */
void fk_eval_report(fk_eval_ctx *c, const char *path, const char *message);


/* The lines of a text file without their line ends. */
int fk_eval_read_lines(const char *path, char ***lines, int *n, char *err, size_t errlen);
void fk_eval_free_lines(char **lines, int n);

#endif /* FK_FACE_EVAL_H */
