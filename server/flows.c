/* flows.c - mtqd's flow duty: moves every unfinished flow on (see
 * mtq_flow.h and common/store/flows.c).
 *
 * Each pass reads the unfinished flows and, in one read, how their shards
 * ended; plans each flow (mtq_flow_plan, pure); enqueues the steps the plan
 * starts (their shards' dedupe keys make a second start find the first
 * tasks); cancels what a failed or cancelled flow still runs; then writes
 * the flow.  A crash anywhere leaves the flow as last written, and the
 * next pass, by any mtqd, plans the same from the same facts: no step is
 * lost or started twice.  Several mtqd may run it at once. */
#include <string.h>

#include "coordinator_private.h"

#define TRIM_EVERY_MS 60000
#define ENDS_KEPT_MS (10 * 60 * 1000)
/* Shards without an end record looked up in results per flow and pass,
 * every REPAIR_EVERY_MS. */
#define REPAIR_MAX 64
#define REPAIR_EVERY_MS 30000

static void say(mtq_coordinator_t *co, const mtq_flow_t *f, mtq_flow_state_t was,
                const mtq_step_state_t *were) {
  char hex[25];
  bson_oid_to_string(&f->id, hex);
  const char *name = f->name[0] ? f->name : "-";
  for (size_t i = 0; i < f->n_steps; i++) {
    const mtq_step_t *s = &f->steps[i];
    if (s->state == were[i]) {
      continue;
    }
    if (s->state == MTQ_STEP_RUNNING) {
      mtq__count(co, "coordinator_flow_steps_started", NULL, NULL, 1);
      mtq_info("flow %s (%s): step %s started, %d task%s", hex, name, s->name, s->shards,
               s->shards == 1 ? "" : "s");
    } else {
      mtq_info("flow %s (%s): step %s %s%s%s", hex, name, s->name, mtq_step_state_name(s->state),
               s->error ? ": " : "", s->error ? s->error : "");
    }
  }
  if (f->status != was) {
    mtq_log(f->status == MTQ_FLOW_DONE ? MTQ_LOG_INFO : MTQ_LOG_WARN, "flow %s (%s) %s%s%s", hex,
            name, mtq_flow_state_name(f->status), f->reason ? ": " : "",
            f->reason ? f->reason : "");
  }
}

/* One flow's pass.  False (error set) leaves it to the next pass. */
static bool drive(mtq_coordinator_t *co, mtq_flow_t *f, const mtq_flow_ends_t *ends,
                  bool repair, bson_error_t *error) {
  mtq_flow_state_t was = f->status;
  mtq_step_state_t *were = bson_malloc0((f->n_steps + 1) * sizeof *were);
  bool *running = bson_malloc0(f->n_steps + 1);
  for (size_t i = 0; i < f->n_steps; i++) {
    were[i] = f->steps[i].state;
    running[i] = f->steps[i].state == MTQ_STEP_RUNNING;
  }
  char hex[25];
  bson_oid_to_string(&f->id, hex);
  bool ok = true;
  /* The external steps' tasks every pass (their ends are not noted for
   * the flow), the others' every REPAIR_EVERY_MS. */
  size_t repaired = 0;
  ok = mtq_store_flow_repair(co->store, f, ends, repair, REPAIR_MAX, &repaired, error);
  if (repaired && repair) {
    mtq_info("flow %s: %zu shard end%s without a record looked up", hex, repaired,
             repaired == 1 ? "" : "s");
  }
  mtq_flow_plan_t plan;
  mtq_flow_plan(f, ends, mtq_now_ms(), &plan);
  for (size_t k = 0; ok && k < plan.n_start && !mtq__coordinator_stopping(co); k++) {
    mtq_step_t *s = &f->steps[plan.start[k]];
    ok = mtq_store_flow_start(co->store, f, plan.start[k], co->ring, MTQD_ACTOR, error);
    if (!ok && !mtq_error_is_transient(error) &&
        !(error->domain == MTQ_ERROR_DOMAIN && error->code == MTQ_ERR_FULL)) {
      /* It will never start (its args with its parents' outcomes are too
       * large, its template unreadable): failed, for the plan to judge. */
      bson_free(s->error);
      s->error = bson_strdup_printf("cannot start: %s", error->message);
      s->state = MTQ_STEP_FAILED;
      s->ended_at = mtq_now_ms();
      s->shards_failed = s->shards;
      ok = true;
    } else if (!ok) {
      mtq__error_prefix(error, "flow %s: starting step %s", hex, s->name);
    }
  }
  for (size_t i = 0; ok && i < f->n_steps; i++) {
    /* What a failed or cancelled flow still runs, and the blocked tasks of
     * a held step that will never start. */
    if ((plan.cancel_running && running[i]) ||
        (f->steps[i].held && were[i] == MTQ_STEP_WAITING &&
         f->steps[i].state == MTQ_STEP_SKIPPED)) {
      mtq_store_flow_cancel_step(co->store, f, i, MTQD_ACTOR);
    }
  }
  if (ok && plan.changed && !mtq__coordinator_stopping(co)) {
    ok = mtq_store_flow_save(co->store, f, was, were, MTQD_ACTOR, error);
    if (ok) {
      say(co, f, was, were);
    } else {
      mtq__error_prefix(error, "flow %s", hex);
    }
  }
  mtq_flow_plan_cleanup(&plan);
  bson_free(running);
  bson_free(were);
  return ok;
}

bool mtq__flows_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_coordinator_t *co = d->data;
  mtq_flow_t *list = NULL;
  size_t n = 0;
  if (!mtq_store_flows(co->store, true, 0, &list, &n, error)) {
    mtq__error_prefix(error, "reading the flows");
    return false;
  }
  mtq_flow_ends_t *ends = bson_malloc0((n + 1) * sizeof *ends);
  bool ok = mtq_store_flow_ends(co->store, list, n, ends, error);
  if (!ok) {
    mtq__error_prefix(error, "reading the ends of the flows' shards");
  }
  int64_t now = mtq_now_ms();
  bool repair = now - co->flows_repaired_ms >= REPAIR_EVERY_MS;
  for (size_t i = 0; ok && i < n && !mtq__coordinator_stopping(co); i++) {
    bson_error_t err;
    if (!drive(co, &list[i], &ends[i], repair, &err)) {
      if (ok) {
        *error = err;
      }
      ok = false;
      if (!mtq_error_is_transient(&err)) {
        ok = true; /* this flow's trouble; the others go on */
        mtq_warn("%s", err.message);
      }
    }
  }
  if (ok && repair) {
    co->flows_repaired_ms = now;
  }
  if (ok && now - co->flows_trimmed_ms >= TRIM_EVERY_MS) {
    if (mtq_store_flow_trim(co->store, list, n, ENDS_KEPT_MS, error)) {
      co->flows_trimmed_ms = now;
    } else {
      mtq__error_prefix(error, "trimming the flows' end records");
      ok = false;
    }
  }
  for (size_t i = 0; i < n; i++) {
    mtq_flow_ends_cleanup(&ends[i], &list[i]);
  }
  bson_free(ends);
  mtq_flow_list_free(list, n);
  return ok;
}
