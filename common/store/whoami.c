/* store_worker.c - the whoami collection: one document per worker
 * (mtq_whoami.h). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "store_private.h"

bool mtq_store_heartbeat(mtq_store_t *store, const mtq_whoami_t *whoami, bson_error_t *error) {
  if (!mtq_name_valid(whoami->id)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid worker id", whoami->id);
    return false;
  }
  bson_t doc = BSON_INITIALIZER;
  mtq_whoami_to_bson(whoami, &doc);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "whoami");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(whoami->id));
  bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
  bool ok = mongoc_collection_replace_one(coll, filter, &doc, opts, NULL, error);
  bson_destroy(opts);
  bson_destroy(filter);
  bson_destroy(&doc);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_mark_worker(mtq_store_t *store, const char *worker_id, mtq_worker_state_t state,
                           bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "whoami");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(worker_id));
  bson_t *upd = BCON_NEW("$set", "{", "state", BCON_UTF8(mtq_worker_state_name(state)), "}");
  bool ok = mongoc_collection_update_one(coll, filter, upd, NULL, NULL, error);
  bson_destroy(upd);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_workers(mtq_store_t *store, mtq_whoami_list_t *out, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "whoami");
  bson_t filter = BSON_INITIALIZER;
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    mtq_whoami_t *w = mtq_whoami_list_push(out);
    if (!mtq_whoami_from_bson(w, doc)) {
      mtq_debug("skipping a whoami document without a valid worker id as _id");
      mtq_whoami_cleanup(w);
      out->n--;
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  if (ok) {
    /* An enqueue reads every worker to check the function is served: the
     * wake-up that follows needs no read of its own. */
    mtq__wake_learn(store, out);
  }
  return ok;
}

bool mtq_store_function_served(mtq_store_t *store, const char *channel, const char *func,
                               const char *version, bool *served, bson_error_t *error) {
  mtq_whoami_list_t all;
  mtq_whoami_list_init(&all);
  *served = false;
  bool ok = mtq_store_workers(store, &all, error);
  for (size_t i = 0; ok && !*served && i < all.n; i++) {
    *served = mtq_whoami_has_channel(&all.items[i], channel) &&
              mtq_whoami_serves(&all.items[i], func, version);
  }
  mtq_whoami_list_cleanup(&all);
  return ok;
}
