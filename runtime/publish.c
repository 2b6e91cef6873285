/* publish.c - a daemon's metrics document, every interval_ms (publish.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mtq_log.h"
#include "publish.h"

void mtq_publisher_doc(mtq_publisher_t *p, int64_t now_ms, bson_t *doc) {
  BSON_APPEND_UTF8(doc, "_id", p->id);
  BSON_APPEND_UTF8(doc, "kind", p->kind);
  BSON_APPEND_UTF8(doc, "name", p->name);
  BSON_APPEND_UTF8(doc, "host", p->host);
  BSON_APPEND_INT32(doc, "pid", p->pid);
  BSON_APPEND_DATE_TIME(doc, "at", now_ms);
  BSON_APPEND_DATE_TIME(doc, "started_at", p->started_at_ms);
  BSON_APPEND_INT64(doc, "interval_ms", p->interval_ms);
  mtq_metrics_to_bson(p->metrics, doc);
  bson_t db;
  BSON_APPEND_DOCUMENT_BEGIN(doc, "db", &db);
  mtq_store_db_stats(p->store, &db);
  bson_append_document_end(doc, &db);
}

static bool publish_run(mtq_duty_t *d, bson_error_t *error) {
  mtq_publisher_t *p = d->data;
  bson_t doc = BSON_INITIALIZER;
  mtq_publisher_doc(p, mtq_now_ms(), &doc);
  bool ok = mtq_store_metrics_put(p->store, &doc, error);
  bson_destroy(&doc);
  if (p->also) {
    p->also(p, p->also_data);
  }
  return ok;
}

/* Every interval_ms, start to start; after a failure a whole interval from
 * now (the failure's time was mostly the wait for the server). */
static int64_t publish_next(mtq_duty_t *d) {
  mtq_publisher_t *p = d->data;
  return d->ok && d->took_ms < p->interval_ms ? p->interval_ms - d->took_ms : p->interval_ms;
}

void mtq_publisher_init(mtq_publisher_t *p, uv_loop_t *loop, mtq_store_t *store,
                        const char *kind, const char *name, int64_t started_at_ms,
                        int64_t interval_ms) {
  memset(p, 0, sizeof *p);
  p->store = store;
  p->metrics = mtq_metrics_new();
  bson_strncpy(p->kind, kind, sizeof p->kind);
  bson_strncpy(p->name, name, sizeof p->name);
  snprintf(p->id, sizeof p->id, "%s:%s", kind, name);
  if (gethostname(p->host, sizeof p->host - 1) != 0) {
    bson_strncpy(p->host, "unknown", sizeof p->host);
  }
  p->pid = (int32_t)getpid();
  p->started_at_ms = started_at_ms;
  p->interval_ms = interval_ms > 0 ? interval_ms : MTQ_METRICS_INTERVAL_MS;
  mtq_duty_init(&p->duty, loop, "metrics", NULL, publish_run, publish_next, p);
}

void mtq_publisher_start(mtq_publisher_t *p) { mtq_duty_arm(&p->duty, 0); }

bool mtq_publisher_in_flight(const mtq_publisher_t *p) { return mtq_duty_in_flight(&p->duty); }

void mtq_publisher_close(mtq_publisher_t *p) { mtq_duty_close(&p->duty); }

void mtq_publisher_destroy(mtq_publisher_t *p) {
  mtq_metrics_destroy(p->metrics);
  p->metrics = NULL;
}
