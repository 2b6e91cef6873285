#include "mtq_perf.h"
bool mtq_store_perf(mtq_store_t *store, const char *func, mtq_perf_t **out, size_t *n, bson_error_t *error) {
  (void)store; (void)func; (void)error; *out = NULL; *n = 0; return true; }
