/*
 * text.h - numbers as text.
 */
#ifndef FK_BASE_TEXT_H
#define FK_BASE_TEXT_H

#include <stddef.h>

/* v with the fewest significant digits that read back (strtof) as v: 0.6f
 * is "0.6", not the widened double's 0.60000002384185791. Returns what
 * snprintf does. */
int fk_float_text(char *buf, size_t size, float v);

#endif /* FK_BASE_TEXT_H */
