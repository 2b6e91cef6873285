/* api_ops.c - what monitoring and the registry page read: GET /metrics
 * (Prometheus' text format, rendered by metrics.c from the stats cache, the
 * whoami and metrics documents and this process's own database figures) and
 * GET /api/v1/functions (the function registry, common/store/functions.c). */
#include <string.h>

#include "metrics.h"
#include "mtq_store_admin.h"
#include "web_private.h"

void mtq__web_metrics(mtq_web_req_t *q, mtq_web_reply_t *r) {
  bson_t stats;
  int64_t at_ms;
  /* Before the cache's first count the task gauges are left out rather
   * than counted here: a scrape must stay cheap, whatever `results` holds. */
  bool have = mtq_web_stats_copy(q->w, &stats, &at_ms);
  bson_string_t *out = bson_string_new(NULL);
  bson_error_t error;
  if (mtq_web_metrics(q->w->store, have ? &stats : NULL, at_ms, out, &error)) {
    r->text = bson_string_free(out, false);
    r->text_type = "text/plain; version=0.0.4; charset=utf-8";
  } else {
    bson_string_free(out, true);
    mtq__web_store_error(r, &error, "cannot read the metrics");
  }
  bson_destroy(&stats);
}

void mtq__web_functions(mtq_web_req_t *q, mtq_web_reply_t *r) {
  bson_t list;
  bson_error_t error;
  if (!mtq_store_functions(q->w->store, &list, &error)) {
    mtq__web_store_error(r, &error, "cannot read the function registry");
  } else {
    bson_concat(&r->body, &list);
  }
  bson_destroy(&list);
}
