/* cache.c - the counts and run figures the pages show, made by a duty
 * every stats_interval_s off the HTTP threads (see web.h): counting tasks
 * scans `results` on FerretDB, and reading `runs` scans its 10,000
 * records, so no request waits for either. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mtq_error.h"
#include "mtq_log.h"
#include "web_private.h"

void mtq__web_cache_init(mtq_web_cache_t *c) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->lock, NULL);
  bson_init(&c->stats);
  bson_init(&c->throughput);
}

void mtq__web_cache_cleanup(mtq_web_cache_t *c) {
  bson_destroy(&c->stats);
  bson_destroy(&c->throughput);
  bson_free(c->perf);
  pthread_mutex_destroy(&c->lock);
}

/* The run records: throughput of the last hour and each worker's figures. */
static bool refresh_runs(mtq_web_t *w, bson_error_t *error) {
  mtq_run_t *runs;
  size_t n;
  if (!mtq_store_runs(w->store, NULL, &runs, &n, error)) {
    return false;
  }
  int64_t now = mtq_now_ms();
  bson_t tp = BSON_INITIALIZER;
  mtq__web_throughput(runs, n, now - MTQ_WEB_THROUGHPUT_MS, &tp);
  mtq_perf_t *perf;
  size_t n_perf;
  mtq_perf_compute(runs, n, MTQ_PERF_BY_WORKER, &perf, &n_perf);
  bson_free(runs);
  mtq_web_cache_t *c = &w->cache;
  pthread_mutex_lock(&c->lock);
  bson_destroy(&c->throughput);
  bson_steal(&c->throughput, &tp);
  bson_free(c->perf);
  c->perf = perf;
  c->n_perf = n_perf;
  c->runs_at_ms = now;
  c->have_runs = true;
  pthread_mutex_unlock(&c->lock);
  return true;
}

bool mtq__web_cache_refresh(mtq_web_t *w, bson_error_t *error) {
  bson_t stats;
  int64_t at = mtq_now_ms();
  if (!mtq_store_stats(w->store, &stats, error)) {
    bson_destroy(&stats);
    return false;
  }
  mtq_web_cache_t *c = &w->cache;
  pthread_mutex_lock(&c->lock);
  bson_destroy(&c->stats);
  bson_steal(&c->stats, &stats);
  c->stats_at_ms = at;
  c->have_stats = true;
  pthread_mutex_unlock(&c->lock);
  bson_error_t rerr;
  if (!refresh_runs(w, &rerr)) {
    /* The counts are still worth serving (mongo-java-server has no capped
     * `runs`, for one). */
    mtq_debug("cannot read run records: %s", rerr.message);
  }
  return true;
}

bool mtq_web_stats_copy(mtq_web_t *w, bson_t *out, int64_t *at_ms) {
  mtq_web_cache_t *c = &w->cache;
  pthread_mutex_lock(&c->lock);
  bool have = c->have_stats;
  if (have) {
    bson_copy_to(&c->stats, out);
    *at_ms = c->stats_at_ms;
  } else {
    bson_init(out);
    *at_ms = 0;
  }
  pthread_mutex_unlock(&c->lock);
  return have;
}

bool mtq__web_append_stats(mtq_web_t *w, bson_t *doc, const char *key, mtq_web_reply_t *r) {
  bson_t stats;
  int64_t at;
  if (!mtq_web_stats_copy(w, &stats, &at)) {
    bson_destroy(&stats);
    /* Only before the duty's first count: make one now. */
    bson_error_t error;
    if (!mtq__web_cache_refresh(w, &error)) {
      mtq__web_store_error(r, &error, "cannot count tasks");
      return false;
    }
    mtq_web_stats_copy(w, &stats, &at);
  }
  bson_t sub;
  if (key) {
    BSON_APPEND_DOCUMENT_BEGIN(doc, key, &sub);
  }
  bson_t *into = key ? &sub : doc;
  BSON_APPEND_DATE_TIME(into, "at", at);
  BSON_APPEND_DOCUMENT(into, "channels", &stats);
  if (key) {
    bson_append_document_end(doc, &sub);
  }
  bson_destroy(&stats);
  return true;
}

void mtq__web_append_throughput(mtq_web_t *w, bson_t *doc, const char *key) {
  mtq_web_cache_t *c = &w->cache;
  bson_iter_t it;
  pthread_mutex_lock(&c->lock);
  if (c->have_runs && bson_iter_init_find(&it, &c->throughput, "throughput")) {
    bson_append_iter(doc, key, -1, &it);
  } else {
    bson_t empty;
    BSON_APPEND_ARRAY_BEGIN(doc, key, &empty);
    bson_append_array_end(doc, &empty);
  }
  pthread_mutex_unlock(&c->lock);
}

/* mtqd's default lost_after_ms: mtq-web does not read [coordinator], so a
 * worker counts as lost when mtqd marked it, or when a running one has
 * not been heard of for this long or five heartbeats, whichever is longer. */
#define LOST_AFTER_MS 15000

bool mtq__web_append_workers(mtq_web_t *w, bson_t *doc, const char *key, mtq_web_reply_t *r) {
  mtq_whoami_list_t workers;
  mtq_whoami_list_init(&workers);
  bson_error_t error;
  if (!mtq_store_workers(w->store, &workers, &error)) {
    mtq_whoami_list_cleanup(&workers);
    mtq__web_store_error(r, &error, "cannot list workers");
    return false;
  }
  int64_t now = mtq_now_ms();
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(doc, key, &arr);
  mtq_web_cache_t *c = &w->cache;
  pthread_mutex_lock(&c->lock);
  for (size_t i = 0; i < workers.n; i++) {
    const mtq_whoami_t *x = &workers.items[i];
    char k[16];
    const char *ks;
    bson_t d;
    bson_uint32_to_string((uint32_t)i, &ks, k, sizeof k);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, ks, &d);
    mtq_whoami_to_bson(x, &d);
    int64_t silent_ms = 5 * x->heartbeat_interval_ms;
    silent_ms = silent_ms > LOST_AFTER_MS ? silent_ms : LOST_AFTER_MS;
    bool lost = x->state == MTQ_WORKER_STATE_LOST ||
                (x->state == MTQ_WORKER_STATE_RUNNING && now - x->last_seen_ms > silent_ms);
    BSON_APPEND_BOOL(&d, "lost", lost);
    const mtq_perf_t *p = mtq_perf_find(c->perf, c->n_perf, x->id, "");
    bson_t perf;
    BSON_APPEND_DOCUMENT_BEGIN(&d, "perf", &perf);
    if (p) {
      mtq_perf_append(p, &perf);
    }
    bson_append_document_end(&d, &perf);
    bson_append_document_end(&arr, &d);
  }
  pthread_mutex_unlock(&c->lock);
  bson_append_array_end(doc, &arr);
  mtq_whoami_list_cleanup(&workers);
  return true;
}

/* --- the duty ------------------------------------------------------------ */

static bool cache_run(mtq_duty_t *d, bson_error_t *error) {
  return mtq__web_cache_refresh(d->data, error);
}

static int64_t cache_next(mtq_duty_t *d) {
  mtq_web_t *w = d->data;
  return d->ok ? w->cfg->stats_interval_s * 1000 : mtq_duty_backoff(d);
}

void mtq__web_cache_start(mtq_web_t *w, uv_loop_t *loop) {
  mtq_duty_init(&w->cache.duty, loop, "stats refresh", NULL, cache_run, cache_next, w);
  w->cache.duty_open = true;
  mtq_duty_arm(&w->cache.duty, 0);
}

void mtq__web_cache_close(mtq_web_t *w) {
  if (w->cache.duty_open) {
    mtq_duty_close(&w->cache.duty);
    w->cache.duty_open = false;
  }
}
