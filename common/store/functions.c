/* functions.c - the function registry: the `functions` collection, one
 * document per function version and worker (mtq_function.h). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "store_private.h"

#define FUNCTIONS "functions"

static bool add_record(void *ctx, const bson_t *doc) {
  mtq_function_record_list_t *out = ctx;
  mtq_function_record_t *r = mtq_function_record_list_push(out);
  if (!mtq_function_record_from_bson(r, doc)) {
    mtq_debug("skipping a functions document without a valid name, version, worker or state");
    mtq_function_record_cleanup(r);
    out->n--;
  }
  return true;
}

bool mtq_store_function_records(mtq_store_t *store, const char *worker,
                                mtq_function_record_list_t *out, bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FUNCTIONS);
  bson_t filter = BSON_INITIALIZER;
  if (worker) {
    BSON_APPEND_UTF8(&filter, "worker", worker);
  }
  bool ok = mtq__each_doc(coll, &filter, NULL, add_record, out, error);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_function_record_put(mtq_store_t *store, const mtq_function_record_t *r,
                                   bson_error_t *error) {
  bson_t doc = BSON_INITIALIZER;
  mtq_function_record_to_bson(r, &doc);
  char id[MTQ_FUNCTION_ID_MAX];
  mtq_function_record_id(r->name, r->version, r->worker, id, sizeof id);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FUNCTIONS);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
  bool ok = mongoc_collection_replace_one(coll, filter, &doc, opts, NULL, error);
  bson_destroy(opts);
  bson_destroy(filter);
  bson_destroy(&doc);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_function_record_delete(mtq_store_t *store, const char *name, const char *version,
                                      const char *worker, bson_error_t *error) {
  char id[MTQ_FUNCTION_ID_MAX];
  mtq_function_record_id(name, version, worker, id, sizeof id);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, FUNCTIONS);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bool ok = mongoc_collection_delete_one(coll, filter, NULL, NULL, error);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_functions(mtq_store_t *store, bson_t *out, bson_error_t *error) {
  bson_init(out);
  mtq_function_record_list_t records;
  mtq_function_record_list_init(&records);
  mtq_whoami_list_t workers;
  mtq_whoami_list_init(&workers);
  bool ok = mtq_store_function_records(store, NULL, &records, error) &&
            mtq_store_workers(store, &workers, error);
  if (ok) {
    mtq_function_registry(&records, &workers, out);
  }
  mtq_whoami_list_cleanup(&workers);
  mtq_function_record_list_cleanup(&records);
  return ok;
}

bool mtq_store_functions_prune(mtq_store_t *store, int64_t before_ms, size_t *removed,
                               bson_error_t *error) {
  mtq_function_record_list_t records;
  mtq_function_record_list_init(&records);
  mtq_whoami_list_t workers;
  mtq_whoami_list_init(&workers);
  bool ok = mtq_store_function_records(store, NULL, &records, error) &&
            mtq_store_workers(store, &workers, error);
  bson_t ids = BSON_INITIALIZER;
  uint32_t n = 0;
  for (size_t i = 0; ok && i < records.n; i++) {
    const mtq_function_record_t *r = &records.items[i];
    const mtq_whoami_t *w = mtq_whoami_list_find(&workers, r->worker);
    if (w && w->last_seen_ms >= before_ms) {
      continue;
    }
    char id[MTQ_FUNCTION_ID_MAX], key[16];
    const char *k;
    mtq_function_record_id(r->name, r->version, r->worker, id, sizeof id);
    bson_uint32_to_string(n++, &k, key, sizeof key);
    BSON_APPEND_UTF8(&ids, k, id);
  }
  size_t gone = 0;
  if (ok && n) {
    mongoc_client_t *client = mtq__store_pop(store);
    ok = mtq__delete_in(store, client, FUNCTIONS, "_id", &ids, &gone, error);
    mtq__store_push(store, client);
  }
  if (removed) {
    *removed = gone;
  }
  bson_destroy(&ids);
  mtq_whoami_list_cleanup(&workers);
  mtq_function_record_list_cleanup(&records);
  return ok;
}
