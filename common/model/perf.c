/* perf.c - performance figures from run records (see mtq_perf.h).
 *
 * The records are sorted once, by group and then by end time, so that each
 * group is a contiguous run of records already in the order the moving
 * average needs; the percentiles sort a copy of the group's run times. */
#include <bson/bson.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_perf.h"

/* qsort has no context argument: one comparator per grouping. */
static int cmp_time(const mtq_run_t *a, const mtq_run_t *b) {
  if (a->at_ms != b->at_ms) {
    return a->at_ms < b->at_ms ? -1 : 1;
  }
  /* Equal times keep their input order, so that the result never depends
   * on the sort's whims. */
  return a < b ? -1 : a > b;
}

static int cmp_worker(const void *pa, const void *pb) {
  const mtq_run_t *a = *(const mtq_run_t *const *)pa, *b = *(const mtq_run_t *const *)pb;
  int c = strcmp(a->worker, b->worker);
  return c ? c : cmp_time(a, b);
}

static int cmp_worker_func(const void *pa, const void *pb) {
  const mtq_run_t *a = *(const mtq_run_t *const *)pa, *b = *(const mtq_run_t *const *)pb;
  int c = strcmp(a->worker, b->worker);
  if (!c) {
    c = strcmp(a->func, b->func);
  }
  return c ? c : cmp_time(a, b);
}

static int cmp_ms(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  return a < b ? -1 : a > b;
}

static bool same_group(const mtq_run_t *a, const mtq_run_t *b, mtq_perf_by_t by) {
  return strcmp(a->worker, b->worker) == 0 &&
         (by == MTQ_PERF_BY_WORKER || strcmp(a->func, b->func) == 0);
}

/* Nearest rank: the smallest value with at least pct% of the values at or
 * below it.  sorted holds n > 0 values. */
static int64_t percentile(const int64_t *sorted, size_t n, unsigned pct) {
  size_t rank = (pct * n + 99) / 100;
  return sorted[rank ? rank - 1 : 0];
}

/* Figures of one group: runs[0..n) share worker (and func), oldest first.
 * ms is scratch space for n run times. */
static void summarize(const mtq_run_t *const *runs, size_t n, mtq_perf_by_t by, int64_t *ms,
                      mtq_perf_t *p) {
  memset(p, 0, sizeof *p);
  bson_strncpy(p->worker, runs[0]->worker, sizeof p->worker);
  if (by == MTQ_PERF_BY_WORKER_FUNC) {
    bson_strncpy(p->func, runs[0]->func, sizeof p->func);
  }
  size_t n_ms = 0, n_wait = 0;
  double wait_sum = 0;
  for (size_t i = 0; i < n; i++) {
    const mtq_run_t *r = runs[i];
    if (r->outcome == MTQ_STATE_CANCELLED || r->outcome == MTQ_STATE_SUSPENDED) {
      /* Stopped from outside (an operator, or a redundant copy no longer
       * needed): says nothing about how well this worker runs the task. */
      continue;
    }
    p->n++;
    if (r->wait_ms >= 0) {
      wait_sum += (double)r->wait_ms;
      n_wait++;
    }
    if (r->outcome != MTQ_STATE_DONE) {
      continue;
    }
    p->ok++;
    if (r->run_ms >= 0) {
      /* In time order here: the average starts at the oldest run. */
      p->ewma_ms = n_ms ? MTQ_PERF_EWMA_ALPHA * (double)r->run_ms +
                              (1.0 - MTQ_PERF_EWMA_ALPHA) * p->ewma_ms
                        : (double)r->run_ms;
      ms[n_ms++] = r->run_ms;
    }
  }
  p->success_rate = p->n ? (double)p->ok / (double)p->n : 0;
  p->mean_wait_ms = n_wait ? wait_sum / (double)n_wait : 0;
  if (n_ms) {
    qsort(ms, n_ms, sizeof *ms, cmp_ms);
    p->p50_ms = percentile(ms, n_ms, 50);
    p->p95_ms = percentile(ms, n_ms, 95);
    p->max_ms = ms[n_ms - 1];
  }
}

void mtq_perf_compute(const mtq_run_t *runs, size_t n_runs, mtq_perf_by_t by, mtq_perf_t **out,
                      size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  if (n_runs == 0) {
    return;
  }
  const mtq_run_t **order = bson_malloc(n_runs * sizeof *order);
  for (size_t i = 0; i < n_runs; i++) {
    order[i] = &runs[i];
  }
  qsort(order, n_runs, sizeof *order, by == MTQ_PERF_BY_WORKER ? cmp_worker : cmp_worker_func);
  int64_t *ms = bson_malloc(n_runs * sizeof *ms);
  /* At most one entry per record; shrunk to size at the end. */
  mtq_perf_t *perf = bson_malloc(n_runs * sizeof *perf);
  size_t n = 0;
  for (size_t i = 0, j; i < n_runs; i = j) {
    for (j = i + 1; j < n_runs && same_group(order[i], order[j], by); j++) {
    }
    summarize(order + i, j - i, by, ms, &perf[n++]);
  }
  bson_free(ms);
  bson_free(order);
  *out = bson_realloc(perf, n * sizeof *perf);
  *n_out = n;
}

const mtq_perf_t *mtq_perf_find(const mtq_perf_t *perf, size_t n, const char *worker,
                                const char *func) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(perf[i].worker, worker) == 0 && strcmp(perf[i].func, func ? func : "") == 0) {
      return &perf[i];
    }
  }
  return NULL;
}

void mtq_perf_append(const mtq_perf_t *p, bson_t *doc) {
  BSON_APPEND_INT64(doc, "runs", p->n);
  BSON_APPEND_INT64(doc, "ok", p->ok);
  BSON_APPEND_DOUBLE(doc, "success_rate", p->success_rate);
  BSON_APPEND_INT64(doc, "p50_ms", p->p50_ms);
  BSON_APPEND_INT64(doc, "p95_ms", p->p95_ms);
  BSON_APPEND_INT64(doc, "max_ms", p->max_ms);
  BSON_APPEND_DOUBLE(doc, "ewma_ms", p->ewma_ms);
  BSON_APPEND_DOUBLE(doc, "mean_wait_ms", p->mean_wait_ms);
}
