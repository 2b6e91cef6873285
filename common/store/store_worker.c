/* store_worker.c - the whoami collection: one document per worker. */
#include <string.h>
#include "mtq_error.h"
#include "store_private.h"

bool mtq_store_heartbeat(mtq_store_t *store, const bson_t *whoami, bson_error_t *error) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, whoami, "_id")) {
    mtq_error_set(error, MTQ_ERR_INVALID, "whoami document has no _id");
    return false;
  }
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "whoami");
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_VALUE(&filter, "_id", bson_iter_value(&it));
  bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
  bool ok = mongoc_collection_replace_one(coll, &filter, whoami, opts, NULL, error);
  bson_destroy(opts);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_mark_worker(mtq_store_t *store, const char *worker_id, const char *state,
                           bson_error_t *error) {
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "whoami");
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(worker_id));
  bson_t *upd = BCON_NEW("$set", "{", "state", BCON_UTF8(state), "}");
  bool ok = mongoc_collection_update_one(coll, filter, upd, NULL, NULL, error);
  bson_destroy(upd);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

bool mtq_store_workers(mtq_store_t *store, bson_t *out, bson_error_t *error) {
  bson_init(out);
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "whoami");
  bson_t filter = BSON_INITIALIZER, arr;
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  BSON_APPEND_ARRAY_BEGIN(out, "workers", &arr);
  const bson_t *doc;
  char key[16];
  const char *k;
  uint32_t i = 0;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_uint32_to_string(i++, &k, key, sizeof key);
    BSON_APPEND_DOCUMENT(&arr, k, doc);
  }
  bson_append_array_end(out, &arr);
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  return ok;
}

/* True when an array of names in doc (key) holds name. */
static bool array_has(const bson_t *doc, const char *key, const char *name) {
  bson_iter_t it, sub;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &sub)) {
    return false;
  }
  while (bson_iter_next(&sub)) {
    if (BSON_ITER_HOLDS_UTF8(&sub) && strcmp(bson_iter_utf8(&sub, NULL), name) == 0) {
      return true;
    }
  }
  return false;
}

/* True when doc's functions array holds {name: func, version: version}. */
static bool serves(const bson_t *doc, const char *func, const char *version) {
  bson_iter_t it, arr, fn;
  if (!bson_iter_init_find(&it, doc, "functions") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &arr)) {
    return false;
  }
  while (bson_iter_next(&arr)) {
    bool name_ok = false, version_ok = version == NULL;
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &fn)) {
      continue;
    }
    while (bson_iter_next(&fn)) {
      if (!BSON_ITER_HOLDS_UTF8(&fn)) {
        continue;
      }
      const char *v = bson_iter_utf8(&fn, NULL);
      if (strcmp(bson_iter_key(&fn), "name") == 0) {
        name_ok = strcmp(v, func) == 0;
      } else if (version && strcmp(bson_iter_key(&fn), "version") == 0) {
        version_ok = strcmp(v, version) == 0;
      }
    }
    if (name_ok && version_ok) {
      return true;
    }
  }
  return false;
}

bool mtq_store_function_served(mtq_store_t *store, const char *channel, const char *func,
                               const char *version, bool *served, bson_error_t *error) {
  bson_t all;
  *served = false;
  if (!mtq_store_workers(store, &all, error)) {
    bson_destroy(&all);
    return false;
  }
  bson_iter_t it, arr;
  if (bson_iter_init_find(&it, &all, "workers") && bson_iter_recurse(&it, &arr)) {
    while (!*served && bson_iter_next(&arr)) {
      uint32_t len;
      const uint8_t *data;
      bson_t w;
      if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) {
        continue;
      }
      bson_iter_document(&arr, &len, &data);
      if (bson_init_static(&w, data, len)) {
        *served = array_has(&w, "channels", channel) && serves(&w, func, version);
      }
    }
  }
  bson_destroy(&all);
  return true;
}
