/* drain.c - how fast the workers started by run.sh empty a channel.
 *
 * The channel's backlog (mtq_store_backlog: its tasks not yet ended) is
 * read every --interval-ms, or less often when a read is slow, so that the
 * reads take at most a tenth of the database's time.  The window opens at the first read that shows
 * it fell (so the workers' start-up is not counted) and closes when the
 * channel is empty, when --max-tasks have ended in it, or after --max-s;
 * the rate is what ended between those two reads over the time between
 * them, each read timed at its midpoint.  A window that never opens
 * (nothing ended within --max-s of the first read) reports rate 0. */
#include <stdio.h>

#include "bench.h"

typedef struct {
  int64_t n;
  double at_s; /* midpoint of the read, from the first read's start */
  double cost_ms;
} reading_t;

static reading_t read_backlog(mtq_store_t *store, const char *channel, int64_t t0) {
  int64_t a = bench_now_us();
  reading_t r = {.n = bench_backlog(store, channel)};
  int64_t b = bench_now_us();
  r.at_s = (double)((a + b) / 2 - t0) / 1e6;
  r.cost_ms = (double)(b - a) / 1000.0;
  return r;
}

int bench_drain(const bench_opts_t *o) {
  mtq_client_t *c = bench_client(o);
  mtq_store_t *store = mtq_client_store(c);
  int64_t t0 = bench_now_us();
  size_t cap = 64, nr = 0;
  double *costs = bson_malloc(cap * sizeof *costs);
  reading_t first = read_backlog(store, o->channel, t0), prev = first, open = first, last = first;
  bool opened = false;
  costs[nr++] = first.cost_ms;
  while (last.n > 0) {
    double limit_s = opened ? open.at_s + o->max_s : first.at_s + o->max_s;
    if (last.at_s >= limit_s || (opened && open.n - last.n >= o->max_tasks)) {
      break;
    }
    /* Reads that cost more than a tenth of the time would slow down what
     * they measure (a count goes over every collection of the channel). */
    int64_t pause_ms = (int64_t)(last.cost_ms * 9);
    bench_sleep_ms(pause_ms > o->interval_ms ? pause_ms : o->interval_ms);
    prev = last;
    last = read_backlog(store, o->channel, t0);
    if (nr == cap) {
      cap *= 2;
      costs = bson_realloc(costs, cap * sizeof *costs);
    }
    costs[nr++] = last.cost_ms;
    if (!opened && last.n < prev.n) {
      opened = true;
      open = last;
    }
  }
  double secs = opened ? last.at_s - open.at_s : 0;
  int64_t ended = opened ? open.n - last.n : 0;
  printf("drain_backlog_first=%lld\ndrain_backlog_open=%lld\ndrain_backlog_close=%lld\n"
         "drain_startup_s=%.2f\ndrain_tasks=%lld\ndrain_s=%.2f\ndrain_per_s=%.1f\n"
         "drain_emptied=%s\ndrain_reads=%zu\ndrain_read_median_ms=%.1f\n",
         (long long)first.n, (long long)open.n, (long long)last.n,
         opened ? open.at_s - first.at_s : -1.0, (long long)ended, secs,
         secs > 0 ? (double)ended / secs : 0, last.n == 0 ? "yes" : "no", nr,
         bench_quantile(costs, nr, 0.5));
  bson_free(costs);
  mtq_client_destroy(c);
  return 0;
}
