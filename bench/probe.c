/* probe.c - what a claim and an end cost at the channel's present backlog,
 * with no worker running: the calls a worker makes (mtq_store_poll,
 * mtq_store_claim_many, mtq_store_end_many), first on one task at a time
 * (--repeat times), then on --batch tasks at a time (--repeat times, per
 * task), medians.  It stops early at --max-s, after at least one single
 * round, and says how many rounds it did. */
#include <stdio.h>

#include "bench.h"

typedef struct {
  double poll_ms, claim_ms, end_ms;
} round_t;

/* Polls k tasks, claims and ends them as done.  False when the channel
 * gave fewer than k or a call failed. */
static bool one_round(mtq_store_t *store, const char *channel, size_t k, round_t *r) {
  static const mtq_func_ref_t served = {.name = "noop", .version = "1"};
  bson_error_t e;
  mtq_task_list_t l;
  mtq_task_list_init(&l);
  int64_t a = bench_now_us();
  bool ok = mtq_store_poll(store, channel, &served, 1, k, NULL, "bench-probe", &l, &e);
  int64_t b = bench_now_us();
  if (!ok || l.n < k) {
    fprintf(stderr, "mtq-bench: probe poll: %s\n", ok ? "too few tasks" : e.message);
    mtq_task_list_cleanup(&l);
    return false;
  }
  bool *claimed = bson_malloc0(k * sizeof *claimed);
  size_t won = mtq_store_claim_many(store, l.items, k, "bench-probe", 30000, claimed, NULL);
  int64_t c = bench_now_us();
  mtq_end_t *ends = bson_malloc0(k * sizeof *ends);
  size_t m = 0;
  for (size_t i = 0; i < k; i++) {
    if (claimed[i]) {
      ends[m++] = (mtq_end_t){.task = &l.items[i], .kind = MTQ_END_FINISH, .ok = true};
    }
  }
  size_t recorded = mtq_store_end_many(store, ends, m);
  int64_t d = bench_now_us();
  r->poll_ms = (double)(b - a) / 1000.0;
  r->claim_ms = (double)(c - b) / 1000.0 / (double)k;
  r->end_ms = (double)(d - c) / 1000.0 / (double)k;
  if (won < k || recorded < m) {
    fprintf(stderr, "mtq-bench: probe: claimed %zu of %zu, ended %zu\n", won, k, recorded);
  }
  bson_free(ends);
  bson_free(claimed);
  mtq_task_list_cleanup(&l);
  return won == k && recorded == m;
}

/* Rounds of k tasks, --repeat at most, while the budget lasts; medians
 * printed under prefix. */
static size_t rounds(mtq_store_t *store, const bench_opts_t *o, size_t k, int64_t t0,
                     const char *prefix) {
  size_t n = (size_t)o->repeat, done = 0;
  double *p = bson_malloc0(n * sizeof *p), *cl = bson_malloc0(n * sizeof *cl),
         *en = bson_malloc0(n * sizeof *en);
  while (done < n && ((k == 1 && done == 0) || bench_since_s(t0) < o->max_s)) {
    round_t r;
    if (!one_round(store, o->channel, k, &r)) {
      break;
    }
    p[done] = r.poll_ms;
    cl[done] = r.claim_ms;
    en[done] = r.end_ms;
    done++;
  }
  printf("%s_rounds=%zu\n%s_tasks=%zu\n%s_poll_ms=%.2f\n%s_claim_ms=%.2f\n%s_end_ms=%.2f\n",
         prefix, done, prefix, k, prefix, bench_quantile(p, done, 0.5), prefix,
         bench_quantile(cl, done, 0.5), prefix, bench_quantile(en, done, 0.5));
  bson_free(p);
  bson_free(cl);
  bson_free(en);
  return done;
}

int bench_probe(const bench_opts_t *o) {
  mtq_client_t *c = bench_client(o);
  mtq_store_t *store = mtq_client_store(c);
  printf("probe_backlog=%lld\n", (long long)bench_backlog(store, o->channel));
  int64_t t0 = bench_now_us();
  size_t one = rounds(store, o, 1, t0, "probe_one");
  if (o->batch > 1) {
    rounds(store, o, (size_t)o->batch, t0, "probe_batch");
  }
  printf("probe_s=%.1f\n", bench_since_s(t0));
  mtq_client_destroy(c);
  return one > 0 ? 0 : 1;
}
