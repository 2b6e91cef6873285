/* TEMPORARY SHIM until branch perf merges: not to be committed. */
#ifndef MTQ_PERF_H
#define MTQ_PERF_H
#include "mtq_store.h"
typedef struct {
  char worker[MTQ_NAME_MAX + 1];
  char func[MTQ_NAME_MAX + 1];
  int64_t n, ok;
  double success_rate;
  int64_t p50_ms, p95_ms, max_ms;
  double ewma_ms;
  double mean_wait_ms;
} mtq_perf_t;
bool mtq_store_perf(mtq_store_t *store, const char *func, mtq_perf_t **out, size_t *n, bson_error_t *error);
#endif
