/*
 * sha256.c - SHA-256 of a whole buffer as hex, through nettle. The index
 * records each image's content hash to recognize a file that moved or was
 * only touched; the hex matches `sha256sum`.
 */
#include <stdio.h>

#include <nettle/sha2.h>

#include "store/store.h"

void fk_sha256_hex(const void *data, size_t n, char out[65]) {
  struct sha256_ctx ctx;
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_init(&ctx);
  sha256_update(&ctx, n, data);
  sha256_digest(&ctx, sizeof digest, digest);
  for (int i = 0; i < SHA256_DIGEST_SIZE; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
}
