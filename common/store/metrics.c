/* metrics.c - the metrics collection (schemas/metrics.schema.json).
 *
 * It holds one document per long-lived process, _id "<kind>:<name>"
 * (worker:m1, coordinator:db1), rewritten by that process every
 * metrics_interval_ms, and one document per channel, _id
 * "retention:<channel>", counting the finished tasks mtqd's retention
 * removed from it.  The collection stays small (processes plus channels),
 * so a read of all of it, and writes by _id, which FerretDB's SQLite
 * backend serves by a scan, cost little. */
#include <stdio.h>
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "store_private.h"

bool mtq_store_metrics_put(mtq_store_t *store, const bson_t *doc, bson_error_t *error) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "a metrics document needs a string _id");
    return false;
  }
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_UTF8(&filter, "_id", bson_iter_utf8(&it, NULL));
  bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "metrics");
  bool ok = mongoc_collection_replace_one(coll, &filter, doc, opts, NULL, error);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  bson_destroy(opts);
  bson_destroy(&filter);
  return ok;
}

bool mtq_store_metrics_read(mtq_store_t *store, bson_t *out, bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER;
  bool ok = mtq__find_into(store, "metrics", &filter, NULL, "metrics", out, error);
  bson_destroy(&filter);
  return ok;
}

/* Collects the _id of every process document written before before_ms. */
typedef struct {
  int64_t before_ms;
  bson_t ids;
  uint32_t n;
} stale_t;

static bool note_stale(void *ctx, const bson_t *doc) {
  stale_t *s = ctx;
  bson_iter_t it;
  const char *kind = bson_iter_init_find(&it, doc, "kind") && BSON_ITER_HOLDS_UTF8(&it)
                         ? bson_iter_utf8(&it, NULL)
                         : "";
  if (strcmp(kind, "worker") != 0 && strcmp(kind, "coordinator") != 0) {
    return true;
  }
  if (!bson_iter_init_find(&it, doc, "at") || !BSON_ITER_HOLDS_DATE_TIME(&it) ||
      bson_iter_date_time(&it) >= s->before_ms) {
    return true;
  }
  if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
    char idx[16];
    const char *k;
    bson_uint32_to_string(s->n++, &k, idx, sizeof idx);
    BSON_APPEND_UTF8(&s->ids, k, bson_iter_utf8(&it, NULL));
  }
  return true;
}

bool mtq_store_metrics_prune(mtq_store_t *store, int64_t before_ms, size_t *removed,
                             bson_error_t *error) {
  stale_t s = {before_ms, BSON_INITIALIZER, 0};
  bson_t filter = BSON_INITIALIZER;
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "kind", BCON_INT32(1), "at",
                          BCON_INT32(1), "}");
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "metrics");
  bool ok = mtq__each_doc(coll, &filter, opts, note_stale, &s, error);
  size_t n = 0;
  if (ok && s.n) {
    ok = mtq__delete_in(store, client, "metrics", "_id", &s.ids, &n, error);
  }
  if (removed) {
    *removed = n;
  }
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  bson_destroy(opts);
  bson_destroy(&filter);
  bson_destroy(&s.ids);
  return ok;
}

void mtq__metrics_removed(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                          int64_t n) {
  if (n <= 0 || !channel || !*channel) {
    return;
  }
  char id[MTQ_NAME_MAX + 16];
  snprintf(id, sizeof id, "retention:%s", channel);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = BCON_NEW("$inc", "{", "removed", BCON_INT64(n), "}", "$set", "{", "kind",
                            BCON_UTF8("retention"), "channel", BCON_UTF8(channel), "at",
                            BCON_DATE_TIME(mtq_now_ms()), "}");
  bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
  mongoc_collection_t *coll = mtq__coll(store, client, "metrics");
  bson_error_t err;
  if (!mongoc_collection_update_one(coll, filter, update, opts, NULL, &err)) {
    mtq_warn("cannot count %lld task%s removed from channel %s in metrics: %s", (long long)n,
             n == 1 ? "" : "s", channel, err.message);
  }
  mongoc_collection_destroy(coll);
  bson_destroy(opts);
  bson_destroy(update);
  bson_destroy(filter);
}
