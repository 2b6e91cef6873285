/* metrics.h - GET /metrics of mtq-web: Prometheus' text exposition format
 * 0.0.4 of what mtq's processes published (README "Metrics").
 *
 * Two parts, so that the formatting can be tested without a database:
 * gather reads the whoami documents (workers, their host figures, lost or
 * not) and the metrics collection (each process's counters, the retention
 * counts) and takes this process's own database statistics; render is
 * pure and writes the text.  mtq_web_metrics does both.
 *
 *   bson_string_t *out = bson_string_new(NULL);
 *   if (mtq_web_metrics(store, stats, stats_at_ms, out, &error)) serve out->str
 *   bson_string_free(out, true);
 *
 * stats is what mtq_store_stats builds ({channel: {state: n}}), which the
 * web daemon caches; NULL leaves out the task counts (mtq_tasks,
 * mtq_tasks_enqueued_total). */
#ifndef MTQ_WEB_METRICS_H
#define MTQ_WEB_METRICS_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtq_store.h"
#include "mtq_whoami.h"

/* What render reads. */
typedef struct {
  mtq_whoami_list_t workers; /* every whoami document */
  bson_t metrics;            /* {"metrics": [...]} as mtq_store_metrics_read gives it */
  bson_t self_db;            /* this process's mtq_store_db_stats */
  char self_name[MTQ_HOST_MAX + 1]; /* its label value (web="..."): the host name */
  int64_t now_ms;            /* when it was gathered */
} mtq_web_metrics_input_t;

/* Empty input (no workers, no documents, self_name ""); cleanup frees it. */
void mtq_web_metrics_input_init(mtq_web_metrics_input_t *in);
void mtq_web_metrics_input_cleanup(mtq_web_metrics_input_t *in);

/* Fills in (initialised by the caller; what it held is replaced) from the
 * store (borrowed): two reads of small collections.  False with *error
 * when the database cannot be read. */
bool mtq_web_metrics_gather(mtq_store_t *store, mtq_web_metrics_input_t *in,
                            bson_error_t *error);

/* Appends the exposition of in (borrowed), and of stats (borrowed, may be
 * NULL) counted at stats_at_ms, to out.  Documents, series and labels read
 * from the database that are not well formed (names, label values that are
 * not UTF-8, histograms whose counts do not match their bounds) are left
 * out, never rendered broken. */
void mtq_web_metrics_render(const mtq_web_metrics_input_t *in, const bson_t *stats,
                            int64_t stats_at_ms, bson_string_t *out);

/* gather, then render into out; false with *error (out untouched) when the
 * database cannot be read. */
bool mtq_web_metrics(mtq_store_t *store, const bson_t *stats, int64_t stats_at_ms,
                     bson_string_t *out, bson_error_t *error);

#endif
