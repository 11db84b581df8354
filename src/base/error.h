/*
 * error.h - how facekit records why a call failed: a status code (FK_E*)
 * returned, and a message formatted into the buffer of the handle (or the
 * caller's buffer) that the handle's errmsg function then returns. Every
 * `_fail` of the code base is fk_fail over its own buffer:
 *   #define fail(x, ...) fk_fail((x)->err, sizeof (x)->err, __VA_ARGS__)
 */
#ifndef FK_BASE_ERROR_H
#define FK_BASE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Formats fmt into buf (size bytes, cut to fit; none when buf is NULL or
 * size 0) and returns status. */
int fk_fail(char *buf, size_t size, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int fk_vfail(char *buf, size_t size, int status, const char *fmt, va_list ap);

#ifdef __cplusplus
}
#endif
#endif /* FK_BASE_ERROR_H */
