/*
 * abi.c - reading a caller's options struct of any earlier layout (abi.h).
 */
#include "base/abi.h"

#include <string.h>

#include "facekit.h"

size_t fk_abi_size(const void *in) {
  size_t n = 0;
  if (in) memcpy(&n, in, sizeof n);
  return n;
}

int fk_abi_import(void *out, size_t size, const void *in) {
  if (!in) return FK_OK;
  size_t n = fk_abi_size(in);
  if (n < sizeof n || n > size) return FK_EINVAL;
  memcpy(out, in, n);
  memcpy(out, &size, sizeof size);
  return FK_OK;
}
