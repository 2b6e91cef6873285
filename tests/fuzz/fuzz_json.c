/* fuzz_json.c - libFuzzer harness for mtq_json_to_doc, which parses the args
 * of `mtq enqueue --args` and the result a task prints on stdout.
 *
 * Input: JSON text, not NUL-terminated (the worker passes its stdout buffer
 * and a length).  Besides not crashing, an accepted document must be one the
 * rest of mtq can use: valid UTF-8 (the server refuses anything else), and
 * printable as JSON again, because the worker hands args to the task as
 * JSON and the CLI prints results that way; the printed text must parse
 * again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_task.h"

/* Small enough for the fuzzer to reach the size check now and then. */
#define FUZZ_MAX_BYTES 1024

static void fail(const char *what, const uint8_t *data, size_t size) {
  fprintf(stderr, "fuzz_json: %s\n  input: %.*s\n", what, (int)size, (const char *)data);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bson_t doc;
  bson_error_t error;
  if (mtq_json_to_doc((const char *)data, size, FUZZ_MAX_BYTES, &doc, &error)) {
    size_t offset;
    if (!bson_validate(&doc, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, &offset)) {
      fail("accepted a document that is not valid BSON / UTF-8", data, size);
    }
    size_t len;
    char *json = bson_as_relaxed_extended_json(&doc, &len);
    if (!json) {
      fail("accepted a document that cannot be printed as JSON", data, size);
    }
    bson_t again;
    if (!mtq_json_to_doc(json, len, SIZE_MAX, &again, &error)) {
      fprintf(stderr, "fuzz_json: printed as %s, it does not parse again: %s\n", json,
              error.message);
      fail("round trip refused", data, size);
    }
    bson_destroy(&again);
    bson_free(json);
  }
  bson_destroy(&doc);
  return 0;
}
