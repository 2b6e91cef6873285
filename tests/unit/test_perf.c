/* test_perf.c - performance figures from run records (common/perf.c):
 * grouping, success rate, percentiles, the moving average's order, waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mtq_perf.h"

static mtq_run_t run(const char *worker, const char *func, mtq_state_t outcome, int64_t run_ms,
                     int64_t wait_ms, int64_t at_ms) {
  mtq_run_t r;
  memset(&r, 0, sizeof r);
  snprintf(r.worker, sizeof r.worker, "%s", worker);
  snprintf(r.func, sizeof r.func, "%s", func);
  r.outcome = outcome;
  r.run_ms = run_ms;
  r.wait_ms = wait_ms;
  r.at_ms = at_ms;
  return r;
}

/* The figures of runs that are all of one worker and function. */
static mtq_perf_t one_group(const mtq_run_t *runs, size_t n_runs) {
  mtq_perf_t *perf;
  size_t n;
  mtq_perf_compute(runs, n_runs, MTQ_PERF_BY_WORKER_FUNC, &perf, &n);
  assert_int_equal(n, 1);
  mtq_perf_t group = perf[0];
  bson_free(perf);
  return group;
}

static void test_perf_empty(void **unused) {
  mtq_perf_t *perf = (mtq_perf_t *)1;
  size_t n = 99;
  mtq_perf_compute(NULL, 0, MTQ_PERF_BY_WORKER_FUNC, &perf, &n);
  assert_null(perf);
  assert_int_equal(n, 0);
  assert_null(mtq_perf_find(perf, n, "w1", "f"));
}

/* Run times 1..100 ms, given in reverse: nearest-rank percentiles. */
static void test_perf_percentiles(void **unused) {
  mtq_run_t runs[100];
  for (int i = 0; i < 100; i++) {
    runs[i] = run("w1", "f", MTQ_STATE_DONE, 100 - i, 0, 1000 + i);
  }
  mtq_perf_t g = one_group(runs, 100);
  assert_int_equal(g.n, 100);
  assert_int_equal(g.ok, 100);
  assert_int_equal(g.p50_ms, 50);
  assert_int_equal(g.p95_ms, 95);
  assert_int_equal(g.max_ms, 100);

  /* Small groups: p50 of 1, 2, 3, 4 is 2; of one value, that value. */
  for (int i = 0; i < 4; i++) {
    runs[i] = run("w1", "f", MTQ_STATE_DONE, i + 1, 0, i);
  }
  g = one_group(runs, 4);
  assert_int_equal(g.p50_ms, 2);
  assert_int_equal(g.p95_ms, 4);
  g = one_group(runs + 2, 1);
  assert_int_equal(g.p50_ms, 3);
  assert_int_equal(g.p95_ms, 3);
  assert_int_equal(g.max_ms, 3);
  assert_true(g.ewma_ms == 3.0);
}

/* Failed attempts count in n but their run time does not: a crash after
 * 1 ms must not make a worker look fast. */
static void test_perf_success_rate(void **unused) {
  mtq_run_t runs[] = {
      run("w1", "f", MTQ_STATE_DONE, 100, 10, 1),      run("w1", "f", MTQ_STATE_DEAD, 1, 10, 2),
      run("w1", "f", MTQ_STATE_DONE, 300, 10, 3),      run("w1", "f", MTQ_STATE_RETRY_WAIT, 2, 50, 4),
      run("w1", "f", MTQ_STATE_QUEUED, 5000, -1, 5),
  };
  mtq_perf_t g = one_group(runs, 5);
  assert_int_equal(g.n, 5);
  assert_int_equal(g.ok, 2);
  assert_true(g.success_rate == 0.4);
  assert_int_equal(g.p50_ms, 100);
  assert_int_equal(g.max_ms, 300);
  /* The unknown wait is left out of the mean: (10 + 10 + 10 + 50) / 4. */
  assert_true(g.mean_wait_ms == 20.0);

  /* Copies cancelled as no longer needed, or tasks suspended by an
   * operator, are neither successes nor failures of the worker. */
  mtq_run_t stopped[] = {
      run("w1", "f", MTQ_STATE_DONE, 100, 10, 1),
      run("w1", "f", MTQ_STATE_CANCELLED, 40, 10, 2),
      run("w1", "f", MTQ_STATE_SUSPENDED, 40, 10, 3),
  };
  g = one_group(stopped, 3);
  assert_int_equal(g.n, 1);
  assert_int_equal(g.ok, 1);
  assert_true(g.success_rate == 1.0);
  assert_true(g.ewma_ms == 100.0);
  g = one_group(stopped + 1, 2);
  assert_int_equal(g.n, 0);
  assert_true(g.success_rate == 0.0);

  /* Nothing done: rate and run times are 0. */
  g = one_group(runs + 1, 1);
  assert_int_equal(g.ok, 0);
  assert_true(g.success_rate == 0.0);
  assert_int_equal(g.p50_ms, 0);
  assert_int_equal(g.max_ms, 0);
  assert_true(g.ewma_ms == 0.0);
}

/* The same run times in two time orders: the newest weighs most, whatever
 * the order of the records in the input. */
static void test_perf_ewma_order(void **unused) {
  mtq_run_t slow_last[] = {
      run("w1", "f", MTQ_STATE_DONE, 1000, 0, 300), /* newest */
      run("w1", "f", MTQ_STATE_DONE, 100, 0, 100),
      run("w1", "f", MTQ_STATE_DONE, 100, 0, 200),
  };
  mtq_run_t slow_first[] = {
      run("w1", "f", MTQ_STATE_DONE, 100, 0, 300),
      run("w1", "f", MTQ_STATE_DONE, 1000, 0, 100), /* oldest */
      run("w1", "f", MTQ_STATE_DONE, 100, 0, 200),
  };
  mtq_perf_t a = one_group(slow_last, 3), b = one_group(slow_first, 3);
  /* 100, 100, 1000: 100 -> 100 -> 0.2*1000 + 0.8*100 = 280. */
  assert_float_equal(a.ewma_ms, 280.0, 1e-9);
  /* 1000, 100, 100: 1000 -> 820 -> 676. */
  assert_float_equal(b.ewma_ms, 676.0, 1e-9);
  /* Percentiles do not care about order. */
  assert_int_equal(a.p50_ms, b.p50_ms);
  assert_int_equal(a.max_ms, b.max_ms);
}

/* 40 workers × 3 functions, records interleaved: 120 entries, sorted by
 * worker then func, each with its own records only. */
static void test_perf_many_workers(void **unused) {
  enum { W = 40, F = 3, R = 5 };
  static mtq_run_t runs[W * F * R];
  size_t k = 0;
  for (int r = 0; r < R; r++) {
    for (int f = 0; f < F; f++) {
      for (int w = W - 1; w >= 0; w--) {
        char worker[16], func[16];
        snprintf(worker, sizeof worker, "w%02d", w);
        snprintf(func, sizeof func, "f%d", f);
        /* Worker w's runs of func f take (w + 1) * 10 + f ms; w's last run
         * of every function fails. */
        runs[k++] = run(worker, func, r == R - 1 ? MTQ_STATE_DEAD : MTQ_STATE_DONE,
                        (w + 1) * 10 + f, w, 1000 * r + w);
      }
    }
  }
  mtq_perf_t *perf;
  size_t n;
  mtq_perf_compute(runs, k, MTQ_PERF_BY_WORKER_FUNC, &perf, &n);
  assert_int_equal(n, W * F);
  for (size_t i = 0; i < n; i++) {
    char worker[16], func[16];
    snprintf(worker, sizeof worker, "w%02d", (int)(i / F));
    snprintf(func, sizeof func, "f%d", (int)(i % F));
    assert_string_equal(perf[i].worker, worker);
    assert_string_equal(perf[i].func, func);
    assert_int_equal(perf[i].n, R);
    assert_int_equal(perf[i].ok, R - 1);
    assert_int_equal(perf[i].p50_ms, (int64_t)(i / F + 1) * 10 + (int64_t)(i % F));
    assert_true(perf[i].mean_wait_ms == (double)(i / F));
  }
  const mtq_perf_t *p = mtq_perf_find(perf, n, "w17", "f2");
  assert_non_null(p);
  assert_int_equal(p->max_ms, 182);
  assert_null(mtq_perf_find(perf, n, "w17", "f3"));
  assert_null(mtq_perf_find(perf, n, "w40", "f0"));
  bson_free(perf);

  /* Per worker, over every function. */
  mtq_perf_compute(runs, k, MTQ_PERF_BY_WORKER, &perf, &n);
  assert_int_equal(n, W);
  p = mtq_perf_find(perf, n, "w05", "");
  assert_non_null(p);
  assert_string_equal(p->func, "");
  assert_int_equal(p->n, F * R);
  assert_int_equal(p->ok, F * (R - 1));
  assert_int_equal(p->max_ms, 62);
  assert_float_equal(p->success_rate, 0.8, 1e-12);
  bson_free(perf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_perf_empty),
      cmocka_unit_test(test_perf_percentiles),
      cmocka_unit_test(test_perf_success_rate),
      cmocka_unit_test(test_perf_ewma_order),
      cmocka_unit_test(test_perf_many_workers),
  };
  return cmocka_run_group_tests_name("perf", tests, NULL, NULL);
}
