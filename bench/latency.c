/* latency.c - enqueue to start on idle workers: one task at a time, each
 * after a random pause of up to --gap-ms (so that the tasks land at every
 * point of the workers' poll cycle, not just after the poll a finished task
 * triggers), waited for to its end.  Start is the task's claimed_at, its
 * enqueue its created_at (set when it was built, before the insert). */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

int bench_latency(const bench_opts_t *o) {
  mtq_client_t *c = bench_client(o);
  double *start = bson_malloc((size_t)o->n * sizeof *start);
  double *result = bson_malloc((size_t)o->n * sizeof *result);
  mtq_enqueue_opts_t eo = {.channel = o->channel, .func = o->func, .args_json = "{}"};
  unsigned seed = (unsigned)bench_now_us();
  int64_t t0 = bench_now_us();
  size_t n = 0;
  int failed = 0;
  while (n < (size_t)o->n && bench_since_s(t0) < o->max_s) {
    bench_sleep_ms(o->gap_ms > 0 ? rand_r(&seed) % (o->gap_ms + 1) : 0);
    bson_error_t e;
    bson_oid_t id;
    mtq_task_t t;
    mtq_task_init(&t);
    int64_t a = bench_now_us();
    if (!mtq_client_enqueue(c, &eo, &id, NULL, &e) || !mtq_client_wait(c, &id, 60000, &t, &e)) {
      bench_die("latency", &e);
    }
    result[n] = (double)(bench_now_us() - a) / 1000.0;
    start[n] = (double)(t.claimed_at - t.created_at);
    failed += t.status != MTQ_STATE_DONE;
    n++;
    mtq_task_cleanup(&t);
  }
  printf("latency_n=%zu\nlatency_failed=%d\nlatency_gap_ms=%lld\n", n, failed,
         (long long)o->gap_ms);
  printf("start_p50_ms=%.0f\nstart_p99_ms=%.0f\n", bench_quantile(start, n, 0.5),
         bench_quantile(start, n, 0.99));
  printf("start_max_ms=%.0f\n", bench_quantile(start, n, 1.0));
  printf("result_p50_ms=%.1f\nresult_p99_ms=%.1f\n", bench_quantile(result, n, 0.5),
         bench_quantile(result, n, 0.99));
  bson_free(start);
  bson_free(result);
  mtq_client_destroy(c);
  return n > 0 && failed == 0 ? 0 : 1;
}
