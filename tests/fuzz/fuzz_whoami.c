/* fuzz_whoami.c - libFuzzer harness for mtq_whoami_from_bson, which reads
 * the worker documents of the whoami collection: written by any version of
 * mtq-worker, and editable by hand.
 *
 * Input: the bytes of one BSON document (its length prefix and final NUL
 * are made to fit the input).  Besides not crashing, the lenient reader
 * must give a document that the writer can write and the reader reads to
 * the same document again (a fixed point), with only valid names in its
 * lists, so that what mtqd's placement and the CLI use is what a worker
 * could have sent. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_bson.h"
#include "mtq_whoami.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bson_t doc;
  uint8_t *bytes = fuzz_bson_doc(data, size, &doc);
  if (!bytes) {
    return 0;
  }
  mtq_whoami_t *w = malloc(sizeof *w), *again = malloc(sizeof *again);
  mtq_whoami_init(w);
  mtq_whoami_init(again);
  if (mtq_whoami_from_bson(w, &doc)) {
    if (!mtq_name_valid(w->id)) {
      fuzz_bson_fail("fuzz_whoami", "accepted an invalid worker id", &doc);
    }
    for (size_t i = 0; i < w->n_channels; i++) {
      if (!mtq_name_valid(w->channels[i])) {
        fuzz_bson_fail("fuzz_whoami", "accepted an invalid channel name", &doc);
      }
    }
    for (size_t i = 0; i < w->n_functions; i++) {
      if (!mtq_name_valid(w->functions[i].name) || !mtq_name_valid(w->functions[i].version)) {
        fuzz_bson_fail("fuzz_whoami", "accepted an invalid function", &doc);
      }
    }
    bson_t out = BSON_INITIALIZER, out2 = BSON_INITIALIZER;
    mtq_whoami_to_bson(w, &out);
    if (!mtq_whoami_from_bson(again, &out)) {
      fuzz_bson_fail("fuzz_whoami", "written back, the document no longer reads", &out);
    }
    mtq_whoami_to_bson(again, &out2);
    if (!bson_equal(&out, &out2)) {
      fuzz_bson_fail("fuzz_whoami", "a round trip changed the document", &out);
    }
    bson_destroy(&out2);
    bson_destroy(&out);
  }
  mtq_whoami_cleanup(w);
  mtq_whoami_cleanup(again);
  free(w);
  free(again);
  free(bytes);
  return 0;
}
