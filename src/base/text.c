/*
 * text.c - numbers as text (text.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/text.h"

int fk_float_text(char *buf, size_t size, float v) {
  char tmp[32];
  int n = 0;
  for (int digits = 6; digits <= 9; digits++) { /* 9 always read back */
    n = snprintf(tmp, sizeof tmp, "%.*g", digits, (double)v);
    if (strtof(tmp, NULL) == v) break;
  }
  return snprintf(buf, size, "%s", tmp) < 0 ? -1 : n;
}
