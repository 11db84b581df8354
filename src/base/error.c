/*
 * error.c - formatting a failure's message into its buffer (error.h).
 */
#include "base/error.h"

#include <stdio.h>

int fk_vfail(char *buf, size_t size, int status, const char *fmt, va_list ap) {
  if (buf && size) vsnprintf(buf, size, fmt, ap);
  return status;
}

int fk_fail(char *buf, size_t size, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fk_vfail(buf, size, status, fmt, ap);
  va_end(ap);
  return status;
}
