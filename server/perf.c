/* perf.c - what the dispatcher knows of how each worker runs each function:
 * the run records (mtq_store_perf), read at most every perf_refresh_ms, and the
 * figures placement and hedging ask for. */
#include <string.h>

#include "coordinator_private.h"
#include "mtq_perf.h"

/* The run records change slowly, and reading them is a whole-collection
 * scan on FerretDB (up to MTQ_RUNS_MAX records, about half a second): a
 * dispatch pass every 500 ms reuses what was read up to perf_refresh_ms
 * (default 10 s) ago. */
bool mtq__dispatch_perf_load(mtq_coordinator_t *co, bson_error_t *error) {
  int64_t now = (int64_t)(uv_hrtime() / 1000000u);
  if (co->perf_loaded_ms && now - co->perf_loaded_ms < co->cfg->perf_refresh_ms) {
    return true;
  }
  mtq_perf_t *perf = NULL;
  size_t n = 0;
  if (!mtq_store_perf(co->store, NULL, &perf, &n, error)) {
    mtq__error_prefix(error, "reading run records");
    return false;
  }
  bson_free(co->perf);
  co->perf = perf;
  co->n_perf = n;
  co->perf_loaded_ms = now;
  return true;
}

static const mtq_perf_t *entry(const mtq_coordinator_t *co, const char *worker,
                               const char *func) {
  for (size_t i = 0; i < co->n_perf; i++) {
    const mtq_perf_t *p = &co->perf[i];
    if (strcmp(p->worker, worker) == 0 && strcmp(p->func, func) == 0) {
      return p;
    }
  }
  return NULL;
}

void mtq__dispatch_perf(const mtq_coordinator_t *co, const char *worker, const char *func,
                        double *run_ms, double *rate) {
  const mtq_perf_t *p = entry(co, worker, func);
  if (p && p->n > 0) {
    /* Laplace's rule: two runs, one failed, is not yet a 50% worker. */
    *rate = ((double)p->ok + 1.0) / ((double)p->n + 2.0);
  }
  if (p && p->ok > 0) {
    *run_ms = p->ewma_ms > 1.0 ? p->ewma_ms : 1.0;
    return;
  }
  /* Never ran it here: assume the mean of the workers that did, so that a
   * new worker is tried but not preferred over a proven fast one. */
  double sum = 0;
  size_t k = 0;
  for (size_t i = 0; i < co->n_perf; i++) {
    if (strcmp(co->perf[i].func, func) == 0 && co->perf[i].ok > 0) {
      sum += co->perf[i].ewma_ms;
      k++;
    }
  }
  if (k) {
    *run_ms = sum / (double)k;
  }
}

bool mtq__dispatch_p95(const mtq_coordinator_t *co, const char *func, double *p95_ms) {
  /* The largest p95 over the workers: a hedge is for an outlier, not for
   * the slower of two normal machines. */
  int64_t runs = 0;
  double best = 0;
  for (size_t i = 0; i < co->n_perf; i++) {
    if (strcmp(co->perf[i].func, func) == 0 && co->perf[i].ok > 0) {
      runs += co->perf[i].ok;
      if ((double)co->perf[i].p95_ms > best) {
        best = (double)co->perf[i].p95_ms;
      }
    }
  }
  if (runs < 5) {
    return false; /* too few runs to say what is slow */
  }
  *p95_ms = best;
  return true;
}
