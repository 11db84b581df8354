/*
 * abi.h - reading a caller's options struct of any earlier layout.
 *
 * Every options struct the caller allocates (fk_options, fk_index_options,
 * fk_search_options, fk_tracker_options, fk_eval_options) starts with
 * `size_t size`, which its fk_*_init sets to the struct's size in the
 * header the caller was compiled with, and new fields are only ever added
 * at the end (SQLite's iVersion on sqlite3_io_methods is the model). A
 * public function takes the caller's struct through FK_ABI_IMPORT into one
 * of this library's own layout: this library's defaults, with the caller's
 * first `size` bytes over them, so a program built against an older header
 * gets the defaults for the fields it has never heard of, and the library
 * never reads past the caller's struct.
 */
#ifndef FK_BASE_ABI_H
#define FK_BASE_ABI_H

#include <stddef.h>

/* Lays the caller's struct `in` (NULL: none, the defaults stand) over out,
 * a struct of `size` bytes that holds the defaults, and sets out's size to
 * `size`. FK_EINVAL, out left at the defaults, when in's size is none a
 * release had: smaller than the size field (the struct was never
 * initialized by its fk_*_init) or larger than this library's (it comes
 * from a newer header than the library). */
int fk_abi_import(void *out, size_t size, const void *in);

/* out = init()'s defaults, then fk_abi_import(in): the status. */
#define FK_ABI_IMPORT(init, out, in) (init(out), fk_abi_import((out), sizeof *(out), (in)))

/* The size field of a caller's struct (for messages), 0 for NULL. */
size_t fk_abi_size(const void *in);

#endif /* FK_BASE_ABI_H */
