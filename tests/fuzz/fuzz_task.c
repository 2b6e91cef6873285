/* fuzz_task.c - libFuzzer harness for mtq_task_from_bson, which reads task
 * documents from the database, where anyone with access may have edited
 * them by hand.
 *
 * Input: the bytes of one BSON document (its length prefix and final NUL
 * are made to fit the input).  Besides not crashing, a document
 * that is accepted must survive a round trip: written back with
 * mtq_task_to_bson (as the store does when it moves a task) it must be read
 * again, and to the same task, or a task could be moved into a lane from
 * which no worker can read it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_bson.h"
#include "mtq_task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bson_t doc;
  uint8_t *bytes = fuzz_bson_doc(data, size, &doc);
  if (!bytes) {
    return 0;
  }
  mtq_task_t task;
  mtq_task_init(&task);
  bson_error_t error;
  if (mtq_task_from_bson(&task, &doc, "fuzz", &error)) {
    bson_t out = BSON_INITIALIZER;
    mtq_task_to_bson(&task, &out);
    mtq_task_t again;
    mtq_task_init(&again);
    if (!mtq_task_from_bson(&again, &out, "fuzz", &error)) {
      fprintf(stderr, "fuzz_task: written back, the task no longer reads: %s\n", error.message);
      fuzz_bson_fail("fuzz_task", "round trip refused", &out);
    }
    /* Reading and writing again must be a fixed point: anything else means
     * a field was changed on its way through. */
    bson_t out2 = BSON_INITIALIZER;
    mtq_task_to_bson(&again, &out2);
    if (!bson_equal(&out, &out2)) {
      fuzz_bson_fail("fuzz_task", "round trip changed the task", &out);
    }
    bson_destroy(&out2);
    bson_destroy(&out);
    mtq_task_cleanup(&again);
  }
  mtq_task_cleanup(&task);
  free(bytes);
  return 0;
}
