/* fuzz_bson.h - what the harnesses that read one BSON document share
 * (fuzz_task, fuzz_whoami): the input made into a document, and the report
 * of a failure, which names the document.  Header-only: each harness is a
 * program of its own. */
#ifndef MTQ_FUZZ_BSON_H
#define MTQ_FUZZ_BSON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

/* Makes the input one document in *doc.  Most mutations insert or erase
 * bytes: the length prefix and final NUL are set to fit, or nearly all of
 * them would be thrown away; a valid document is left unchanged.  Returns
 * the bytes *doc reads (caller frees them, after its last use of *doc), or
 * NULL when they are still not a valid document: the driver hands the
 * store only well-formed documents (the server sent them), so such inputs
 * are not interesting. */
static inline uint8_t *fuzz_bson_doc(const uint8_t *data, size_t size, bson_t *doc) {
  if (size < 5 || size > INT32_MAX) {
    return NULL;
  }
  uint8_t *bytes = malloc(size);
  memcpy(bytes, data, size);
  uint32_t len_le = BSON_UINT32_TO_LE((uint32_t)size);
  memcpy(bytes, &len_le, 4);
  bytes[size - 1] = 0;
  size_t offset;
  if (!bson_init_static(doc, bytes, size) || !bson_validate(doc, BSON_VALIDATE_NONE, &offset)) {
    free(bytes);
    return NULL;
  }
  return bytes;
}

/* Reports what the harness found wrong with doc and aborts, so that
 * libFuzzer keeps the input. */
static inline void fuzz_bson_fail(const char *harness, const char *what, const bson_t *doc) {
  char *json = bson_as_canonical_extended_json(doc, NULL);
  fprintf(stderr, "%s: %s\n  document: %s\n", harness, what, json ? json : "(not printable)");
  bson_free(json);
  abort();
}

#endif
