/* mtq_flow.h - flows: documents of named steps, each a task (or N shards of
 * one) that runs after the steps it names have ended.  Pure logic: the
 * flow document (flow.c), its state tables, and the plan of what a flow
 * does next from what its shards did (flow_plan.c).  The store keeps flows
 * (common/store/flows.c), mtqd drives them (server/flows.c).
 *
 * A flow is running while any step may still run, done when every step is
 * done (or failed within the tolerance of every step after it), failed
 * with a reason when a step's failure is not tolerated, cancelled by an
 * operator; suspended by an operator (its running steps' tasks suspended,
 * its waiting steps held) until resumed.  A step is waiting (for its parents, then for its delay),
 * running (its tasks enqueued), then done (every shard done), failed (a
 * shard ended otherwise), skipped (it will never run: the flow failed or
 * was cancelled before it started) or cancelled (it was running then). */
#ifndef MTQ_FLOW_H
#define MTQ_FLOW_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtq_task.h"

#define MTQ_FLOW_STEPS_MAX 256
#define MTQ_FLOW_SHARDS_MAX 10000
#define MTQ_FLOW_AFTER_MAX 32 /* parents of one step */
/* A parent's result goes into its child's args up to this size; a larger
 * one is given by its task id only (the child reads it with mtq show). */
#define MTQ_FLOW_RESULT_INLINE_MAX (64 * 1024)

/* X(enum suffix, stored name, terminal?) */
#define MTQ_FLOW_STATE_MAP(X)         \
  X(RUNNING, "running", false)        \
  X(SUSPENDED, "suspended", false)    \
  X(DONE, "done", true)               \
  X(FAILED, "failed", true)           \
  X(CANCELLED, "cancelled", true)

typedef enum {
#define MTQ__FLOW_STATE_ENUM(e, s, t) MTQ_FLOW_##e,
  MTQ_FLOW_STATE_MAP(MTQ__FLOW_STATE_ENUM)
#undef MTQ__FLOW_STATE_ENUM
  MTQ_FLOW_STATE_COUNT,
  MTQ_FLOW_STATE_INVALID = -1
} mtq_flow_state_t;

#define MTQ_STEP_STATE_MAP(X)         \
  X(WAITING, "waiting", false)        \
  X(RUNNING, "running", false)        \
  X(DONE, "done", true)               \
  X(FAILED, "failed", true)           \
  X(SKIPPED, "skipped", true)         \
  X(CANCELLED, "cancelled", true)

typedef enum {
#define MTQ__STEP_STATE_ENUM(e, s, t) MTQ_STEP_##e,
  MTQ_STEP_STATE_MAP(MTQ__STEP_STATE_ENUM)
#undef MTQ__STEP_STATE_ENUM
  MTQ_STEP_STATE_COUNT,
  MTQ_STEP_STATE_INVALID = -1
} mtq_step_state_t;

const char *mtq_flow_state_name(mtq_flow_state_t s);
mtq_flow_state_t mtq_flow_state_parse(const char *name);
bool mtq_flow_state_is_terminal(mtq_flow_state_t s);
/* The action that makes from -> to ("finish", "fail", "cancel"), NULL when
 * the flow's table has no such edge. */
const char *mtq_flow_state_action(mtq_flow_state_t from, mtq_flow_state_t to);
const char *mtq_step_state_name(mtq_step_state_t s);
mtq_step_state_t mtq_step_state_parse(const char *name);
bool mtq_step_state_is_terminal(mtq_step_state_t s);
const char *mtq_step_state_action(mtq_step_state_t from, mtq_step_state_t to);

typedef struct {
  char name[MTQ_NAME_MAX + 1];
  size_t after[MTQ_FLOW_AFTER_MAX]; /* indexes of its parents in the flow's steps */
  size_t n_after;
  int32_t shards;   /* tasks the step runs, 1..MTQ_FLOW_SHARDS_MAX */
  double tolerance; /* share of a parent's shards that may fail, 0..1 */
  bson_t *task;     /* owned: the template of its tasks (mtq_task_from_template);
                     * NULL for an external or a held step */
  /* Steps of tasks that exist already (mtq_client_enqueue_after): an
   * external step's tasks are others' (it runs from the start, and ends
   * as they do); a held step's are blocked tasks, which starting the step
   * unblocks (instead of enqueueing tasks), and which are cancelled when
   * it is skipped. */
  bool external, held;
  mtq_step_state_t state;
  int64_t started_at; /* its tasks enqueued; 0 = not yet */
  int64_t ended_at;   /* 0 = not yet */
  bson_oid_t *tasks;  /* owned, shards of them once started; NULL before */
  int32_t shards_done, shards_failed;
  char *error;        /* owned; why it failed or was skipped; NULL = none */
} mtq_step_t;

typedef struct {
  bson_oid_t id;
  char name[MTQ_NAME_MAX + 1]; /* "" = none */
  mtq_flow_state_t status;
  char *reason; /* owned: why it failed or was cancelled; NULL = none */
  int64_t created_at, finished_at;
  mtq_step_t *steps; /* owned */
  size_t n_steps;
} mtq_flow_t;

void mtq_flow_init(mtq_flow_t *f);
void mtq_flow_cleanup(mtq_flow_t *f);
/* A new step at the end of f's steps (zeroed, waiting, 1 shard), owned by f. */
mtq_step_t *mtq_flow_add_step(mtq_flow_t *f);
/* The index of the step named name; -1 when there is none. */
long mtq_flow_step_index(const mtq_flow_t *f, const char *name);

/* Checks what a submitted flow must be: 1..MTQ_FLOW_STEPS_MAX steps with
 * distinct valid names, each with a template, shards and tolerance in
 * range, parents that exist, no cycle.  MTQ_ERR_INVALID naming the step. */
bool mtq_flow_validate(const mtq_flow_t *f, bson_error_t *error);

/* The flow document (schemas/flow.schema.json), and back: every field
 * type-checked, the result validated (mtq_flow_validate). */
void mtq_flow_to_bson(const mtq_flow_t *f, bson_t *doc);
bool mtq_flow_from_bson(mtq_flow_t *f, const bson_t *doc, bson_error_t *error);

/* "flow:<flow id>:<step>:<shard>", the dedupe key of a shard's task: it is
 * what keeps a shard from being enqueued twice, whoever starts the step and
 * however often. */
#define MTQ_FLOW_KEY_MAX (MTQ_NAME_MAX + 48)
void mtq_flow_shard_key(const bson_oid_t *flow, const char *step, int32_t shard, bool prefix,
                        char out[MTQ_FLOW_KEY_MAX]);

/* --- planning (flow_plan.c) ------------------------------------------------------ */

/* How the flow's shards ended: status[s][k] is the terminal state of
 * shard k of step s, MTQ_STATE_INVALID while it has not ended; status[s]
 * is NULL for a step not started (flowends records, common/store/flows.c). */
typedef struct {
  mtq_state_t **status;
} mtq_flow_ends_t;

/* What to do next, decided by mtq_flow_plan. */
typedef struct {
  bool changed;        /* a step's or the flow's state or counts moved: write it */
  size_t *start;       /* steps to start now: enqueue their tasks */
  size_t n_start;
  bool cancel_running; /* the flow failed or was cancelled: cancel the tasks of
                        * the steps that were running */
} mtq_flow_plan_t;

void mtq_flow_plan_cleanup(mtq_flow_plan_t *p);

/* Moves f on as far as ends and now_ms allow: running steps whose shards
 * all ended become done or failed; waiting steps whose parents ended are
 * started (all parents done, or failed within this step's tolerance: at
 * least ceil(shards * (1 - tolerance)) of each parent's shards done) or
 * skipped; the flow becomes done, or failed with its reason, and then its
 * waiting steps are skipped and its running ones to be cancelled.  A
 * cancelled flow's steps end likewise.  A step's delay is its tasks'
 * (their template's), counted from when it starts.  Writes each change into f and what to do into *plan
 * (initialised by the call).  Steps to start are marked running in f with
 * started_at = now_ms; the caller fills their tasks. */
void mtq_flow_plan(mtq_flow_t *f, const mtq_flow_ends_t *ends, int64_t now_ms,
                   mtq_flow_plan_t *plan);

#endif
