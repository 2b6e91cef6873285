/* mtq_store_admin.h - the store as operators use it (the CLI, a web view):
 * find, list and count tasks, read their history, change them, read the
 * run records.  Every change goes through the task lifecycle's table
 * (mtq_state.h); `by` names the operator in the audit trail. */
#ifndef MTQ_STORE_ADMIN_H
#define MTQ_STORE_ADMIN_H

#include "mtq_flow.h"
#include "mtq_perf.h"
#include "mtq_schedule.h"
#include "mtq_store.h"

/* --- tasks -------------------------------------------------------------------- */

/* Finds a task by id wherever it is (lanes, delayed, results). */
bool mtq_store_find(mtq_store_t *store, const bson_oid_t *id, mtq_task_t *out,
                    bson_error_t *error);
/* Reads the recorded outcome of a task (one lookup by _id in results);
 * *found false while it has none. */
bool mtq_store_find_outcome(mtq_store_t *store, const bson_oid_t *id, mtq_task_t *out,
                            bool *found, bson_error_t *error);
/* Lists tasks; channel NULL = all channels, status MTQ_STATE_INVALID = all. */
bool mtq_store_list(mtq_store_t *store, const char *channel, mtq_state_t status, size_t limit,
                    mtq_task_list_t *out, bson_error_t *error);
/* Changes a waiting task's priority (moving it to its new lane at once). */
bool mtq_store_set_priority(mtq_store_t *store, const bson_oid_t *id, int32_t priority,
                            const char *by, bson_error_t *error);
/* Enables or disables a waiting task. */
bool mtq_store_set_enable(mtq_store_t *store, const bson_oid_t *id, bool enable, const char *by,
                          bson_error_t *error);
/* Cancels a waiting or running task (a running one's worker stops its
 * process when its next lease renewal fails); an ended task gives
 * MTQ_ERR_STATE. */
bool mtq_store_cancel(mtq_store_t *store, const bson_oid_t *id, const char *by,
                      bson_error_t *error);
/* The same, with why (NULL: "cancelled by an operator") as the task's
 * error and in its history. */
bool mtq_store_cancel_because(mtq_store_t *store, const bson_oid_t *id, const char *by,
                              const char *why, bson_error_t *error);
/* Holds a waiting task (suspended) until mtq_store_resume. */
bool mtq_store_suspend(mtq_store_t *store, const bson_oid_t *id, const char *by,
                       bson_error_t *error);
bool mtq_store_resume(mtq_store_t *store, const bson_oid_t *id, const char *by,
                      bson_error_t *error);
/* Gives a dead or failed task a new life: queued, attempts counted from 0,
 * its earlier errors kept. */
bool mtq_store_retry(mtq_store_t *store, const bson_oid_t *id, const char *by,
                     bson_error_t *error);
/* Reads a task's transitions, oldest first, into out as { "events": [...] };
 * out is initialised by the call. */
bool mtq_store_history(mtq_store_t *store, const bson_oid_t *id, bson_t *out,
                       bson_error_t *error);
/* Counts tasks per channel and status into out:
 * { "<channel>": { "queued": n, "running": n, ... }, ... }; out initialised by the call. */
bool mtq_store_stats(mtq_store_t *store, bson_t *out, bson_error_t *error);
/* Tasks of channel not yet ended (queued, delayed, running, retry_wait,
 * ...; a redundant task counts once): what max_backlog bounds.  Cheaper than
 * mtq_store_stats, which also counts the finished tasks: a producer pacing
 * itself should ask this. */
bool mtq_store_backlog(mtq_store_t *store, const char *channel, int64_t *n, bson_error_t *error);

/* --- browsing tasks (browse.c): the web view's task table ------------------ */

/* The order of a page: by one key, then by _id, which breaks ties. */
typedef enum {
  MTQ_BROWSE_CREATED_AT, /* (created_at, _id) */
  MTQ_BROWSE_PRIORITY,   /* (priority, _id): -priority is the order tasks run in,
                          * highest first and, within one, oldest first (_id ascending) */
  MTQ_BROWSE_FINISHED_AT /* (finished_at, _id): ended tasks only */
} mtq_browse_key_t;

typedef struct {
  const char *channel;    /* NULL: every declared channel */
  mtq_state_t state;      /* MTQ_STATE_INVALID: any; MTQ_STATE_DISABLED: is_enable false */
  const char *func;       /* NULL: any */
  const char *worker;     /* NULL: any */
  const char *error_text; /* NULL: any; else a substring of `error`, any case */
  mtq_browse_key_t key;
  bool descending;
  size_t limit;           /* 1..MTQ_BROWSE_LIMIT_MAX */
  /* Keyset paging: only tasks after this position in the order. */
  bool has_after;
  int64_t after_value;    /* the key's value (ms, or the priority) */
  bson_oid_t after_id;
} mtq_browse_t;

#define MTQ_BROWSE_LIMIT_MAX 500

/* One page of tasks in q's order into out (initialised by the caller);
 * *more when tasks follow it.  The position after the page is the last
 * task's (key value, id).  Live tasks are read place by place: a lane's
 * segments in age order, each bounded, skipped when its window cannot
 * hold a task of the page; ended ones from `results` in one query (on
 * FerretDB a scan of results: README, "Web dashboard"). */
bool mtq_store_browse(mtq_store_t *store, const mtq_browse_t *q, mtq_task_list_t *out, bool *more,
                      bson_error_t *error);

/* Sets *served when some worker (live or not) has announced in whoami that
 * it serves func (any version when version is NULL) on channel. */
bool mtq_store_function_served(mtq_store_t *store, const char *channel, const char *func,
                               const char *version, bool *served, bson_error_t *error);

/* --- schedules (schedules.c; schemas/schedule.schema.json) ------------------- */

/* Adds a schedule (its name is its _id): MTQ_ERR_CONFLICT "schedule NAME
 * exists" when the name is taken.  s is borrowed. */
bool mtq_store_schedule_add(mtq_store_t *store, const mtq_schedule_t *s, bson_error_t *error);
/* Reads schedule name into out (initialised by the caller); MTQ_ERR_NOT_FOUND
 * when there is none, MTQ_ERR_INVALID when its document is malformed. */
bool mtq_store_schedule_get(mtq_store_t *store, const char *name, mtq_schedule_t *out,
                            bson_error_t *error);
/* Every schedule, by name, into *out (caller frees it with
 * mtq_schedule_list_free).  A malformed document (edited by hand) is left
 * out, with a warning in the log naming it and why. */
bool mtq_store_schedules(mtq_store_t *store, mtq_schedule_t **out, size_t *n,
                         bson_error_t *error);
void mtq_schedule_list_free(mtq_schedule_t *list, size_t n);
/* Removes schedule name and its tick records; the tasks it started stay.
 * MTQ_ERR_NOT_FOUND when there is none. */
bool mtq_store_schedule_remove(mtq_store_t *store, const char *name, bson_error_t *error);
/* Pauses or resumes schedule name.  A resume fires no tick missed while it
 * was paused: the next is the first after now_ms.  MTQ_ERR_NOT_FOUND when
 * there is none. */
bool mtq_store_schedule_pause(mtq_store_t *store, const char *name, bool paused, int64_t now_ms,
                              bson_error_t *error);
/* The newest tick records of schedule name, at most limit, newest first,
 * into out (initialised by the call) as {"ticks": [...]}. */
bool mtq_store_schedule_ticks(mtq_store_t *store, const char *name, size_t limit, bson_t *out,
                              bson_error_t *error);

/* --- flows (flows.c; schemas/flow.schema.json) ------------------------------------ */

/* Submits a flow (f->id set by the caller, its steps waiting, validated by
 * mtq_flow_validate); mtqd starts its first steps at its next pass.  f is
 * borrowed. */
bool mtq_store_flow_submit(mtq_store_t *store, const mtq_flow_t *f, const char *by,
                           bson_error_t *error);
/* Reads flow id into out (initialised by the caller); MTQ_ERR_NOT_FOUND when
 * there is none. */
bool mtq_store_flow_get(mtq_store_t *store, const bson_oid_t *id, mtq_flow_t *out,
                        bson_error_t *error);
/* The flows (unfinished: only those not ended), newest first, at most limit
 * (0: all), into *out (caller frees with mtq_flow_list_free).  A malformed
 * document is left out with a warning in the log. */
bool mtq_store_flows(mtq_store_t *store, bool unfinished, size_t limit, mtq_flow_t **out,
                     size_t *n, bson_error_t *error);
void mtq_flow_list_free(mtq_flow_t *list, size_t n);
/* Cancels a running flow: its state (the flow's table), then the tasks of
 * its running steps; mtqd skips the steps that wait.  MTQ_ERR_STATE when it
 * has ended. */
bool mtq_store_flow_cancel(mtq_store_t *store, const bson_oid_t *id, const char *by,
                           bson_error_t *error);
/* Suspends a running flow (suspend) or resumes a suspended one: its state
 * (the flow's table), then every task of its running steps, waiting or
 * running (mtq_store_suspend, mtq_store_resume); mtqd starts no step of a
 * suspended flow.  MTQ_ERR_STATE when the flow is not in a state to. */
bool mtq_store_flow_suspend(mtq_store_t *store, const bson_oid_t *id, bool suspend,
                            const char *by, bson_error_t *error);
/* Cancels the tasks of one step of f that have not ended (best effort). */
void mtq_store_flow_cancel_step(mtq_store_t *store, const mtq_flow_t *f, size_t step,
                                const char *by);
/* The flow's audit trail, oldest first, into out (initialised by the call)
 * as {"events": [...]}. */
bool mtq_store_flow_history(mtq_store_t *store, const bson_oid_t *id, bson_t *out,
                            bson_error_t *error);

/* --- run records ----------------------------------------------------------- */

/* Run records kept: `runs` is a capped collection of about this many (on
 * FerretDB the oldest go in a background pass every minute, so it may hold
 * a minute's worth more).  Reading it is a full scan on FerretDB's SQLite
 * backend (about 1 s for 10,000 records on a small machine). */
#define MTQ_RUNS_MAX 10000

/* Reads the run records of func (NULL = every function), in no particular
 * order, into *out (caller bson_free()s it; NULL when *n is 0).  Records
 * without worker or function are skipped. */
bool mtq_store_runs(mtq_store_t *store, const char *func, mtq_run_t **out, size_t *n,
                    bson_error_t *error);

/* Reads the run records of func (NULL = every function) and computes one
 * entry per (worker, func).  *out is bson_malloc'd (caller bson_free), *n its length. */
bool mtq_store_perf(mtq_store_t *store, const char *func, mtq_perf_t **out, size_t *n,
                    bson_error_t *error);

#endif
