/* fill.c - puts tasks into a channel through mtq_client_enqueue_many, the
 * way a bulk producer does: `fill` tops a channel up to a backlog, `enqueue`
 * measures how fast one producer adds n tasks.  Both stop at --max-s, so a
 * slow store gives a partial fill that says so rather than a stuck bench. */
#include <stdio.h>

#include "bench.h"

/* Enqueues up to n no-op tasks in calls of batch, for at most max_s
 * seconds; the time of the enqueue calls alone goes to *secs, refusals to
 * *refused.  Returns how many went in. */
static int64_t enqueue_for(mtq_client_t *c, const bench_opts_t *o, int64_t n, double *secs,
                           int64_t *refused) {
  size_t batch = (size_t)o->batch;
  mtq_enqueue_opts_t *eo = bson_malloc0(batch * sizeof *eo);
  mtq_enqueue_result_t *res = bson_malloc0(batch * sizeof *res);
  for (size_t i = 0; i < batch; i++) {
    eo[i] = (mtq_enqueue_opts_t){.channel = o->channel, .func = o->func, .args_json = "{}"};
  }
  int64_t in = 0, t0 = bench_now_us();
  *refused = 0;
  while (in + *refused < n && bench_since_s(t0) < o->max_s) {
    size_t k = (size_t)(n - in - *refused) < batch ? (size_t)(n - in - *refused) : batch;
    size_t got = mtq_client_enqueue_many(c, eo, k, res);
    in += (int64_t)got;
    *refused += (int64_t)(k - got);
    if (got < k) {
      for (size_t i = 0; i < k; i++) {
        if (!res[i].ok) {
          fprintf(stderr, "mtq-bench: enqueue refused: %s\n", res[i].error.message);
          break;
        }
      }
      if (got == 0) {
        break; /* the database is gone or the channel full: retrying would spin */
      }
    }
  }
  *secs = bench_since_s(t0);
  bson_free(res);
  bson_free(eo);
  return in;
}

static void declare(mtq_client_t *c, const char *channel) {
  bson_error_t e;
  if (!mtq_store_declare_channel(mtq_client_store(c), channel, 0, &e)) {
    bench_die("declare channel", &e);
  }
}

int bench_fill(const bench_opts_t *o) {
  mtq_client_t *c = bench_client(o);
  declare(c, o->channel);
  mtq_store_t *store = mtq_client_store(c);
  int64_t before = bench_backlog(store, o->channel);
  int64_t want = o->to > before ? o->to - before : 0, refused = 0;
  double secs = 0;
  int64_t added = want > 0 ? enqueue_for(c, o, want, &secs, &refused) : 0;
  int64_t after = bench_backlog(store, o->channel);
  printf("fill_target=%lld\nfill_before=%lld\nfill_added=%lld\nfill_refused=%lld\n"
         "fill_backlog=%lld\nfill_s=%.1f\nfill_per_s=%.1f\nfill_complete=%s\n",
         (long long)o->to, (long long)before, (long long)added, (long long)refused,
         (long long)after, secs, secs > 0 ? (double)added / secs : 0,
         after >= o->to ? "yes" : "no");
  mtq_client_destroy(c);
  return 0;
}

int bench_enqueue(const bench_opts_t *o) {
  mtq_client_t *c = bench_client(o);
  declare(c, o->channel);
  int64_t refused = 0;
  double secs = 0;
  int64_t added = enqueue_for(c, o, o->n, &secs, &refused);
  printf("enqueue_n=%lld\nenqueue_batch=%lld\nenqueue_added=%lld\nenqueue_refused=%lld\n"
         "enqueue_s=%.2f\nenqueue_per_s=%.1f\nenqueue_complete=%s\n",
         (long long)o->n, (long long)o->batch, (long long)added, (long long)refused, secs,
         secs > 0 ? (double)added / secs : 0, added == o->n ? "yes" : "no");
  mtq_client_destroy(c);
  return added > 0 ? 0 : 1;
}
