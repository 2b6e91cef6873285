/* bulk.c - many inserts in one command, each succeeding or failing on its
 * own (see store_private.h, mtq__insert_many). */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "store_private.h"

/* A command carries at most this many documents: FerretDB handles a large
 * insert as one SQLite transaction, and a smaller one lets other clients in
 * between. */
#define INSERT_CHUNK 1000

static bool insert_chunk(mongoc_collection_t *coll, const bson_t *const *docs, size_t n,
                         bool *inserted, bson_error_t *errors, bson_error_t *error) {
  bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
  mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
  for (size_t i = 0; i < n; i++) {
    mongoc_bulk_operation_insert(bulk, docs[i]);
    inserted[i] = true;
  }
  bson_t reply;
  bson_error_t err;
  uint32_t server = mongoc_bulk_operation_execute(bulk, &reply, &err);
  bool ok = true;
  bson_iter_t it, arr;
  /* The driver's reply always has a writeErrors array, empty when the
   * command failed as a whole (no server, a lost connection): only entries
   * in it say that the other documents went in. */
  bool per_doc = false;
  if (bson_iter_init_find(&it, &reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
      bson_iter_recurse(&it, &arr)) {
    bson_iter_t probe = arr;
    per_doc = bson_iter_next(&probe);
  }
  if (per_doc) {
    /* {index, code, errmsg} for each document that failed on its own. */
    while (bson_iter_next(&arr)) {
      bson_iter_t e;
      if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &e)) {
        continue;
      }
      int64_t index = -1, code = 0;
      const char *msg = "write error";
      while (bson_iter_next(&e)) {
        const char *k = bson_iter_key(&e);
        if (strcmp(k, "index") == 0 && BSON_ITER_HOLDS_NUMBER(&e)) {
          index = bson_iter_as_int64(&e);
        } else if (strcmp(k, "code") == 0 && BSON_ITER_HOLDS_NUMBER(&e)) {
          code = bson_iter_as_int64(&e);
        } else if (strcmp(k, "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&e)) {
          msg = bson_iter_utf8(&e, NULL);
        }
      }
      if (index >= 0 && (size_t)index < n) {
        inserted[index] = false;
        if (errors) {
          bson_set_error(&errors[index], MONGOC_ERROR_SERVER, (uint32_t)code, "%s", msg);
        }
      }
    }
  }
  if (!server && !per_doc) {
    /* The command itself failed (no server, a timeout): nothing is known
     * to be in, and a retry inserts what is missing. */
    for (size_t i = 0; i < n; i++) {
      inserted[i] = false;
      if (errors) {
        errors[i] = err;
      }
    }
    if (error) {
      *error = err;
    }
    ok = false;
  }
  bson_destroy(&reply);
  mongoc_bulk_operation_destroy(bulk);
  bson_destroy(opts);
  return ok;
}

bool mtq__insert_many(mongoc_collection_t *coll, const bson_t *const *docs, size_t n,
                      bool *inserted, bson_error_t *errors, bson_error_t *error) {
  bool ok = true;
  for (size_t i = 0; i < n; i += INSERT_CHUNK) {
    size_t m = n - i < INSERT_CHUNK ? n - i : INSERT_CHUNK;
    if (!insert_chunk(coll, docs + i, m, inserted + i, errors ? errors + i : NULL, error)) {
      ok = false;
    }
  }
  return ok;
}


void mtq__insert_records(mongoc_collection_t *coll, const bson_t *const *docs, size_t n,
                         const char *what) {
  if (n == 0) {
    return;
  }
  bool *in = bson_malloc0(n);
  bson_error_t *errs = bson_malloc0(n * sizeof *errs);
  bson_error_t err;
  mtq__insert_many(coll, docs, n, in, errs, &err);
  for (size_t i = 0; i < n; i++) {
    if (!in[i] && !mtq_error_is_duplicate(&errs[i])) {
      bson_iter_t it;
      bson_iter_init_find(&it, docs[i], "_id");
      mtq_warn("cannot record %s %s: %s", what,
               BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "?", errs[i].message);
    }
  }
  bson_free(errs);
  bson_free(in);
}

/* FerretDB keeps every statement of an update or delete command open until
 * the command ends (msg_update.go); a long one ties up its connection
 * pool, so the statements go in commands of at most this many. */
#define WRITE_CHUNK 50

bool mtq__write_many_by_id(mtq_store_t *store, mongoc_client_t *client, mongoc_collection_t *coll,
                           const bson_oid_t *const *ids, const int64_t *tokens,
                           const bson_t *const *updates, size_t n, bson_error_t *error) {
  bool ferret = mtq__server_kind(store, client, NULL) == MTQ__SERVER_FERRETDB;
  bool ok = true;
  for (size_t i = 0; ok && i < n; i += WRITE_CHUNK) {
    size_t m = n - i < WRITE_CHUNK ? n - i : WRITE_CHUNK;
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
    for (size_t k = i; k < i + m; k++) {
      bson_t filter = BSON_INITIALIZER;
      BSON_APPEND_OID(&filter, "_id", ids[k]);
      if (!ferret) {
        mtq__token_filter(&filter, tokens[k]);
      }
      if (updates) {
        mongoc_bulk_operation_update_one_with_opts(bulk, &filter, updates[k], NULL, NULL);
      } else {
        mongoc_bulk_operation_remove_one_with_opts(bulk, &filter, NULL, NULL);
      }
      bson_destroy(&filter);
    }
    bson_t reply;
    ok = mongoc_bulk_operation_execute(bulk, &reply, error) != 0;
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(opts);
  }
  return ok;
}
