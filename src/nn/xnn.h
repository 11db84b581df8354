/*
 * xnn.h - the XNNPACK backend of nn_runtime, and the only place facekit
 * touches XNNPACK's API (which changed upstream after the Debian snapshot).
 */
#ifndef FK_NN_XNN_H
#define FK_NN_XNN_H

#include "nn/nn.h"

typedef struct nn_xnn nn_xnn;

int nn_xnn_new(const nn_graph *g, struct pthreadpool *pool, nn_xnn **out);
float *nn_xnn_input(nn_xnn *x);
int nn_xnn_run(nn_xnn *x);
const float *nn_xnn_output(const nn_xnn *x, int i);
void nn_xnn_free(nn_xnn *x);

#endif /* FK_NN_XNN_H */
