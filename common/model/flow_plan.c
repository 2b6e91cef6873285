/* flow_plan.c - what a flow does next, from how its shards ended (see
 * mtq_flow_plan in mtq_flow.h).  Pure: mtqd reads the flow and its shard
 * ends, plans, then writes the flow and starts the steps planned.  Planning
 * twice from the same facts plans the same, which is what lets two
 * coordinators drive one flow (their writes converge; the shards' dedupe
 * keys keep a step from being enqueued twice). */
#include <math.h>
#include <string.h>

#include "mtq_flow.h"

void mtq_flow_plan_cleanup(mtq_flow_plan_t *p) {
  bson_free(p->start);
  memset(p, 0, sizeof *p);
}

static void set_error(mtq_step_t *s, const char *text) {
  bson_free(s->error);
  s->error = bson_strdup(text);
}

static void end_step(mtq_step_t *s, mtq_step_state_t to, int64_t now_ms, mtq_flow_plan_t *plan) {
  s->state = to;
  s->ended_at = now_ms;
  plan->changed = true;
}

/* Counts a running step's ended shards; ends it once all have ended. */
static void count_shards(mtq_step_t *s, const mtq_state_t *status, int64_t now_ms,
                         mtq_flow_plan_t *plan) {
  int32_t done = 0, failed = 0;
  for (int32_t k = 0; status && k < s->shards; k++) {
    if (status[k] == MTQ_STATE_DONE) {
      done++;
    } else if (status[k] != MTQ_STATE_INVALID) {
      failed++;
    }
  }
  if (done != s->shards_done || failed != s->shards_failed) {
    s->shards_done = done;
    s->shards_failed = failed;
    plan->changed = true;
  }
  if (done + failed == s->shards) {
    if (failed) {
      char why[128];
      snprintf(why, sizeof why, "%d of %d shard%s did not end done", failed, s->shards,
               s->shards == 1 ? "" : "s");
      set_error(s, why);
    }
    end_step(s, failed ? MTQ_STEP_FAILED : MTQ_STEP_DONE, now_ms, plan);
  }
}

/* The most shards of parent p that child c lets fail. */
static int32_t tolerated(const mtq_step_t *p, const mtq_step_t *c) {
  int32_t need = (int32_t)ceil((double)p->shards * (1.0 - c->tolerance) - 1e-9);
  return p->shards - (need < 0 ? 0 : need);
}

typedef enum { WAIT, START, SKIP } verdict_t;

/* Whether waiting step c may start: every parent ended, each done or failed
 * within c's tolerance.  why says what keeps it from ever starting. */
static verdict_t judge(const mtq_flow_t *f, const mtq_step_t *c, char *why, size_t size) {
  for (size_t k = 0; k < c->n_after; k++) {
    const mtq_step_t *p = &f->steps[c->after[k]];
    if (!mtq_step_state_is_terminal(p->state)) {
      return WAIT;
    }
  }
  for (size_t k = 0; k < c->n_after; k++) {
    const mtq_step_t *p = &f->steps[c->after[k]];
    if (p->state == MTQ_STEP_SKIPPED || p->state == MTQ_STEP_CANCELLED) {
      snprintf(why, size, "step %s was %s", p->name, mtq_step_state_name(p->state));
      return SKIP;
    }
    if (p->state == MTQ_STEP_FAILED && p->shards_failed > tolerated(p, c)) {
      snprintf(why, size,
               "step %s: %d of %d shard%s failed, and step %s tolerates %d (tolerance %g)",
               p->name, p->shards_failed, p->shards, p->shards == 1 ? "" : "s", c->name,
               tolerated(p, c), c->tolerance);
      return SKIP;
    }
  }
  return START;
}

/* A failed step none of whose children may start: the failure the flow
 * cannot tolerate (a leaf's failure, or a child that would not take it). */
static bool untolerated(const mtq_flow_t *f, size_t i, char *why, size_t size) {
  const mtq_step_t *p = &f->steps[i];
  if (p->state != MTQ_STEP_FAILED) {
    return false;
  }
  bool has_child = false;
  for (size_t c = 0; c < f->n_steps; c++) {
    const mtq_step_t *s = &f->steps[c];
    for (size_t k = 0; k < s->n_after; k++) {
      if (s->after[k] != i) {
        continue;
      }
      has_child = true;
      if (p->shards_failed > tolerated(p, s)) {
        snprintf(why, size, "step %s: %d of %d shard%s failed, and step %s tolerates %d",
                 p->name, p->shards_failed, p->shards, p->shards == 1 ? "" : "s", s->name,
                 tolerated(p, s));
        return true;
      }
    }
  }
  if (!has_child) {
    snprintf(why, size, "step %s failed: %s", p->name, p->error ? p->error : "a shard failed");
    return true;
  }
  return false;
}

/* The flow ends: what has not started is skipped, what runs is cancelled. */
static void close_flow(mtq_flow_t *f, mtq_flow_state_t to, const char *reason, int64_t now_ms,
                       mtq_flow_plan_t *plan) {
  for (size_t i = 0; i < f->n_steps; i++) {
    mtq_step_t *s = &f->steps[i];
    if (s->state == MTQ_STEP_WAITING) {
      set_error(s, to == MTQ_FLOW_CANCELLED ? "the flow was cancelled" : "the flow failed");
      end_step(s, MTQ_STEP_SKIPPED, now_ms, plan);
    } else if (s->state == MTQ_STEP_RUNNING) {
      set_error(s, to == MTQ_FLOW_CANCELLED ? "the flow was cancelled" : "the flow failed");
      end_step(s, MTQ_STEP_CANCELLED, now_ms, plan);
      plan->cancel_running = true;
    }
  }
  if (f->status != to) {
    f->status = to;
    bson_free(f->reason);
    f->reason = bson_strdup(reason);
    plan->changed = true;
  }
  if (!f->finished_at) {
    f->finished_at = now_ms;
    plan->changed = true;
  }
}

void mtq_flow_plan(mtq_flow_t *f, const mtq_flow_ends_t *ends, int64_t now_ms,
                   mtq_flow_plan_t *plan) {
  memset(plan, 0, sizeof *plan);
  plan->start = bson_malloc0((f->n_steps + 1) * sizeof *plan->start);
  if (f->status == MTQ_FLOW_CANCELLED) {
    /* An operator's cancel: mtqd finishes it (skips, cancels). */
    close_flow(f, MTQ_FLOW_CANCELLED, f->reason ? f->reason : "cancelled", now_ms, plan);
    return;
  }
  if (f->status != MTQ_FLOW_RUNNING && f->status != MTQ_FLOW_SUSPENDED) {
    return;
  }
  /* Suspended: what ends is counted and judged, nothing new starts. */
  bool hold = f->status == MTQ_FLOW_SUSPENDED;
  for (size_t i = 0; i < f->n_steps; i++) {
    if (f->steps[i].state == MTQ_STEP_RUNNING) {
      count_shards(&f->steps[i], ends->status ? ends->status[i] : NULL, now_ms, plan);
    }
  }
  char why[512];
  for (size_t i = 0; i < f->n_steps; i++) {
    if (untolerated(f, i, why, sizeof why)) {
      close_flow(f, MTQ_FLOW_FAILED, why, now_ms, plan);
      return;
    }
  }
  /* Steps in any order: a start does not end a step, so one pass sees
   * every step that may start now. */
  for (size_t i = 0; i < f->n_steps; i++) {
    mtq_step_t *s = &f->steps[i];
    if (s->state != MTQ_STEP_WAITING) {
      continue;
    }
    switch (judge(f, s, why, sizeof why)) {
    case START:
      if (hold) {
        break;
      }
      s->state = MTQ_STEP_RUNNING;
      s->started_at = now_ms;
      plan->start[plan->n_start++] = i;
      plan->changed = true;
      break;
    case SKIP:
      /* untolerated() has already failed the flow for any such parent;
       * this is the skipped or cancelled parent's child. */
      set_error(s, why);
      end_step(s, MTQ_STEP_SKIPPED, now_ms, plan);
      break;
    case WAIT:
      break;
    }
  }
  bool all_ended = true;
  for (size_t i = 0; i < f->n_steps; i++) {
    all_ended = all_ended && mtq_step_state_is_terminal(f->steps[i].state);
  }
  if (all_ended) {
    f->status = MTQ_FLOW_DONE;
    f->finished_at = now_ms;
    plan->changed = true;
  }
}
