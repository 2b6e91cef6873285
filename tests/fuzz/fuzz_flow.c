/* fuzz_flow.c - libFuzzer harness for mtq_flow_from_bson and
 * mtq_schedule_from_bson, which read the documents of the flows and
 * schedules collections: written by mtq, and editable by hand.
 *
 * Input: the bytes of one BSON document (its length prefix and final NUL
 * are made to fit the input), read as a flow and as a schedule.  Besides
 * not crashing: an accepted flow is valid (mtq_flow_validate), writes and
 * reads back to the same document, and can be planned, whatever its
 * shards' ends (some of them ended done, some dead, some not yet, chosen by
 * the input), without leaving a step running whose shards all ended; an
 * accepted schedule writes and reads back to the same document, and its
 * times compile or fail cleanly. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_bson.h"
#include "mtq_flow.h"
#include "mtq_schedule.h"

static void plan_it(mtq_flow_t *f, const uint8_t *data, size_t size, const bson_t *doc) {
  mtq_flow_ends_t ends = {calloc(f->n_steps + 1, sizeof *ends.status)};
  size_t at = 0;
  for (size_t i = 0; i < f->n_steps; i++) {
    if (f->steps[i].state == MTQ_STEP_WAITING) {
      continue;
    }
    ends.status[i] = malloc((size_t)f->steps[i].shards * sizeof **ends.status);
    for (int32_t k = 0; k < f->steps[i].shards; k++) {
      uint8_t b = size ? data[at++ % size] : 0;
      ends.status[i][k] = b % 3 == 0 ? MTQ_STATE_DONE : b % 3 == 1 ? MTQ_STATE_DEAD
                                                                   : MTQ_STATE_INVALID;
    }
  }
  mtq_flow_plan_t plan;
  mtq_flow_plan(f, &ends, 1800000000000LL, &plan);
  for (size_t k = 0; k < plan.n_start; k++) {
    if (plan.start[k] >= f->n_steps || f->steps[plan.start[k]].state != MTQ_STEP_RUNNING) {
      fuzz_bson_fail("fuzz_flow", "planned to start a step it did not mark running", doc);
    }
  }
  if (mtq_flow_state_is_terminal(f->status)) {
    for (size_t i = 0; i < f->n_steps; i++) {
      if (f->steps[i].state == MTQ_STEP_WAITING) {
        fuzz_bson_fail("fuzz_flow", "an ended flow left a step waiting", doc);
      }
    }
  }
  mtq_flow_plan_cleanup(&plan);
  for (size_t i = 0; i < f->n_steps; i++) {
    free(ends.status[i]);
  }
  free(ends.status);
}

static void as_flow(const bson_t *doc, const uint8_t *data, size_t size) {
  mtq_flow_t f, again;
  mtq_flow_init(&f);
  mtq_flow_init(&again);
  bson_error_t error;
  if (mtq_flow_from_bson(&f, doc, &error)) {
    if (!mtq_flow_validate(&f, &error)) {
      fuzz_bson_fail("fuzz_flow", "accepted a flow that does not validate", doc);
    }
    bson_t out = BSON_INITIALIZER, out2 = BSON_INITIALIZER;
    mtq_flow_to_bson(&f, &out);
    if (!mtq_flow_from_bson(&again, &out, &error)) {
      fuzz_bson_fail("fuzz_flow", "written back, the flow no longer reads", &out);
    }
    mtq_flow_to_bson(&again, &out2);
    if (!bson_equal(&out, &out2)) {
      fuzz_bson_fail("fuzz_flow", "a round trip changed the flow", &out);
    }
    bson_destroy(&out2);
    bson_destroy(&out);
    plan_it(&f, data, size, doc);
  }
  mtq_flow_cleanup(&again);
  mtq_flow_cleanup(&f);
}

static void as_schedule(const bson_t *doc) {
  mtq_schedule_t s, again;
  mtq_schedule_init(&s);
  mtq_schedule_init(&again);
  bson_error_t error;
  if (mtq_schedule_from_bson(&s, doc, &error)) {
    bson_t out = BSON_INITIALIZER, out2 = BSON_INITIALIZER;
    mtq_schedule_to_bson(&s, &out);
    if (!mtq_schedule_from_bson(&again, &out, &error)) {
      fuzz_bson_fail("fuzz_flow", "written back, the schedule no longer reads", &out);
    }
    mtq_schedule_to_bson(&again, &out2);
    if (!bson_equal(&out, &out2)) {
      fuzz_bson_fail("fuzz_flow", "a round trip changed the schedule", &out);
    }
    bson_destroy(&out2);
    bson_destroy(&out);
    /* No zone files are read here: the cron alone, in UTC. */
    if (!s.tz[0]) {
      mtq_schedule_clock_t c;
      if (mtq_schedule_clock_init(&c, &s, "/nonexistent", &error)) {
        int64_t tick;
        (void)mtq_schedule_due(&s, &c, 1800000000000LL, &tick);
        mtq_schedule_clock_cleanup(&c);
      }
    }
  }
  mtq_schedule_cleanup(&again);
  mtq_schedule_cleanup(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bson_t doc;
  uint8_t *bytes = fuzz_bson_doc(data, size, &doc);
  if (!bytes) {
    return 0;
  }
  as_flow(&doc, data, size);
  as_schedule(&doc);
  free(bytes);
  return 0;
}
