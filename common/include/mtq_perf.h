/* mtq_perf.h - how well each worker runs each function, computed from run
 * records (one per ended attempt, collection `runs`: mtq_store_runs).
 *
 * Pure arithmetic, no database: the store reads the records, this module
 * turns them into figures that an operator (`mtq stats --func`, `mtq
 * workers`) or a dispatcher can compare between workers. */
#ifndef MTQ_PERF_H
#define MTQ_PERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtq_state.h"
#include "mtq_task.h"

/* Weight of the newest run in the moving average of run time: each run
 * counts 0.8 times as much as the one after it, so the last ten runs carry
 * about 90% of the weight. */
#define MTQ_PERF_EWMA_ALPHA 0.2

/* One ended attempt, as read from a run record. */
typedef struct {
  char worker[MTQ_NAME_MAX + 1]; /* who held the attempt */
  char func[MTQ_NAME_MAX + 1];
  char channel[MTQ_NAME_MAX + 1]; /* the task's; "" when the record has none */
  mtq_state_t outcome; /* the task's state after it: done, retry_wait, dead, queued, ... */
  int64_t run_ms;      /* from claim to end; -1 when unknown */
  int64_t wait_ms;     /* from runnable to claim; -1 when unknown */
  int64_t at_ms;       /* when it ended, ms since the epoch */
} mtq_run_t;

typedef struct {
  char worker[MTQ_NAME_MAX + 1];
  char func[MTQ_NAME_MAX + 1];    /* "" in figures over every function */
  int64_t n, ok;                  /* attempts ended, of which done; attempts
                                   * cancelled or suspended count in neither */
  double success_rate;            /* ok / n; 0 when n == 0 */
  int64_t p50_ms, p95_ms, max_ms; /* run time of done attempts; 0 when none */
  double ewma_ms;                 /* moving average of run time of done attempts */
  double mean_wait_ms;
} mtq_perf_t;

/* What one entry of figures covers. */
typedef enum {
  MTQ_PERF_BY_WORKER_FUNC, /* one entry per (worker, func) */
  MTQ_PERF_BY_WORKER       /* one entry per worker, over every function (func "") */
} mtq_perf_by_t;

/* Computes figures from n_runs run records (borrowed, in any order: the
 * moving average follows at_ms).  Percentiles are nearest-rank: p50 of
 * 1, 2, 3, 4 is 2.  Runs of unknown run time (or wait) count in n and ok
 * but not in the run time (or wait) figures.  *out, sorted by worker then
 * func, is bson_malloc'd (caller bson_free()s it; NULL when *n_out is 0). */
void mtq_perf_compute(const mtq_run_t *runs, size_t n_runs, mtq_perf_by_t by, mtq_perf_t **out,
                      size_t *n_out);

/* The entry of worker and func (func "" for MTQ_PERF_BY_WORKER figures) in
 * perf, or NULL.  Borrowed from perf. */
const mtq_perf_t *mtq_perf_find(const mtq_perf_t *perf, size_t n, const char *worker,
                                const char *func);

/* Appends p's figures to doc (runs, ok, success_rate, p50_ms, p95_ms,
 * max_ms, ewma_ms, mean_wait_ms): the form `mtq --json stats --func` and
 * the web API give them in.  p is borrowed. */
void mtq_perf_append(const mtq_perf_t *p, bson_t *doc);

#endif
