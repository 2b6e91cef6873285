/* bench.c - mtq-bench: measures mtq against a running server.
 *
 *   mtq-bench ceiling --uri U [--n N] [--threads T]
 *   mtq-bench e2e     --uri U --channel C [--n N] [--func F]
 *   mtq-bench latency --uri U --channel C [--n N] [--func F]
 *   mtq-bench poll    --uri U [--backlog N] [--repeat R]
 *
 * Each prints "key=value" lines that bench/run.sh turns into a report.  The
 * workers and coordinator are started by run.sh, not here. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "mtq.h"

int64_t bench_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_quantile(double *v, size_t n, double q) {
  if (n == 0) {
    return 0;
  }
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return v[i];
}

typedef struct {
  const char *uri;
  const char *channel;
  const char *func;
  int n;
  int threads;
  int backlog;
  int repeat;
} opts_t;

static void die(const char *what, const bson_error_t *e) {
  fprintf(stderr, "mtq-bench: %s: %s\n", what, e->message);
  exit(1);
}

/* Enqueues n tasks back to back, then waits for every result. */
static int cmd_e2e(const opts_t *o) {
  bson_error_t e;
  mtq_client_t *c = mtq_client_new(o->uri, &e);
  if (!c) {
    die("connect", &e);
  }
  bson_oid_t *ids = bson_malloc((size_t)o->n * sizeof *ids);
  double *lat = bson_malloc((size_t)o->n * sizeof *lat);
  mtq_enqueue_opts_t eo = {.channel = o->channel, .func = o->func, .args_json = "{}"};
  int64_t t0 = bench_now_us();
  for (int i = 0; i < o->n; i++) {
    if (!mtq_client_enqueue(c, &eo, &ids[i], NULL, &e)) {
      die("enqueue", &e);
    }
  }
  int64_t t_enq = bench_now_us();
  int failed = 0;
  for (int i = 0; i < o->n; i++) {
    mtq_task_t t;
    mtq_task_init(&t);
    if (!mtq_client_wait(c, &ids[i], 600000, &t, &e)) {
      die("wait", &e);
    }
    failed += t.status != MTQ_STATE_DONE;
    lat[i] = (double)(t.claimed_at - t.created_at);
    mtq_task_cleanup(&t);
  }
  int64_t t1 = bench_now_us();
  printf("tasks=%d\nfailed=%d\nenqueue_per_s=%.1f\ntasks_per_s=%.1f\n", o->n, failed,
         o->n / ((double)(t_enq - t0) / 1e6), o->n / ((double)(t1 - t0) / 1e6));
  printf("burst_start_p50_ms=%.0f\nburst_start_p99_ms=%.0f\n", bench_quantile(lat, (size_t)o->n, 0.5),
         bench_quantile(lat, (size_t)o->n, 0.99));
  bson_free(ids);
  bson_free(lat);
  mtq_client_destroy(c);
  return failed ? 1 : 0;
}

/* One task at a time on idle workers: enqueue -> claimed. */
static int cmd_latency(const opts_t *o) {
  bson_error_t e;
  mtq_client_t *c = mtq_client_new(o->uri, &e);
  if (!c) {
    die("connect", &e);
  }
  double *lat = bson_malloc((size_t)o->n * sizeof *lat);
  double *e2e = bson_malloc((size_t)o->n * sizeof *e2e);
  mtq_enqueue_opts_t eo = {.channel = o->channel, .func = o->func, .args_json = "{}"};
  for (int i = 0; i < o->n; i++) {
    bson_oid_t id;
    mtq_task_t t;
    mtq_task_init(&t);
    int64_t t0 = bench_now_us();
    if (!mtq_client_enqueue(c, &eo, &id, NULL, &e) || !mtq_client_wait(c, &id, 60000, &t, &e)) {
      die("latency", &e);
    }
    e2e[i] = (double)(bench_now_us() - t0) / 1000.0;
    lat[i] = (double)(t.claimed_at - t.created_at);
    mtq_task_cleanup(&t);
  }
  printf("start_p50_ms=%.0f\nstart_p99_ms=%.0f\nresult_p50_ms=%.1f\nresult_p99_ms=%.1f\n",
         bench_quantile(lat, (size_t)o->n, 0.5), bench_quantile(lat, (size_t)o->n, 0.99),
         bench_quantile(e2e, (size_t)o->n, 0.5), bench_quantile(e2e, (size_t)o->n, 0.99));
  bson_free(lat);
  bson_free(e2e);
  mtq_client_destroy(c);
  return 0;
}

static int cmd_ceiling(const opts_t *o) {
  double rate = bench_ceiling(o->uri, o->n, o->threads);
  printf("ceiling_threads=%d\nceiling_tasks_per_s=%.1f\n", o->threads, rate);
  return rate > 0 ? 0 : 1;
}

/* Fills a collection with n queued tasks built the way mtq builds them. */
static void fill(mongoc_collection_t *coll, int n) {
  bson_error_t e;
  for (int i = 0; i < n; i += 1000) {
    bson_t *docs[1000];
    int k = 0;
    for (; k < 1000 && i + k < n; k++) {
      mtq_task_t t;
      mtq_task_init(&t);
      mtq_enqueue_opts_t eo = {.channel = "benchpoll", .func = "noop", .args_json = "{\"i\": 1}"};
      if (!mtq_task_build(&t, &eo, mtq_now_ms(), &e)) {
        die("build", &e);
      }
      docs[k] = bson_new();
      mtq_task_to_bson(&t, docs[k]);
      mtq_task_cleanup(&t);
    }
    if (!mongoc_collection_insert_many(coll, (const bson_t **)docs, (size_t)k, NULL, NULL, &e)) {
      die("fill", &e);
    }
    for (int j = 0; j < k; j++) {
      bson_destroy(docs[j]);
    }
  }
}

/* Claims and ends (as done) task t, adding the milliseconds of each to
 * claim_ms[i] and end_ms[i]. */
static bool time_task(mtq_store_t *store, mtq_task_t *t, double *claim_ms, double *end_ms) {
  bson_error_t e;
  bson_t result = BSON_INITIALIZER;
  int64_t a = bench_now_us();
  bool ok = mtq_store_claim(store, t, "bench", 30000, &e);
  int64_t b = bench_now_us();
  ok = ok && mtq_store_finish(store, t, true, &result, NULL, &e);
  *claim_ms = (double)(b - a) / 1000.0;
  *end_ms = (double)(bench_now_us() - b) / 1000.0;
  if (!ok) {
    fprintf(stderr, "mtq-bench: claim or end failed: %s\n", e.message);
  }
  bson_destroy(&result);
  return ok;
}

/* What one task costs once polled, in a lane of a few tasks and in the lane
 * of the whole backlog, interleaved: the claim marks the task's document
 * running and the end deletes it, both found by _id.  n tasks of priority 8
 * (a lane of their own) are enqueued for the comparison. */
static bool claim_and_end(mtq_store_t *store, const mtq_func_ref_t *served, int n) {
  bson_error_t e;
  for (int i = 0; i < n; i++) {
    mtq_enqueue_opts_t eo = {.channel = "benchpoll", .func = "noop", .priority = 8};
    mtq_task_t t;
    mtq_task_init(&t);
    if (!mtq_task_build(&t, &eo, mtq_now_ms(), &e) || !mtq_store_enqueue(store, &t, false, NULL, &e)) {
      die("enqueue", &e);
    }
    mtq_task_cleanup(&t);
  }
  /* Top priority first: the urgent task of cmd_poll (left alone), then the
   * n of priority 8, then n of the backlog's. */
  mtq_task_list_t l;
  mtq_task_list_init(&l);
  if (!mtq_store_poll(store, "benchpoll", served, 1, (size_t)(1 + 2 * n), NULL, "bench", &l,
                      &e)) {
    die("poll", &e);
  }
  bool ok = l.n == (size_t)(1 + 2 * n);
  double *claim_small = bson_malloc0((size_t)n * sizeof(double));
  double *end_small = bson_malloc0((size_t)n * sizeof(double));
  double *claim_big = bson_malloc0((size_t)n * sizeof(double));
  double *end_big = bson_malloc0((size_t)n * sizeof(double));
  for (int i = 0; ok && i < n; i++) {
    ok = time_task(store, &l.items[1 + i], &claim_small[i], &end_small[i]) &&
         time_task(store, &l.items[1 + n + i], &claim_big[i], &end_big[i]);
  }
  if (ok) {
    printf("task_small_lane=%d\nclaim_small_median_ms=%.2f\nend_small_median_ms=%.2f\n"
           "claim_big_median_ms=%.2f\nend_big_median_ms=%.2f\n",
           n, bench_quantile(claim_small, (size_t)n, 0.5), bench_quantile(end_small, (size_t)n, 0.5),
           bench_quantile(claim_big, (size_t)n, 0.5), bench_quantile(end_big, (size_t)n, 0.5));
  }
  bson_free(claim_small);
  bson_free(end_small);
  bson_free(claim_big);
  bson_free(end_big);
  mtq_task_list_cleanup(&l);
  return ok;
}

/* One poll at a large backlog: mtq's lanes against one sorted collection. */
static int cmd_poll(const opts_t *o) {
  bson_error_t e;
  mtq_client_t *c = mtq_client_new(o->uri, &e);
  if (!c) {
    die("connect", &e);
  }
  mtq_store_t *store = mtq_client_store(c);
  if (!mtq_store_declare_channel(store, "benchpoll", 0, &e)) {
    die("declare", &e);
  }
  mongoc_uri_t *uri = mongoc_uri_new(o->uri);
  mongoc_client_t *raw = mongoc_client_new_from_uri(uri);
  const char *db = mtq_store_db_name(store);
  mongoc_collection_t *lane0 = mongoc_client_get_collection(raw, db, "q.benchpoll.p0");
  mongoc_collection_t *naive = mongoc_client_get_collection(raw, db, "naive.benchpoll");
  mongoc_collection_drop(lane0, NULL);
  mongoc_collection_drop(naive, NULL);
  int64_t t0 = bench_now_us();
  fill(lane0, o->backlog);
  fill(naive, o->backlog);
  printf("backlog=%d\nfill_s=%.1f\n", o->backlog, (double)(bench_now_us() - t0) / 2e6);
  /* One urgent task enqueued last: both designs must return it first. */
  mtq_enqueue_opts_t urgent = {.channel = "benchpoll", .func = "noop", .priority = 9};
  mtq_task_t ut;
  mtq_task_init(&ut);
  mtq_task_build(&ut, &urgent, mtq_now_ms(), &e);
  bson_t udoc = BSON_INITIALIZER;
  mtq_task_to_bson(&ut, &udoc);
  mongoc_collection_insert_one(naive, &udoc, NULL, NULL, NULL);
  if (!mtq_store_enqueue(store, &ut, false, NULL, &e)) {
    die("enqueue", &e);
  }
  double *lanes = bson_malloc((size_t)o->repeat * sizeof(double));
  double *sorted = bson_malloc((size_t)o->repeat * sizeof(double));
  bool lanes_first = true, sorted_first = true;
  /* The poll a worker serving noop@1 makes. */
  mtq_func_ref_t served = {.name = "noop", .version = "1"};
  bson_t *filter = BCON_NEW("status", BCON_UTF8("queued"), "is_enable", BCON_BOOL(true));
  bson_t *fopts = BCON_NEW("limit", BCON_INT64(16), "sort", "{", "priority", BCON_INT32(-1),
                           "created_at", BCON_INT32(1), "}");
  /* Interleaved, so both see the same machine load. */
  for (int r = 0; r < o->repeat; r++) {
    mtq_task_list_t l;
    mtq_task_list_init(&l);
    int64_t a = bench_now_us();
    if (!mtq_store_poll(store, "benchpoll", &served, 1, 16, NULL, "bench", &l, &e)) {
      die("poll", &e);
    }
    lanes[r] = (double)(bench_now_us() - a) / 1000.0;
    lanes_first = lanes_first && l.n == 16 && bson_oid_equal(&l.items[0].id, &ut.id);
    mtq_task_list_cleanup(&l);
    a = bench_now_us();
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(naive, filter, fopts, NULL);
    const bson_t *doc;
    bool first = true;
    while (mongoc_cursor_next(cur, &doc)) {
      bson_iter_t it;
      if (first && bson_iter_init_find(&it, doc, "_id")) {
        sorted_first = sorted_first && bson_oid_equal(bson_iter_oid(&it), &ut.id);
      }
      first = false;
    }
    mongoc_cursor_destroy(cur);
    sorted[r] = (double)(bench_now_us() - a) / 1000.0;
  }
  double lm = bench_quantile(lanes, (size_t)o->repeat, 0.5);
  double sm = bench_quantile(sorted, (size_t)o->repeat, 0.5);
  printf("poll_repeat=%d\npoll_lanes_median_ms=%.2f\npoll_sorted_median_ms=%.2f\n"
         "poll_ratio_sorted_over_lanes=%.0f\nlanes_urgent_first=%s\nsorted_urgent_first=%s\n",
         o->repeat, lm, sm, lm > 0 ? sm / lm : 0, lanes_first ? "yes" : "no",
         sorted_first ? "yes" : "no");
  bool ended = claim_and_end(store, &served, o->repeat);
  mongoc_collection_drop(lane0, NULL);
  mongoc_collection_drop(naive, NULL);
  bson_destroy(filter);
  bson_destroy(fopts);
  bson_destroy(&udoc);
  mtq_task_cleanup(&ut);
  bson_free(lanes);
  bson_free(sorted);
  mongoc_collection_destroy(lane0);
  mongoc_collection_destroy(naive);
  mongoc_client_destroy(raw);
  mongoc_uri_destroy(uri);
  mtq_client_destroy(c);
  return lanes_first && sorted_first && ended ? 0 : 1;
}

int main(int argc, char **argv) {
  opts_t o = {.channel = "bench", .func = "noop", .n = 1000, .threads = 1, .backlog = 100000,
              .repeat = 5};
  static const struct option longopts[] = {
      {"uri", required_argument, 0, 'u'},     {"channel", required_argument, 0, 'c'},
      {"func", required_argument, 0, 'f'},    {"n", required_argument, 0, 'n'},
      {"threads", required_argument, 0, 't'}, {"backlog", required_argument, 0, 'b'},
      {"repeat", required_argument, 0, 'r'},  {0, 0, 0, 0}};
  if (argc < 2) {
    fprintf(stderr, "usage: mtq-bench ceiling|e2e|latency|poll --uri URI [options]\n");
    return 2;
  }
  const char *cmd = argv[1];
  optind = 2;
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (ch) {
    case 'u': o.uri = optarg; break;
    case 'c': o.channel = optarg; break;
    case 'f': o.func = optarg; break;
    case 'n': o.n = atoi(optarg); break;
    case 't': o.threads = atoi(optarg); break;
    case 'b': o.backlog = atoi(optarg); break;
    case 'r': o.repeat = atoi(optarg); break;
    default: return 2;
    }
  }
  if (!o.uri || o.n < 1 || o.threads < 1 || o.threads > 64 || o.repeat < 1) {
    fprintf(stderr, "mtq-bench: --uri is required; --n, --threads (<= 64), --repeat >= 1\n");
    return 2;
  }
  mtq_log_init("mtq-bench", MTQ_LOG_WARN);
  /* The ceiling uses the driver directly, not through libmtq's store that
   * routes driver logs; FerretDB's missing endSessions is not news here. */
  mongoc_log_set_handler(NULL, NULL);
  if (strcmp(cmd, "ceiling") == 0) {
    return cmd_ceiling(&o);
  }
  if (strcmp(cmd, "e2e") == 0) {
    return cmd_e2e(&o);
  }
  if (strcmp(cmd, "latency") == 0) {
    return cmd_latency(&o);
  }
  if (strcmp(cmd, "poll") == 0) {
    return cmd_poll(&o);
  }
  fprintf(stderr, "mtq-bench: unknown command '%s'\n", cmd);
  return 2;
}
