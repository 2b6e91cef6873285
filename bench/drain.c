/* drain.c - how fast the workers started by run.sh empty a channel.
 *
 * What is read is the number of tasks ended: the documents in `results`,
 * where every attempt that ends a task writes its outcome (README), counted
 * by the server from its own figures ($collStats): one query, whatever the
 * backlog.  The backlog itself (mtq_store_backlog) is counted once per
 * segment, which at a million queued is thousands of queries: read every
 * few seconds, it took most of the database's time and slowed down what it
 * measured.  The database holds one channel (run.sh).
 *
 * It is read every --interval-ms, or less often when a read is slow, so
 * that the reads take at most a tenth of the database's time.  The window
 * opens at the first read that shows a task ended (so the workers' start-up
 * is not counted) and closes when --expect tasks have ended (the channel
 * is empty), when --max-tasks have ended in the window, or after --max-s;
 * the rate is what ended between those two reads over the time between
 * them, each read timed at its midpoint.  A window that never opens
 * (nothing ended within --max-s of the first read) reports rate 0. */
#include <stdio.h>

#include "bench.h"

typedef struct {
  int64_t n; /* tasks ended */
  double at_s; /* midpoint of the read, from the first read's start */
  double cost_ms;
} reading_t;

/* The documents of results; 0 before the collection exists. */
static int64_t count_results(mongoc_collection_t *results) {
  bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$collStats", "{", "count", "{", "}", "}",
                              "}", "]");
  mongoc_cursor_t *cur =
      mongoc_collection_aggregate(results, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
  const bson_t *doc;
  bson_iter_t it;
  int64_t n = 0;
  if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "count") &&
      BSON_ITER_HOLDS_NUMBER(&it)) {
    n = bson_iter_as_int64(&it);
  }
  bson_error_t e;
  if (mongoc_cursor_error(cur, &e) && e.code != 26 /* NamespaceNotFound */) {
    /* A server without $collStats (mongo-java-server) keeps the figure in
     * the collection's metadata. */
    n = mongoc_collection_estimated_document_count(results, NULL, NULL, NULL, &e);
    if (n < 0) {
      bench_die("counting results", &e);
    }
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(pipeline);
  return n;
}

static reading_t read_ended(mongoc_collection_t *results, int64_t t0) {
  int64_t a = bench_now_us();
  reading_t r = {.n = count_results(results)};
  int64_t b = bench_now_us();
  r.at_s = (double)((a + b) / 2 - t0) / 1e6;
  r.cost_ms = (double)(b - a) / 1000.0;
  return r;
}

int bench_drain(const bench_opts_t *o) {
  int64_t expect = o->expect;
  if (expect < 0) {
    mtq_client_t *c = bench_client(o);
    expect = bench_backlog(mtq_client_store(c), o->channel);
    mtq_client_destroy(c);
  }
  mongoc_uri_t *uri;
  const char *db;
  mongoc_client_t *client = bench_connect_raw(o, &uri, &db);
  if (!client) {
    return 2;
  }
  mongoc_collection_t *results = mongoc_client_get_collection(client, db, "results");
  int64_t t0 = bench_now_us();
  size_t cap = 64, nr = 0;
  double *costs = bson_malloc(cap * sizeof *costs);
  reading_t first = read_ended(results, t0), prev = first, open = first, last = first;
  bool opened = false;
  costs[nr++] = first.cost_ms;
  while (last.n - first.n < expect) {
    double limit_s = opened ? open.at_s + o->max_s : first.at_s + o->max_s;
    if (last.at_s >= limit_s || (opened && last.n - open.n >= o->max_tasks)) {
      break;
    }
    int64_t pause_ms = (int64_t)(last.cost_ms * 9);
    bench_sleep_ms(pause_ms > o->interval_ms ? pause_ms : o->interval_ms);
    prev = last;
    last = read_ended(results, t0);
    if (nr == cap) {
      cap *= 2;
      costs = bson_realloc(costs, cap * sizeof *costs);
    }
    costs[nr++] = last.cost_ms;
    if (!opened && last.n > prev.n) {
      opened = true;
      open = last;
    }
  }
  double secs = opened ? last.at_s - open.at_s : 0;
  int64_t ended = opened ? last.n - open.n : 0;
  printf("drain_expect=%lld\ndrain_ended_first=%lld\ndrain_ended_open=%lld\n"
         "drain_ended_close=%lld\ndrain_startup_s=%.2f\ndrain_tasks=%lld\ndrain_s=%.2f\n"
         "drain_per_s=%.1f\ndrain_emptied=%s\ndrain_reads=%zu\ndrain_read_median_ms=%.1f\n",
         (long long)expect, (long long)first.n, (long long)open.n, (long long)last.n,
         opened ? open.at_s - first.at_s : -1.0, (long long)ended, secs,
         secs > 0 ? (double)ended / secs : 0, last.n - first.n >= expect ? "yes" : "no", nr,
         bench_quantile(costs, nr, 0.5));
  bson_free(costs);
  mongoc_collection_destroy(results);
  mongoc_client_destroy(client);
  mongoc_uri_destroy(uri);
  return 0;
}
